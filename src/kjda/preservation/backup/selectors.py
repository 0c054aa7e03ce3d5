"""Backup status: the last good backup, its age, whether it is overdue (KJDA_BACKUP_MAX_AGE_HOURS)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from .models import BackupRun


@dataclass(frozen=True)
class BackupStatus:
    last_ok: BackupRun | None
    last_run: BackupRun | None  # may be a failure newer than last_ok
    age_hours: float | None
    max_age_hours: float

    @property
    def overdue(self) -> bool:
        return self.age_hours is None or self.age_hours > self.max_age_hours

    @property
    def last_failed(self) -> bool:
        return self.last_run is not None and not self.last_run.ok and self.last_run.finished_at \
            is not None

    def as_dict(self) -> dict[str, object]:
        ok = self.last_ok
        return {"last_success": ok.finished_at.isoformat() if ok and ok.finished_at else None,
                "set": ok.set_id if ok else None, "dest": ok.dest if ok else None,
                "size_bytes": ok.total_bytes if ok else None,
                "age_hours": round(self.age_hours, 1) if self.age_hours is not None else None,
                "max_age_hours": self.max_age_hours, "overdue": self.overdue,
                "last_failed": self.last_failed}


def backup_status() -> BackupStatus:
    """System-wide facts (no records are read): for the dashboard, Art.8 and the alarm."""
    last_ok = BackupRun.objects.filter(ok=True).order_by("-finished_at").first()
    last_run = BackupRun.objects.order_by("-started_at").first()
    age = None
    if last_ok is not None and last_ok.finished_at is not None:
        age = (timezone.now() - last_ok.finished_at).total_seconds() / 3600
    return BackupStatus(last_ok, last_run, age, float(settings.KJDA_BACKUP_MAX_AGE_HOURS))
