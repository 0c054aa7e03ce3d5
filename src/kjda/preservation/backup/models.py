from __future__ import annotations

from django.db import models


class BackupRun(models.Model):
    """One `kjda backup` run: the status the dashboard, the Art.8 page and the overdue alarm
    read (last success, size, age, destination)."""

    class Kind(models.TextChoices):
        FULL = "full", "完整 / full"
        INCREMENTAL = "incremental", "增量 / incremental"

    set_id = models.CharField(max_length=64, blank=True)
    dest = models.CharField(max_length=1000)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.FULL)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    # Bytes this run wrote (database dump + new blobs), and the bytes the set needs in all.
    written_bytes = models.BigIntegerField(default=0)
    total_bytes = models.BigIntegerField(default=0)
    blob_count = models.IntegerField(default=0)
    new_blob_count = models.IntegerField(default=0)

    class Meta:
        verbose_name = "备份记录"
        verbose_name_plural = "备份记录"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.set_id or '-'} {self.kind} {'ok' if self.ok else 'failed'}"
