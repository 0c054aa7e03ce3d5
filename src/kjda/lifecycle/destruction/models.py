"""Holds (Art.19) and destruction batches (Art.18) with their signatures, witnesses and items.

A hold keeps records from destruction: the records it names, the records of the volumes it
names, and the records its query matches — resolved when it is placed and matched again against
records filed later, for as long as it is active. Released holds stay with their history.

A destruction batch goes through the one transition table in `workflow.DESTRUCTION`. Each item
keeps its own execution state (pending → bytes_removed → done), so an interrupted run continues
where it stopped.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from kjda.archives.models import Fonds, Record, Volume


class HoldKind(models.TextChoices):
    CLAIMS = "claims", "未结清的债权债务"
    UNFINISHED = "unfinished", "未了事项"
    LITIGATION = "litigation", "诉讼"
    AUDIT = "audit", "审计"
    CONSTRUCTION = "construction", "在建项目"


class HoldState(models.TextChoices):
    ACTIVE = "active", "保全中"
    RELEASED = "released", "已解除"


class Hold(models.Model):
    """A decision that some records must not be destroyed until a matter is settled."""

    number = models.CharField("编号", max_length=30, unique=True)  # BQ-2026-0001
    kind = models.CharField("类型", max_length=20, choices=HoldKind.choices)
    reason = models.TextField("原因")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                              related_name="holds_owned", verbose_name="负责人")
    review_on = models.DateField("复核日期")
    state = models.CharField(max_length=10, choices=HoldState.choices, default=HoldState.ACTIVE)
    # By query: {"fonds": "Z001", "fiscal_year": 2024, "category": "记账凭证",
    # "department": "工程部", "text": "某项目"}; matched again against records filed later.
    query = models.JSONField("条件", default=dict, blank=True)
    records = models.ManyToManyField(Record, related_name="+", blank=True)
    volumes = models.ManyToManyField(Volume, related_name="+", blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    null=True, blank=True, related_name="+")
    release_reason = models.TextField("解除原因", blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "保全"
        verbose_name_plural = "保全"

    def __str__(self) -> str:
        return f"{self.number} {self.get_kind_display()}"


class DestructionState(models.TextChoices):
    DRAFT = "draft", "草稿"
    UNDER_APPRAISAL = "under_appraisal", "待签署"
    SIGNED = "signed", "已签署"
    EXECUTING = "executing", "销毁中"
    DESTROYED = "destroyed", "已销毁"
    CANCELLED = "cancelled", "已撤销"


class DestructionBatch(models.Model):
    number = models.CharField("清册编号", max_length=30, unique=True)  # XH-2026-0001
    fonds = models.ForeignKey(Fonds, on_delete=models.PROTECT, related_name="+")
    title = models.CharField("题名", max_length=200, blank=True)
    state = models.CharField(max_length=20, choices=DestructionState.choices,
                             default=DestructionState.DRAFT)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    execution_started_at = models.DateTimeField(null=True, blank=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True)
    register_record = models.ForeignKey(Record, on_delete=models.PROTECT, null=True,
                                        blank=True, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "销毁批次"
        verbose_name_plural = "销毁批次"

    def __str__(self) -> str:
        return self.number


class ItemState(models.TextChoices):
    PENDING = "pending", "待销毁"
    BYTES_REMOVED = "bytes_removed", "文件已删除"
    DONE = "done", "已销毁"
    # A hold placed while the batch was executing: the item is kept (Art.19), listed as withheld.
    WITHHELD = "withheld", "暂缓销毁"


class DestructionItem(models.Model):
    batch = models.ForeignKey(DestructionBatch, on_delete=models.CASCADE, related_name="items")
    record = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=20, choices=ItemState.choices,
                             default=ItemState.PENDING)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["batch", "record"],
                                               name="destruction_item_once")]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.record_id} {self.state}"


class Signatory(models.TextChoices):
    """The five who sign their opinion on the 销毁清册 (79号令 Art.18 (2)), in their order."""

    HEAD = "head", "单位负责人"
    ARCHIVES_HEAD = "archives_head", "档案管理机构负责人"
    ACCOUNTING_HEAD = "accounting_head", "会计管理机构负责人"
    ARCHIVIST = "archivist", "档案管理机构经办人"
    ACCOUNTANT = "accountant", "会计管理机构经办人"


class DestructionSignature(models.Model):
    batch = models.ForeignKey(DestructionBatch, on_delete=models.CASCADE,
                              related_name="signatures")
    capacity = models.CharField(max_length=20, choices=Signatory.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    opinion = models.TextField("意见")
    signed_at = models.DateTimeField()
    digest = models.CharField("清册摘要", max_length=64)  # what was signed (register_digest)

    class Meta:
        ordering = ["signed_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "capacity"], name="destruction_sign_once"),
            models.UniqueConstraint(fields=["batch", "user"], name="destruction_signer_once"),
        ]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.capacity}"


class Witness(models.TextChoices):
    """监销 (Art.18 (3)(4)): archives, accounting and information-systems departments."""

    ARCHIVES = "archives", "档案管理机构监销人"
    ACCOUNTING = "accounting", "会计管理机构监销人"
    IT = "it", "信息系统管理机构监销人"


class DestructionWitness(models.Model):
    batch = models.ForeignKey(DestructionBatch, on_delete=models.CASCADE,
                              related_name="witnesses")
    capacity = models.CharField(max_length=20, choices=Witness.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    note = models.TextField("核对意见", blank=True)
    confirmed_at = models.DateTimeField()

    class Meta:
        ordering = ["confirmed_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "capacity"], name="destruction_witness_once"),
            models.UniqueConstraint(fields=["batch", "user"], name="destruction_witness_user_once"),
        ]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.capacity}"
