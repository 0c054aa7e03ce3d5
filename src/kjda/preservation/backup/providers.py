"""The overdue backup as a to-do of the system administrators (dashboard)."""

from __future__ import annotations

from kjda.accounts.roles import Role
from kjda.accounts.selectors import actor_roles
from kjda.lifecycle.todos import Actor, Todo

from .selectors import backup_status


def overdue_title(status_dict: dict[str, object]) -> str:
    if status_dict["last_success"] is None:
        return "尚无成功的备份：请运行 kjda backup DEST / no backup yet: run kjda backup DEST"
    return (f"备份已逾期（上次成功 {status_dict['age_hours']} 小时前，上限 "
            f"{status_dict['max_age_hours']:g} 小时） / backup overdue: last success "
            f"{status_dict['age_hours']} h ago (limit {status_dict['max_age_hours']:g} h)")


def backup_todos(actor: Actor) -> list[Todo]:
    if Role.SYSADMIN not in actor_roles(actor):
        return []
    status = backup_status()
    if not status.overdue:
        return []
    since = status.last_ok.finished_at if status.last_ok else None
    return [Todo("backup", overdue_title(status.as_dict()), "/system/preservation/", since)]
