"""Codes on Chinese invoices and how to validate them (standards.md §9.1, §9.4, §9.5).

Everything here is pure: a value that fails its rule is reported as not valid and the caller
leaves the field empty rather than keeping something that only looks like an ID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

# Invoice-type codes as they appear in the QR string (§9.5). "20" is what 增值税电子专用发票
# issuers put in the QR in practice (seen on a real 2022 e-专票), beside the table's "08".
QR_TYPE_KINDS = {
    "01": "增值税专用发票", "02": "货物运输业增值税专用发票", "03": "机动车销售统一发票",
    "04": "增值税普通发票", "08": "增值税电子专用发票", "10": "增值税电子普通发票",
    "11": "增值税普通发票（卷式）", "14": "增值税电子普通发票（通行费）", "15": "二手车销售统一发票",
    "20": "增值税电子专用发票", "31": "电子发票（增值税专用发票）", "32": "电子发票（普通发票）",
    "51": "电子发票（铁路电子客票）", "61": "电子发票（航空运输电子客票行程单）",
}
# The e-voucher kinds of the MoF data standard (§8) that are not VAT invoices.
KIND_RAILWAY = "电子发票（铁路电子客票）"
KIND_AIRLINE = "电子发票（航空运输电子客票行程单）"
KIND_BANK_RECEIPT = "银行电子回单"
KIND_DIGITAL_SPECIAL = "电子发票（增值税专用发票）"
KIND_DIGITAL_NORMAL = "电子发票（普通发票）"
KIND_EINVOICE_NORMAL = "增值税电子普通发票"
KIND_EINVOICE_SPECIAL = "增值税电子专用发票"

# GB 32100-2015: the 18-character 统一社会信用代码 uses these 31 characters (no I, O, Z, S, V).
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC = re.compile(rf"[{_USCC_CHARS}]{{18}}")
_OLD_TAX_ID = re.compile(r"[0-9A-Z]{15}|[0-9A-Z]{17}|[0-9A-Z]{20}")
_AMOUNT = re.compile(r"-?\d{1,15}(?:\.\d{1,2})?")
_CN_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")


def _placeholder(value: str) -> bool:
    """All one character (000000…, 999999…, xxxx): what masked or template invoices carry."""
    return len(set(value.upper())) <= 1


def uscc_valid(value: str) -> bool:
    """The GB 32100 check character (the 18th) of a 统一社会信用代码."""
    if not _USCC.fullmatch(value) or _placeholder(value):
        return False
    total = sum(_USCC_CHARS.index(ch) * w for ch, w in zip(value[:17], _USCC_WEIGHTS, strict=True))
    check = (31 - total % 31) % 31
    return _USCC_CHARS[check] == value[17]


def tax_id_clean(value: str | None) -> str:
    """A taxpayer ID as printed, or "" when it can't be one: an 18-character one must pass the
    GB 32100 check digit; the older 15/17/20-character numbers have no check digit to test."""
    v = re.sub(r"\s+", "", value or "").upper()
    if len(v) == 18:
        return v if uscc_valid(v) else ""
    if _OLD_TAX_ID.fullmatch(v) and not _placeholder(v) and any(c.isdigit() for c in v):
        return v
    return ""


def invoice_number_clean(value: str | None) -> str:
    """8 digits (pre-数电 invoices) or 20 digits (数电票); placeholders are not numbers."""
    v = re.sub(r"\s+", "", value or "")
    return v if re.fullmatch(r"\d{8}|\d{20}", v) and not _placeholder(v) else ""


def invoice_code_clean(value: str | None) -> str:
    """10 digits (paper 专票) or 12 digits (普票, e-invoices)."""
    v = re.sub(r"\s+", "", value or "")
    return v if re.fullmatch(r"\d{10}|\d{12}", v) and not _placeholder(v) else ""


def check_code_clean(value: str | None) -> str:
    """The 20-digit 校验码 (printed in groups of five)."""
    v = re.sub(r"\s+", "", value or "")
    return v if re.fullmatch(r"\d{20}", v) and not _placeholder(v) else ""


def amount_parse(value: str | None) -> Decimal | None:
    """A money amount as printed (¥1,234.50, CNY 477.06, 1234.5) → Decimal with 2 places."""
    if value is None:
        return None
    v = re.sub(r"[\s,¥￥]|CNY|RMB|元", "", str(value))
    if not _AMOUNT.fullmatch(v):
        return None
    try:
        return Decimal(v).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None


def date_parse(value: str | None) -> date | None:
    """2024年05月28日, 2024-05-28 (10:00:00), 20240528 → date; anything else → None."""
    v = (value or "").strip()
    for pattern in (_CN_DATE, _ISO_DATE, _COMPACT_DATE):
        m = pattern.search(v) if pattern is not _COMPACT_DATE else pattern.fullmatch(v)
        if m:
            try:
                return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                return None
    return None


def identity_key(*, invoice_code: str, invoice_number: str) -> str:
    """An invoice's identity for duplicate claims (财会〔2020〕6号): its code + number, or the
    20-digit number alone for a 数电票. "" when the number is not valid."""
    number = invoice_number_clean(invoice_number)
    if len(number) == 20:
        return number
    code = invoice_code_clean(invoice_code)
    return f"{code}-{number}" if number and code else ""


@dataclass
class QrData:
    type_code: str
    invoice_code: str
    invoice_number: str
    amount: Decimal | None
    issue_date: date | None
    check_code: str

    @property
    def kind(self) -> str:
        return QR_TYPE_KINDS.get(self.type_code, "")

    @property
    def digital(self) -> bool:
        """A 数电票: 20-digit number, no code; its QR amount is the 价税合计 (§9.4)."""
        return len(self.invoice_number) == 20


def qr_parse(payload: str) -> QrData | None:
    """The invoice QR string `01,<type>,<code>,<number>,<amount>,<YYYYMMDD>,<check>,<crc>`
    (§9.4). Anything else (a URL, another barcode) → None."""
    text = (payload or "").strip()
    if "://" in text:
        return None
    fields = [f.strip() for f in text.split(",")]
    if fields and fields[-1] == "":
        fields = fields[:-1]
    if len(fields) < 6 or fields[0] != "01" or not re.fullmatch(r"\d{2}", fields[1]):
        return None
    number = invoice_number_clean(fields[3])
    issued = date_parse(fields[5]) if re.fullmatch(r"\d{8}", fields[5]) else None
    if not number or issued is None:
        return None
    return QrData(type_code=fields[1], invoice_code=invoice_code_clean(fields[2]),
                  invoice_number=number, amount=amount_parse(fields[4]), issue_date=issued,
                  check_code=check_code_clean(fields[6]) if len(fields) > 6 else "")
