"""The daily overdue-backup check (kjda.lifecycle.daily enqueues it once a day)."""

from __future__ import annotations

from django_tasks import task

from .services import backup_overdue_check


@task()
def backup_overdue_task() -> dict:
    return {"notices": backup_overdue_check()}
