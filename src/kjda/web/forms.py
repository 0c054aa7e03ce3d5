"""Forms: the record list filters and the upload form. They parse input only; the rules live in
`kjda.ingest` (metadata_parse, record_ingest), whose DomainErrors the views show."""

from __future__ import annotations

import uuid
from typing import cast

from django import forms
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from kjda.archives.models import RecordStatus
from kjda.archives.selectors import RecordFilters
from kjda.ingest.metadata import FileMetaIn, FileRole
from kjda.ingest.pipeline import IncomingFile
from kjda.invoices.selectors import InvoiceFilters, invoice_record_condition

# (form field, document type, file role); DA/T 94 §8.4.1 puts them in this order in the item.
DOCUMENT_ROWS: list[tuple[str, str, FileRole]] = [
    ("files_voucher", "记账凭证", "original"),
    ("files_source", "原始凭证", "original"),
    ("files_attachment", "附件", "attachment"),
]
WEB_SOURCE_SYSTEM = "web"


def category_choices(rules, *, whole: bool = False) -> list:
    """Retention-table items grouped under their 门类, translated for display; with `whole`
    each group starts with the 门类 itself (the record selector accepts either name)."""
    groups: dict[str, list] = {}
    for rule in rules:
        groups.setdefault(rule.category.name, []).append((rule.name, gettext(rule.name)))
    out = []
    for group, items in groups.items():
        if whole:
            items.insert(0, (group, gettext("全部%(category)s") % {"category": gettext(group)}))
        out.append((gettext(group), items))
    return out


INVOICE_FIELDS = ("invoice_number", "seller", "buyer", "tax_id", "amount_min", "amount_max",
                  "issue_date_from", "issue_date_to")


class RecordFilterForm(forms.Form):
    q = forms.CharField(label=_("搜索"), required=False, max_length=200)
    fonds = forms.ChoiceField(label=_("全宗"), required=False)
    category = forms.ChoiceField(label=_("类别"), required=False)
    fiscal_year = forms.IntegerField(label=_("年度"), required=False, min_value=1900,
                                     max_value=9999)
    status = forms.ChoiceField(label=_("状态"), required=False)
    # Invoice fields (kjda.invoices): records holding a matching invoice.
    invoice_number = forms.CharField(label=_("发票号码"), required=False, max_length=20)
    seller = forms.CharField(label=_("销售方"), required=False, max_length=100)
    buyer = forms.CharField(label=_("购买方"), required=False, max_length=100)
    tax_id = forms.CharField(label=_("纳税人识别号"), required=False, max_length=20)
    amount_min = forms.DecimalField(label=_("价税合计 ≥"), required=False, decimal_places=2)
    amount_max = forms.DecimalField(label=_("价税合计 ≤"), required=False, decimal_places=2)
    issue_date_from = forms.DateField(label=_("开票日期自"), required=False)
    issue_date_to = forms.DateField(label=_("开票日期至"), required=False)

    def __init__(self, *args, fonds_list=(), rules=(), **kwargs):
        super().__init__(*args, **kwargs)
        everything = ("", pgettext_lazy("filter", "全部"))
        cast(forms.ChoiceField, self.fields["fonds"]).choices = [everything] + [(f.code, str(f)) for f in fonds_list]
        cast(forms.ChoiceField, self.fields["category"]).choices = [everything, *category_choices(rules, whole=True)]
        cast(forms.ChoiceField, self.fields["status"]).choices = [everything] + [
            (value, gettext(label)) for value, label in RecordStatus.choices]

    def filters(self) -> RecordFilters:
        self.is_valid()  # invalid fields drop out of cleaned_data; the valid ones still filter
        data = self.cleaned_data
        invoice = invoice_record_condition(
            InvoiceFilters(**{k: data.get(k) or None for k in INVOICE_FIELDS}))
        return RecordFilters(
            q=(data.get("q") or "").strip() or None, fonds=data.get("fonds") or None,
            category=data.get("category") or None, fiscal_year=data.get("fiscal_year"),
            status=data.get("status") or None, invoice=invoice)

    def is_filtered(self) -> bool:
        f = self.filters()
        return any((f.q, f.fonds, f.category, f.fiscal_year, f.status, f.invoice is not None))


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        files = data if isinstance(data, (list, tuple)) else ([data] if data else [])
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


class RecordUploadForm(forms.Form):
    category = forms.ChoiceField(label=_("档案类别"))
    fiscal_year = forms.IntegerField(label=_("会计年度"), min_value=1900, max_value=9999)
    period = forms.TypedChoiceField(
        label=_("会计月份"), required=False, coerce=int, empty_value=None,
        choices=[("", "—")] + [(m, f"{m:02d}") for m in range(1, 13)])
    title = forms.CharField(label=_("题名"), max_length=500)
    date = forms.DateField(label=_("日期"),
                           widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    amount = forms.DecimalField(label=_("金额"), required=False, max_digits=18,
                                decimal_places=2)
    department = forms.CharField(label=_("部门"), required=False, max_length=200)
    applicant = forms.CharField(label=_("申请人"), required=False, max_length=100)
    document_no = forms.CharField(label=_("凭证号/文件编号"), required=False, max_length=100)
    files_voucher = MultipleFileField(label=_("记账凭证"), required=False)
    files_source = MultipleFileField(label=_("原始凭证"), required=False)
    files_attachment = MultipleFileField(label=_("附件"), required=False)
    # Makes a double-submitted form file one record, not two (idempotency key of the ingest).
    upload_token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, rules=(), **kwargs):
        kwargs.setdefault("initial", {})
        today = timezone.localdate()
        kwargs["initial"].setdefault("fiscal_year", today.year)
        kwargs["initial"].setdefault("date", today)
        kwargs["initial"].setdefault("upload_token", uuid.uuid4())
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["category"]).choices = [("", "—")] + category_choices(rules)

    def metadata(self) -> dict:
        """The ingest metadata dict (validated again by `metadata_parse`)."""
        d = self.cleaned_data
        data = {key: d[key] for key in ("category", "fiscal_year", "period", "title", "date",
                                        "amount", "department", "applicant", "document_no")}
        data["source_system"] = WEB_SOURCE_SYSTEM
        data["external_id"] = f"upload-{d['upload_token']}"
        return data

    def incoming_files(self) -> list[IncomingFile]:
        return [
            IncomingFile(stream=upload, filename=upload.name,
                         meta=FileMetaIn(document_type=document_type, role=role),
                         declared_mime=upload.content_type or "")
            for field, document_type, role in DOCUMENT_ROWS
            for upload in self.cleaned_data.get(field) or []
        ]
