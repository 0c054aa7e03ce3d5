"""The format registry (one row a format), the migration runs, and each file's migration outcome
(what makes the job idempotent, resumable, and stops it retrying a file forever)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from kjda.db.unicode_json import UnicodeJSONEncoder
from kjda.lifecycle.formatwatch.registry import CONVERTIBLE, TARGETS


class FormatCategory(models.TextChoices):
    PREFERRED = "preferred", "长期保存格式"
    ACCEPTABLE = "acceptable", "可接受格式"
    RISK = "risk", "风险格式"


class FormatEntry(models.Model):
    """One format: its PRONOM id (or `kjda/<name>`), what it is, and the archivist's judgement."""

    format_id = models.CharField("格式标识", max_length=40, unique=True)  # PUID or kjda/…
    name = models.CharField("格式名称", max_length=100)
    format_name = models.CharField("识别名", max_length=30)  # kjda.formats' name
    mime = models.CharField(max_length=100, blank=True)
    version = models.CharField("版本", max_length=20, blank=True)
    category = models.CharField("类别", max_length=12, choices=FormatCategory.choices)
    at_risk = models.BooleanField("风险标记", default=False)
    risk_reason = models.TextField("风险原因", blank=True)
    flagged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    flagged_at = models.DateTimeField("标记时间", null=True, blank=True)
    target_format = models.CharField("迁移目标格式", max_length=40, default="fmt/477")
    note = models.CharField("说明", max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category", "format_name", "format_id"]
        verbose_name = "格式登记"
        verbose_name_plural = "格式登记"

    def __str__(self) -> str:
        return f"{self.format_id} {self.name}"

    @property
    def has_converter(self) -> bool:
        return self.format_name in CONVERTIBLE

    @property
    def target_name(self) -> str:
        return TARGETS.get(self.target_format, self.target_format)


class RunState(models.TextChoices):
    RUNNING = "running", "进行中"
    DONE = "done", "已完成"
    STOPPED = "stopped", "已停止（取消风险标记）"
    NO_CONVERTER = "no_converter", "无可用转换工具"


class MigrationRun(models.Model):
    """One run of the migration job for one format: its summary."""

    entry = models.ForeignKey(FormatEntry, on_delete=models.PROTECT, related_name="runs")
    target_format = models.CharField(max_length=40)
    trigger = models.CharField("触发", max_length=20)  # flag / daily / cli
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=RunState.choices, default=RunState.RUNNING)
    candidates = models.IntegerField("待迁移文件", default=0)
    migrated = models.IntegerField("已迁移", default=0)
    failed = models.IntegerField("失败", default=0)
    # Files left out because an earlier run gave up on them (not retried forever).
    given_up = models.IntegerField("已放弃", default=0)
    reasons = models.JSONField("失败原因", default=dict, encoder=UnicodeJSONEncoder)  # reason → n
    failures = models.JSONField("失败文件", default=list, encoder=UnicodeJSONEncoder)  # capped

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.entry.format_id} {self.started_at:%Y-%m-%d %H:%M} {self.state}"


class FileOutcome(models.TextChoices):
    DONE = "done", "已迁移"
    FAILED = "failed", "失败"


class FileMigration(models.Model):
    """A file's migration to a target format: done (with the rendition) or failed (why, how
    often). A file given up on is left out of later runs and reported as such."""

    source = models.ForeignKey("archives.RecordFile", on_delete=models.PROTECT, related_name="+")
    target_format = models.CharField(max_length=40)
    outcome = models.CharField(max_length=8, choices=FileOutcome.choices)
    result = models.ForeignKey("archives.RecordFile", on_delete=models.PROTECT, null=True,
                               blank=True, related_name="+")
    attempts = models.PositiveSmallIntegerField(default=0)
    given_up = models.BooleanField(default=False)
    reason = models.TextField(blank=True)
    run = models.ForeignKey(MigrationRun, on_delete=models.SET_NULL, null=True, blank=True,
                            related_name="files")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "target_format"],
                                               name="uniq_file_migration")]

    def __str__(self) -> str:
        return f"file {self.source_id} → {self.target_format}: {self.outcome}"
