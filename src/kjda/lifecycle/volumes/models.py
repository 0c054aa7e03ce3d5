"""组卷 (DA/T 94 §8.4–8.7): the rules a fonds assembles volumes by, its volume number format, the
volume-level description kept at close, and the documents (卷内目录, 备考表) made at close."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from kjda.archives.models import Category, Fonds, Record, Volume


class Period(models.TextChoices):
    MONTH = "month", "按月"
    QUARTER = "quarter", "按季"
    YEAR = "year", "按年"


class VolumeRule(models.Model):
    """How the filed records of one category of a fonds are put into volumes: by period, at
    most so many items / bytes per volume, and (for vouchers) one voucher word per volume."""

    fonds = models.ForeignKey(Fonds, on_delete=models.CASCADE, related_name="+")
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="+")
    period = models.CharField("组卷周期", max_length=10, choices=Period.choices,
                              default=Period.MONTH)
    max_items = models.PositiveIntegerField("每卷最多件数", null=True, blank=True)
    max_bytes = models.BigIntegerField("每卷最多字节", null=True, blank=True)
    by_voucher_word = models.BooleanField("按凭证字分卷", default=False)  # 记/收/付/转
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "组卷规则"
        constraints = [models.UniqueConstraint(fields=["fonds", "category"],
                                               name="uniq_volume_rule")]

    def __str__(self) -> str:
        return f"{self.fonds_id}:{self.category_id}:{self.period}"


class VolumeNumbering(models.Model):
    """A fonds' 案卷档号 template, e.g. `{fonds}-{class_code}-{volume_no:04d}` (DA/T 94 §8.7)."""

    fonds = models.OneToOneField(Fonds, on_delete=models.CASCADE, related_name="+")
    template = models.CharField("案卷档号格式", max_length=120)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.template


class VolumeDescription(models.Model):
    """What the assembly knows about a volume (its group: period and voucher word, its part
    number) and, from close on, its DA/T 94 volume-level metadata (M1 = 案卷)."""

    volume = models.OneToOneField(Volume, on_delete=models.CASCADE, related_name="description")
    group_key = models.CharField(max_length=80, blank=True)  # e.g. "Q1|记": where assembly puts items
    part = models.PositiveIntegerField(default=1)  # 第 N 册 of its group
    period_label = models.CharField("期间", max_length=40, blank=True)
    voucher_word = models.CharField("凭证字", max_length=10, blank=True)
    assembled_by = models.CharField("立卷人", max_length=150, blank=True)
    assembled_at = models.DateTimeField("立卷时间", null=True, blank=True)
    # Set at close (DA/T 94 volume level: 起止日期 M33, 件数 M49, 页数, …)
    start_date = models.DateField("起始日期", null=True, blank=True)
    end_date = models.DateField("终止日期", null=True, blank=True)
    item_count = models.PositiveIntegerField("件数", default=0)
    file_count = models.PositiveIntegerField("文件数", default=0)
    page_count = models.PositiveIntegerField("页数", default=0)
    total_bytes = models.BigIntegerField("字节数", default=0)
    checked_by = models.CharField("检查人", max_length=150, blank=True)

    def __str__(self) -> str:
        return f"{self.volume_id}:{self.group_key}#{self.part}"


class VolumeDocumentKind(models.TextChoices):
    REGISTER_PDF = "register_pdf", "卷内目录 PDF"
    REGISTER_XLSX = "register_xlsx", "卷内目录 Excel"
    NOTES_PDF = "notes_pdf", "备考表 PDF"
    NOTES_XLSX = "notes_xlsx", "备考表 Excel"


class VolumeDocument(models.Model):
    """A document made when the volume closed, kept in the blob store."""

    volume = models.ForeignKey(Volume, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(max_length=20, choices=VolumeDocumentKind.choices)
    blob = models.ForeignKey("storage.Blob", on_delete=models.PROTECT, related_name="+")
    size = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["volume", "kind"],
                                               name="uniq_volume_document")]

    def __str__(self) -> str:
        return f"{self.volume_id}:{self.kind}"


class ManualPlacement(models.Model):
    """An item an archivist moved by hand: assembly leaves it in the volume it was put in."""

    record = models.OneToOneField(Record, on_delete=models.CASCADE, related_name="+")
    volume = models.ForeignKey(Volume, on_delete=models.CASCADE, related_name="+")
    moved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                 null=True, blank=True, related_name="+")
    moved_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.record_id}→{self.volume_id}"
