"""The `invoice` object: fields of standards.md §9, each marked with where it was read.

Sources are offered in order of trust (signed XML first, text layer and OCR last, §9.2): the
first valid value of a field is kept, a later source that says something else is recorded as a
conflict, never silently preferred. Values are cleaned by the rules in `codes`; one that fails
them is dropped, so a field that can't be read stays empty.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from kjda.invoices import codes

FIELDS = ("kind", "invoice_code", "invoice_number", "issue_date", "total_excl_tax", "total_tax",
          "total_incl_tax", "check_code", "seller_name", "seller_tax_id", "buyer_name",
          "buyer_tax_id")
AMOUNTS = ("total_excl_tax", "total_tax", "total_incl_tax")
_MASKED_NAME = re.compile(r"(?i)x{3,}|\*{3,}|^[\s\-_.?？]*$")


def name_clean(value: Any) -> str:
    """A party's name as printed; masked placeholders (xxx有限公司, ***) are not names."""
    v = re.sub(r"\s+", "", str(value or ""))[:200]
    return "" if _MASKED_NAME.search(v) else v


_CLEAN = {
    "kind": lambda v: str(v or "").strip()[:60],
    "invoice_code": codes.invoice_code_clean,
    "invoice_number": codes.invoice_number_clean,
    "issue_date": lambda v: v if isinstance(v, date) else codes.date_parse(v),
    "check_code": codes.check_code_clean,
    "seller_name": name_clean,
    "buyer_name": name_clean,
    "seller_tax_id": codes.tax_id_clean,
    "buyer_tax_id": codes.tax_id_clean,
    **{k: lambda v: v if isinstance(v, Decimal) else codes.amount_parse(v) for k in AMOUNTS},
}


class InvoiceBuilder:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.sources: dict[str, str] = {}
        self.conflicts: list[dict] = []
        self.items: list[dict] = []
        self.details: dict[str, str] = {}
        self.item_source = ""
        self.confirmed: dict[str, list[str]] = {}  # field → later sources that said the same

    def put(self, field: str, value: Any, source: str) -> bool:
        """Offer a value for `field` read from `source`; returns whether it was valid."""
        clean = _CLEAN[field](value)
        if clean in (None, ""):
            return False
        if field not in self.values:
            self.values[field] = clean
            self.sources[field] = source
        elif self.values[field] != clean and field != "kind":
            self.conflict(field, self.sources[field], self.values[field], source, clean)
        elif source != self.sources[field] and field != "kind":
            seen = self.confirmed.setdefault(field, [])
            if source not in seen:
                seen.append(source)
        return True

    def put_all(self, values: dict[str, Any], source: str) -> None:
        for field, value in values.items():
            self.put(field, value, source)

    def conflict(self, field: str, source_a: str, a: Any, source_b: str, b: Any) -> None:
        self.conflicts.append({"field": field, "sources": [source_a, source_b],
                               "values": [_plain(a), _plain(b)]})

    def set_items(self, items: list[dict], source: str) -> None:
        if items and not self.items:
            self.items, self.item_source = items, source

    def get(self, field: str) -> Any:
        return self.values.get(field)

    @property
    def empty(self) -> bool:
        return not any(k in self.values for k in FIELDS if k != "kind")

    def qr_check(self, qr: codes.QrData, source: str = "qr") -> None:
        """Put the QR's fields and compare them with what the other sources said (§9.4: the
        amount is 合计金额 on older invoices, 价税合计 on 数电票)."""
        if qr.kind:
            self.put("kind", qr.kind, source)
        self.put("invoice_code", qr.invoice_code, source)
        self.put("invoice_number", qr.invoice_number, source)
        self.put("issue_date", qr.issue_date, source)
        self.put("check_code", qr.check_code, source)
        if qr.amount is not None:
            field = "total_incl_tax" if qr.digital else "total_excl_tax"
            self.put(field, qr.amount, source)

    def cross_check(self) -> None:
        """金额 + 税额 = 价税合计 (§9.2); a mismatch is a conflict, nothing is recomputed."""
        excl, tax, incl = (self.values.get(k) for k in AMOUNTS)
        if excl is not None and tax is not None and incl is not None and excl + tax != incl:
            self.conflicts.append({"field": "total_incl_tax", "rule": "excl + tax = incl",
                                   "sources": [self.sources[k] for k in AMOUNTS],
                                   "values": [str(excl), str(tax), str(incl)]})

    def as_dict(self) -> dict:
        self.cross_check()
        out: dict[str, Any] = {}
        for field in FIELDS:
            value = self.values.get(field)
            if field in AMOUNTS or field == "issue_date":
                out[field] = None if value is None else (value.isoformat() if field == "issue_date"
                                                         else str(value))
            else:
                out[field] = value or ""
        out["items"] = self.items
        out["sources"] = dict(self.sources, **({"items": self.item_source} if self.items else {}))
        out["conflicts"] = self.conflicts
        out["confirmed_by"] = self.confirmed
        out["identity"] = codes.identity_key(invoice_code=out["invoice_code"],
                                             invoice_number=out["invoice_number"])
        if self.details:
            out["details"] = self.details
        return out


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else str(value)
