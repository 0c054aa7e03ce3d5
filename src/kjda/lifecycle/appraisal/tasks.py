"""The daily expiry scan as a background task (kjda.lifecycle.daily enqueues it once a day;
`expiry_scan` is idempotent per day)."""

from __future__ import annotations

from django_tasks import task

from kjda.lifecycle.appraisal.services import expiry_scan


@task()
def expiry_scan_task() -> dict:
    scans = expiry_scan()
    return {s.fonds.code: [s.records_expired, s.volumes_expired] for s in scans}
