"""鉴定 (79号令 Art.15–17): retention rules as administered data (every change versioned), the
daily expiry scan, appraisal batches with the four functions' opinions and a per-item outcome."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from kjda.archives.models import Fonds, Record, RetentionRule, Volume
from kjda.db.unicode_json import UnicodeJSONEncoder


class RetentionChange(models.Model):
    """One version of the administered retention data: a local rule added or changed, or a
    fonds switched to the other 保管期限表, with the values before and after, who and when."""

    rule = models.ForeignKey(RetentionRule, on_delete=models.PROTECT, null=True, blank=True,
                             related_name="changes")
    fonds = models.ForeignKey(Fonds, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="retention_changes")
    version = models.PositiveIntegerField("版本")
    before = models.JSONField(default=dict, blank=True, encoder=UnicodeJSONEncoder)
    after = models.JSONField(default=dict, encoder=UnicodeJSONEncoder)
    reason = models.CharField("理由", max_length=500, blank=True)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   null=True, related_name="+")
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "保管期限变更"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.rule or self.fonds} v{self.version}"


class ExpiryScan(models.Model):
    """What the daily scan found in a fonds: records and volumes whose term has ended."""

    fonds = models.ForeignKey(Fonds, on_delete=models.CASCADE, related_name="expiry_scans")
    scanned_on = models.DateField("检查日期")
    records_expired = models.PositiveIntegerField(default=0)
    volumes_expired = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["fonds", "scanned_on"],
                                               name="uniq_expiry_scan_per_day")]
        ordering = ["-scanned_on"]

    def __str__(self) -> str:
        return f"{self.fonds_id}@{self.scanned_on}"


class AppraisalState(models.TextChoices):
    DRAFT = "draft", "草稿"
    IN_REVIEW = "in_review", "鉴定中"
    DECIDED = "decided", "已鉴定"
    CANCELLED = "cancelled", "已取消"


class Side(models.TextChoices):
    """The four functions of Art.17: archives leads, accounting, audit, discipline inspection."""

    ARCHIVES = "archives", "档案管理机构"
    ACCOUNTING = "accounting", "会计管理机构"
    AUDIT = "audit", "审计机构"
    INSPECTION = "inspection", "纪检监察机构"


class Outcome(models.TextChoices):
    UNDECIDED = "", "待定"
    DESTROY = "destroy", "销毁"
    KEEP = "keep", "继续保管"


class AppraisalBatch(models.Model):
    number = models.CharField("鉴定编号", max_length=20, unique=True)  # JD-2055-0001
    fonds = models.ForeignKey(Fonds, on_delete=models.PROTECT, related_name="appraisals")
    title = models.CharField("标题", max_length=200)
    state = models.CharField(max_length=12, choices=AppraisalState.choices,
                             default=AppraisalState.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="+")
    cancel_reason = models.CharField(max_length=500, blank=True)
    # The filed 会计档案鉴定意见书 (a permanent record of its own).
    register_record = models.ForeignKey(Record, on_delete=models.PROTECT, null=True, blank=True,
                                        related_name="+")

    class Meta:
        verbose_name = "鉴定批次"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.number


class AppraisalItem(models.Model):
    """A record or a volume under appraisal, and what was decided for it."""

    batch = models.ForeignKey(AppraisalBatch, on_delete=models.CASCADE, related_name="items")
    record = models.ForeignKey(Record, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="appraisal_items")
    volume = models.ForeignKey(Volume, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="appraisal_items")
    expired_on = models.DateField("原保管期满日", null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True, default="")
    # keep: the new term (D<n> counted from the year after the appraisal, or Y) and its end
    new_retention = models.CharField("新保管期限", max_length=4, blank=True)
    new_expires_on = models.DateField("新保管期满日", null=True, blank=True)
    reason = models.CharField("理由", max_length=500, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(record__isnull=False, volume__isnull=True)
                | models.Q(record__isnull=True, volume__isnull=False),
                name="appraisal_item_record_or_volume"),
        ]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.record_id or self.volume_id}"


class AppraisalOpinion(models.Model):
    batch = models.ForeignKey(AppraisalBatch, on_delete=models.CASCADE, related_name="opinions")
    side = models.CharField(max_length=12, choices=Side.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=20)
    opinion = models.TextField("意见")
    signed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["batch", "side"],
                                               name="uniq_appraisal_opinion_side")]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.side}"
