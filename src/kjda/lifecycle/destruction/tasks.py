"""Background work of destruction: executing a signed and witnessed batch item by item."""

from __future__ import annotations

from django_tasks import task

from kjda.lifecycle.destruction.services import destruction_run


@task()
def destruction_run_task(batch_id: int) -> dict[str, str]:
    """Run (or resume) the batch's destruction; safe to run again after a crash."""
    batch = destruction_run(batch_id=batch_id)
    return {"number": batch.number, "state": batch.state}
