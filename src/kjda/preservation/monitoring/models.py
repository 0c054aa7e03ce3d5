from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class AlarmKind(models.TextChoices):
    LOW_DISK = "low_disk", "磁盘空间不足 / low free space"
    STORE_UNREACHABLE = "store_unreachable", "存储不可用 / store unreachable"
    REPLICA_UNREACHABLE = "replica_unreachable", "副本存储不可用 / replica unreachable"
    SLOW_RESPONSES = "slow_responses", "响应缓慢 / slow responses"
    FAILED_JOBS = "failed_jobs", "后台任务失败 / failed jobs"
    ACCESS_REFUSALS = "access_refusals", "多次拒绝访问 / repeated access refusals"
    FIXITY_DAMAGE = "fixity_damage", "文件损坏未修复 / fixity damage"
    BACKUP_OVERDUE = "backup_overdue", "备份逾期 / backup overdue"


# The archivists look after the stored files: they hear about these too and see them.
STORAGE_KINDS = frozenset({AlarmKind.LOW_DISK, AlarmKind.STORE_UNREACHABLE,
                           AlarmKind.REPLICA_UNREACHABLE, AlarmKind.FIXITY_DAMAGE})


class Severity(models.TextChoices):
    CRITICAL = "critical", "严重 / critical"
    WARNING = "warning", "警告 / warning"


class Alarm(models.Model):
    """One alarm: raised by a probe or a job, open until acknowledged. While unacknowledged,
    the same condition (kind + subject) updates this row (last seen, times seen); after the
    acknowledgement a recurrence opens a new alarm. `cleared_at`: the condition went away
    (the alarm still waits for its acknowledgement)."""

    kind = models.CharField(max_length=32, choices=AlarmKind.choices)
    subject = models.CharField(max_length=255)  # what it is about: a path, a store, a user, …
    key = models.CharField(max_length=300)  # kind:subject, the dedupe key
    severity = models.CharField(max_length=10, choices=Severity.choices,
                                default=Severity.WARNING)
    title_zh = models.CharField(max_length=300)
    title_en = models.CharField(max_length=300)
    detail_zh = models.TextField(blank=True)
    detail_en = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)  # the figures behind the detail
    first_raised_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    times_seen = models.PositiveIntegerField(default=1)
    cleared_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True, db_index=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                        on_delete=models.PROTECT, related_name="+")
    ack_note = models.TextField(blank=True)

    class Meta:
        verbose_name = "告警"
        verbose_name_plural = "告警"
        ordering = ["-last_seen_at"]
        constraints = [
            # At most one open alarm per condition: concurrent raisers meet here.
            models.UniqueConstraint(fields=["key"], condition=Q(acknowledged_at__isnull=True),
                                    name="monitoring_alarm_one_open_per_key"),
        ]
        indexes = [models.Index(fields=["kind", "acknowledged_at"], name="monitoring_kind_ack")]

    def __str__(self) -> str:
        return f"{self.key} ({'open' if self.acknowledged_at is None else 'acknowledged'})"

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None

    def title(self, lang: str = "zh") -> str:
        return self.title_en if lang.startswith("en") else self.title_zh

    def detail(self, lang: str = "zh") -> str:
        return self.detail_en if lang.startswith("en") else self.detail_zh
