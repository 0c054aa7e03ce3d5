"""Background work of the hand-over: the YJ checks of a large batch, and the daily look at
temporary custody running out."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_tasks import task

from kjda.lifecycle.transfers.models import TransferBatch, TransferState
from kjda.lifecycle.transfers.services import (
    custody_overdue_notify,
    transfer_checks_run,
    transfer_checks_task,
)

__all__ = ["custody_overdue_task", "transfer_checks_resume_task", "transfer_checks_task"]


@task()
def custody_overdue_task() -> int:
    """Daily: to-dos for the years whose temporary custody has run out (Art.11)."""
    return len(custody_overdue_notify())


@task()
def transfer_checks_resume_task() -> int:
    """Daily: finish the checks of batches submitted over an hour ago whose checking stopped
    (a worker killed mid-batch); each run continues from the first unchecked item."""
    since = timezone.now() - timedelta(hours=1)
    done = 0
    for pk in TransferBatch.objects.filter(state=TransferState.SUBMITTED,
                                           submitted_at__lt=since).values_list("pk", flat=True):
        done += transfer_checks_run(batch_id=pk)
    return done
