"""Background work of the hand-over: the YJ checks of a large batch, and the daily look at
temporary custody running out."""

from __future__ import annotations

from django_tasks import task

from kjda.lifecycle.transfers.services import custody_overdue_notify, transfer_checks_task

__all__ = ["custody_overdue_task", "transfer_checks_task"]


@task()
def custody_overdue_task() -> int:
    """Daily: to-dos for the years whose temporary custody has run out (Art.11)."""
    return len(custody_overdue_notify())
