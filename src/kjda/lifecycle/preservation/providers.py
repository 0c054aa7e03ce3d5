"""The dashboard alarm: damaged or missing copies the audit could not repair, and a replica
falling behind, for the archivists and the system administrator."""

from __future__ import annotations

from datetime import datetime, timedelta

from kjda.accounts.roles import Role
from kjda.accounts.selectors import actor_roles
from kjda.lifecycle.preservation.selectors import fixity_open_failures
from kjda.lifecycle.preservation.services import STATUS_URL
from kjda.lifecycle.todos import Actor, Todo
from kjda.storage.services import replica_lag

ALARM_ROLES = frozenset({Role.ARCHIVIST, Role.SYSADMIN})
REPLICA_LAG_ALARM = timedelta(hours=1)


def fixity_todos(actor: Actor) -> list[Todo]:
    roles = actor_roles(actor)
    if not roles & ALARM_ROLES:
        return []
    todos = []
    failures = fixity_open_failures()
    if failures:
        since = min(f.verified_at for f in failures)
        todos.append(Todo("preservation",
                          f"长期保存检测：{len(failures)} 个文件损坏或缺失，未能从副本修复 / "
                          f"fixity audit: {len(failures)} files damaged or missing, not repaired",
                          STATUS_URL, since))
    if Role.SYSADMIN in roles:
        lag = replica_lag()
        if lag["configured"] and lag["lag_seconds"] > REPLICA_LAG_ALARM.total_seconds():
            oldest = datetime.fromisoformat(lag["oldest_queued_at"])
            todos.append(Todo("preservation",
                              f"副本滞后：{lag['pending']} 个文件未复制（{lag['failing']} 个失败） / "
                              f"replica behind: {lag['pending']} blobs not copied "
                              f"({lag['failing']} failing)", STATUS_URL, oldest))
    return todos
