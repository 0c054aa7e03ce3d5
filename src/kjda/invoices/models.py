"""Invoice data read from a record's files, one row per file that holds an invoice or
e-voucher, with the invoice's identity for duplicate-claim detection (财会〔2020〕6号)."""

from __future__ import annotations

from django.db import models

from kjda.archives.models import Record, RecordFile
from kjda.db.unicode_json import UnicodeJSONEncoder


class Invoice(models.Model):
    record = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="invoices")
    file = models.OneToOneField(RecordFile, on_delete=models.PROTECT, related_name="invoice")
    kind = models.CharField("票种", max_length=60, blank=True)
    # code-number for pre-数电 invoices, the 20-digit number for 数电票; "" when unreadable.
    identity = models.CharField("发票标识", max_length=40, blank=True)
    invoice_code = models.CharField("发票代码", max_length=12, blank=True)
    invoice_number = models.CharField("发票号码", max_length=20, blank=True)
    issue_date = models.DateField("开票日期", null=True, blank=True)
    total_excl_tax = models.DecimalField("合计金额", max_digits=18, decimal_places=2, null=True,
                                         blank=True)
    total_tax = models.DecimalField("合计税额", max_digits=18, decimal_places=2, null=True,
                                    blank=True)
    total_incl_tax = models.DecimalField("价税合计", max_digits=18, decimal_places=2, null=True,
                                         blank=True)
    seller_name = models.CharField("销售方名称", max_length=200, blank=True)
    seller_tax_id = models.CharField("销售方纳税人识别号", max_length=20, blank=True)
    buyer_name = models.CharField("购买方名称", max_length=200, blank=True)
    buyer_tax_id = models.CharField("购买方纳税人识别号", max_length=20, blank=True)
    data = models.JSONField("发票数据", default=dict, encoder=UnicodeJSONEncoder)  # the full invoice object (items, sources…)
    # The record that claimed this invoice first, when this one is a duplicate claim.
    duplicate_of = models.ForeignKey(Record, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "发票"
        indexes = [
            models.Index(fields=["identity"], name="invoice_identity_idx"),
            models.Index(fields=["invoice_number"], name="invoice_number_idx"),
            models.Index(fields=["seller_tax_id"], name="invoice_seller_tax_idx"),
            models.Index(fields=["buyer_tax_id"], name="invoice_buyer_tax_idx"),
            models.Index(fields=["issue_date"], name="invoice_issue_date_idx"),
            models.Index(fields=["total_incl_tax"], name="invoice_total_idx"),
        ]

    def __str__(self) -> str:
        return self.identity or f"invoice of file {self.file_id}"
