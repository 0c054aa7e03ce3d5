"""Background work of the hand-over: the YJ checks of a large batch, and the daily look at
temporary custody running out."""

from __future__ import annotations

from django_tasks import task

from kjda.lifecycle.transfers.services import custody_overdue_notify, transfer_checks_run


@task()
def transfer_checks_task(batch_id: int) -> int:
    """Check the batch's unchecked items (resumable: a rerun picks up where one stopped)."""
    return transfer_checks_run(batch_id=batch_id)


@task()
def custody_overdue_task() -> int:
    """Daily: to-dos for the years whose temporary custody has run out (Art.11)."""
    return len(custody_overdue_notify())
