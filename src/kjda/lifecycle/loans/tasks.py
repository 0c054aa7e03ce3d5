"""The loans' daily jobs: the reminder a day before a loan ends, and its expiry."""

from __future__ import annotations

from django_tasks import task

from kjda.lifecycle.loans.services import loans_expire, loans_remind

__all__ = ["loans_expire_task", "loans_remind_task"]


@task()
def loans_expire_task() -> int:
    """Daily: end the loans whose period has ended (their grants already ended at read time)."""
    return len(loans_expire())


@task()
def loans_remind_task() -> int:
    """Daily: remind the borrowers whose loans end tomorrow."""
    return len(loans_remind())
