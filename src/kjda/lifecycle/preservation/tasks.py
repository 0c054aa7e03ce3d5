"""The daily fixity audit, run by the task workers (kjda.lifecycle.daily enqueues it)."""

from __future__ import annotations

from django_tasks import task

from kjda.lifecycle.preservation.services import fixity_check


@task()
def fixity_check_task() -> dict:
    run = fixity_check(mode="due")
    return {"run": run.pk, "failed": run.failed}
