"""Hand-over (移交) of accounting archives from the accounting department to the archives
department (79号令 Art.11–12, 24; DA/T 70 YJ checks), and the archives department's consent to a
longer temporary custody (Art.11)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from kjda.db.unicode_json import UnicodeJSONEncoder


class TransferState(models.TextChoices):
    DRAFT = "draft", "草稿"
    SUBMITTED = "submitted", "已提交（检测中）"
    CHECKED = "checked", "已检测（待接收）"
    ACCEPTED = "accepted", "已接收"
    PARTIALLY_ACCEPTED = "partially_accepted", "部分接收"
    REJECTED = "rejected", "已退回"
    CANCELLED = "cancelled", "已取消"


class Decision(models.TextChoices):
    UNDECIDED = "undecided", "待决定"
    ACCEPTED = "accepted", "接收"
    REJECTED = "rejected", "退回"


class Side(models.TextChoices):
    ACCOUNTING = "accounting", "移交方（会计机构）"
    ARCHIVES = "archives", "接收方（档案机构）"


class TransferBatch(models.Model):
    number = models.CharField("移交批次号", max_length=30, unique=True)  # YJ-2025-0001
    fonds = models.ForeignKey("archives.Fonds", on_delete=models.PROTECT, related_name="+")
    fiscal_year = models.PositiveSmallIntegerField("会计年度")
    categories = models.JSONField("门类", default=list, blank=True, encoder=UnicodeJSONEncoder)
    volume_ids = models.JSONField("案卷", default=list, blank=True)
    state = models.CharField(max_length=20, choices=TransferState.choices,
                             default=TransferState.DRAFT)
    note = models.TextField("说明", blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # The 移交清册 filed as a record once the transfer completes.
    register_record = models.ForeignKey("archives.Record", on_delete=models.PROTECT, null=True,
                                        blank=True, related_name="+")

    class Meta:
        verbose_name = "移交批次"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.number


class TransferItem(models.Model):
    batch = models.ForeignKey(TransferBatch, on_delete=models.CASCADE, related_name="items")
    record = models.ForeignKey("archives.Record", on_delete=models.PROTECT, related_name="+")
    # DA/T 70 YJ results: [{code, name, property, passed, message}], None until checked.
    checks = models.JSONField("四性检测", null=True, blank=True, encoder=UnicodeJSONEncoder)
    passed = models.BooleanField(null=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    decision = models.CharField(max_length=10, choices=Decision.choices,
                                default=Decision.UNDECIDED)
    reason = models.CharField("退回原因", max_length=500, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["batch_id", "id"]
        constraints = [models.UniqueConstraint(fields=["batch", "record"],
                                               name="uniq_transfer_item")]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.record_id}"


class TransferSignature(models.Model):
    """One side's signature on the 移交清册 (Art.24: handlers of both sides sign)."""

    batch = models.ForeignKey(TransferBatch, on_delete=models.CASCADE, related_name="signatures")
    side = models.CharField(max_length=10, choices=Side.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=150)
    role = models.CharField(max_length=20)
    signed_at = models.DateTimeField()
    digest = models.CharField("清册摘要", max_length=64)
    # sign_digest's output when a key is configured (algorithm, signature, public key), else {}.
    signature = models.JSONField(default=dict, blank=True)
    opinion = models.CharField("意见", max_length=500, blank=True)

    class Meta:
        ordering = ["signed_at", "id"]
        constraints = [models.UniqueConstraint(fields=["batch", "side"],
                                               name="uniq_transfer_signature_side")]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.side}"


class CustodyExtension(models.Model):
    """The archives department's consent that the accounting department keeps a fonds' year
    longer than 1 year after year-end (Art.11: never beyond 3 years)."""

    fonds = models.ForeignKey("archives.Fonds", on_delete=models.PROTECT, related_name="+")
    fiscal_year = models.PositiveSmallIntegerField("会计年度")
    until = models.DateField("暂管截止日")
    reason = models.CharField("理由", max_length=500)
    consented_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                     related_name="+")
    consented_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "延期暂管"
        constraints = [models.UniqueConstraint(fields=["fonds", "fiscal_year"],
                                               name="uniq_custody_extension")]

    def __str__(self) -> str:
        return f"{self.fonds_id}:{self.fiscal_year}→{self.until}"


class CustodyNotice(models.Model):
    """That the to-do for a fonds' year whose temporary custody ran out was raised (once)."""

    fonds = models.ForeignKey("archives.Fonds", on_delete=models.PROTECT, related_name="+")
    fiscal_year = models.PositiveSmallIntegerField()
    due = models.DateField()
    raised_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["fonds", "fiscal_year", "due"],
                                               name="uniq_custody_notice")]

    def __str__(self) -> str:
        return f"{self.fonds_id}:{self.fiscal_year}"
