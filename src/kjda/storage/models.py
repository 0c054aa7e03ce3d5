from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

_hex64 = RegexValidator(r"^[0-9a-f]{64}$", "64 个小写十六进制字符 / 64 lower-case hex digits")


class Blob(models.Model):
    """One stored byte string, named by its SHA-256; the store is write-once."""

    sha256 = models.CharField(max_length=64, primary_key=True, validators=[_hex64])
    sm3 = models.CharField(max_length=64, validators=[_hex64])  # recorded, not looked up
    size = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the bytes were removed on purpose by a destruction (79号令 Art.18): the row stays
    # as the tombstone of the digests, and fixity/orphan checks know the absence is intended.
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "文件对象"
        verbose_name_plural = "文件对象"

    def __str__(self) -> str:
        return f"{self.sha256} ({self.size} B)"


class FixityOutcome(models.TextChoices):
    OK = "ok", "完好"
    MISMATCH = "mismatch", "摘要不符"
    MISSING = "missing", "缺失"
    REPAIRED = "repaired", "已从副本修复"


class BlobFixity(models.Model):
    """The last fixity check of one blob (issue 19): the audit takes the oldest-checked first."""

    blob = models.OneToOneField(Blob, on_delete=models.CASCADE, primary_key=True,
                                related_name="fixity")
    verified_at = models.DateTimeField(db_index=True)
    outcome = models.CharField(max_length=16, choices=FixityOutcome.choices)
    # The replica's copy, when a replica is configured ("" when none was checked).
    replica_outcome = models.CharField(max_length=16, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = "文件对象检测"
        verbose_name_plural = "文件对象检测"

    def __str__(self) -> str:
        return f"{self.blob_id}: {self.outcome} at {self.verified_at:%Y-%m-%d %H:%M}"


class FixityRun(models.Model):
    """One run of the fixity audit: its report."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    mode = models.CharField(max_length=16)  # "due", "all", "sample"
    blobs_checked = models.IntegerField(default=0)
    bytes_checked = models.BigIntegerField(default=0)
    mismatches = models.IntegerField(default=0)
    missing = models.IntegerField(default=0)
    orphans = models.IntegerField(default=0)
    repaired = models.IntegerField(default=0)
    replica_mismatches = models.IntegerField(default=0)
    replica_missing = models.IntegerField(default=0)
    findings = models.JSONField(default=list, blank=True)  # [{sha256, outcome, found, …}]

    class Meta:
        verbose_name = "长期保存检测"
        verbose_name_plural = "长期保存检测"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"fixity run {self.pk} ({self.mode}) at {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def failed(self) -> bool:
        """Damage left unrepaired: primary copies bad or missing, or replica copies bad."""
        return (self.mismatches + self.missing - self.repaired
                + self.replica_mismatches + self.replica_missing) > 0


class ReplicaPending(models.Model):
    """Outbox of blobs still to copy to the replica (KJDA_REPLICA_URL): durable and retried."""

    blob = models.OneToOneField(Blob, on_delete=models.CASCADE, primary_key=True,
                                related_name="+")
    queued_at = models.DateTimeField(db_index=True)
    attempts = models.IntegerField(default=0)
    next_try_at = models.DateTimeField(db_index=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        verbose_name = "待复制文件对象"
        verbose_name_plural = "待复制文件对象"

    def __str__(self) -> str:
        return f"{self.blob_id} → replica (attempt {self.attempts})"
