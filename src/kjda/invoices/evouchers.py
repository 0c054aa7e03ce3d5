"""Other e-vouchers of the MoF data standard (§8): railway e-tickets, airline itineraries and
bank electronic receipts, identified by their printed title and read by their labels."""

from __future__ import annotations

import re

from kjda.invoices import codes
from kjda.invoices.data import InvoiceBuilder
from kjda.invoices.layout import Line

_AIRLINE_TICKET = re.compile(r"电子客票号码[:：]?(\d{13})(?!\d)")
_FLIGHT = re.compile(r"(?<![A-Z0-9])([A-Z0-9]{2}\d{3,4})(?!\d)")
_TRAIN = re.compile(r"(?<![A-Z0-9])([GDCZTKYL]\d{1,4})(?=次|\s|$|[^\dA-Z])")
_CNY = re.compile(r"(?:CNY|[¥￥])\s*(-?\d+\.\d{2})")
_RECEIPT_NO = re.compile(r"(?:回单编号|回单号码|电子回单号码|回单号)[:：]?([0-9A-Za-z\-]{6,40})")
_TX_DATE = re.compile(r"(?:交易日期|记账日期|日期)[:：]?(\d{4}[-年/]\d{1,2}[-月/]\d{1,2}日?)")
_TX_AMOUNT = re.compile(r"(?:交易金额|金额)(?:[(（]小写[)）])?[:：]?(?:CNY|RMB|[¥￥])?(-?[\d,]+\.\d{2})")
_PARTY = re.compile(r"(付款人|收款人)(?:户名|名称)?[:：]([^:：\d]{2,60}?)(?=(?:账号|开户|收款|付款|$))")


def voucher_kind(text: str) -> str:
    flat = re.sub(r"\s+", "", text)
    if "航空运输电子客票行程单" in flat:
        return codes.KIND_AIRLINE
    if "铁路电子客票" in flat:
        return codes.KIND_RAILWAY
    if re.search(r"电子回单|回单", flat) and re.search(r"银行|付款人|收款人", flat):
        return codes.KIND_BANK_RECEIPT
    return ""


def parse_voucher(lines: list[Line], kind: str, source: str, b: InvoiceBuilder) -> None:
    b.put("kind", kind, source)
    texts = [ln.text for ln in lines]
    if kind == codes.KIND_AIRLINE:
        _airline(lines, texts, source, b)
    elif kind == codes.KIND_RAILWAY:
        _railway(texts, source, b)
    elif kind == codes.KIND_BANK_RECEIPT:
        _bank(texts, source, b)


def _segments(line: Line) -> list[tuple[float, float, int, str]]:
    """(left x, right x, offset in the text, text) of each tab-separated piece of a line."""
    out, start = [], 0
    for piece in line.text.split("\t"):
        end = start + max(len(piece) - 1, 0)
        out.append((line.x_at(start), line.x_at(end), start, piece))
        start += len(piece) + 1
    return out


# The itinerary's column heads, left to right (电子发票（航空运输电子客票行程单）).
AIRLINE_COLUMNS = ("票价", "燃油附加费", "增值税税率", "增值税税额", "民航发展基金", "其他税费", "合计")


def _columns(lines: list[Line], heads: tuple[str, ...]) -> dict[str, str]:
    """Head → the value printed under it: the row that holds the heads is followed by a row of
    as many values, matched by rank (the values are not aligned under their heads)."""
    for i, ln in enumerate(lines[:-1]):
        found = sorted((ln.x_at(at), h) for h in heads if (at := ln.text.find(h)) >= 0)
        if len(found) < 3:
            continue
        values = [p for _x0, _x1, _o, p in _segments(lines[i + 1]) if p]
        if len(values) == len(found):
            return {h: v for (_x, h), v in zip(found, values, strict=True)}
    return {}


def _amount(value: str) -> str:
    m = _CNY.search(value or "")
    return m.group(1) if m else ""


def _airline(lines: list[Line], texts: list[str], source: str, b: InvoiceBuilder) -> None:
    flat = "\n".join(texts)
    if m := _AIRLINE_TICKET.search(flat):
        b.details["ticket_number"] = m.group(1)
    flights = sorted({m.group(1) for t in texts for m in _FLIGHT.finditer(t)
                      if re.search(r"[A-Z]", m.group(1)[:2])})
    if flights:
        b.details["flights"] = ",".join(flights)
    columns = _columns(lines, AIRLINE_COLUMNS)
    b.put("total_incl_tax", _amount(columns.get("合计", "")), source)
    b.put("total_tax", _amount(columns.get("增值税税额", "")), source)
    for head, key in (("票价", "fare"), ("燃油附加费", "fuel_surcharge"),
                      ("民航发展基金", "civil_aviation_fund"), ("增值税税率", "vat_rate")):
        if value := (_amount(columns.get(head, "")) if head != "增值税税率"
                     else columns.get(head, "")):
            b.details[key] = value
    for t in texts:
        if m := re.search(r"购买方名称[:：]([^\t]+)", t):
            b.put("buyer_name", m.group(1), source)
        if m := re.search(r"填开日期[:：]?\t?(\d{4}-\d{2}-\d{2})", t):
            b.put("issue_date", m.group(1), source)
        if m := re.search(r"发票号码[:：]?(\d+)", t):
            b.put("invoice_number", m.group(1), source)


def _railway(texts: list[str], source: str, b: InvoiceBuilder) -> None:
    for t in texts:
        if m := re.search(r"发票号码[:：]?(\d{20})", t):
            b.put("invoice_number", m.group(1), source)
        if m := re.search(r"开票日期[:：]?(\d{4}年\d{1,2}月\d{1,2}日)", t):
            b.put("issue_date", m.group(1), source)
        if m := re.search(r"电子客票号[:：]?(\d{10,25})", t):
            b.details["ticket_number"] = m.group(1)
        if (m := _TRAIN.search(t)) and "train" not in b.details:
            b.details["train"] = m.group(1)
        if m := re.search(r"票价[:：]?[¥￥]?(\d+\.\d{2})", t):
            b.put("total_incl_tax", m.group(1), source)
        if m := re.search(r"购买方名称[:：](.+?)(?:统一社会|$)", t):
            b.put("buyer_name", m.group(1), source)
        if m := re.search(r"统一社会信用代码[:：]([0-9A-Z]{18})", t):
            b.put("buyer_tax_id", m.group(1), source)


def _bank(texts: list[str], source: str, b: InvoiceBuilder) -> None:
    for t in texts:
        if (m := _RECEIPT_NO.search(t)) and "receipt_number" not in b.details:
            b.details["receipt_number"] = m.group(1)
        day = (codes.date_parse(re.sub(r"[/年月]", "-", m.group(1)).rstrip("日"))
               if (m := _TX_DATE.search(t)) else None)
        if day and "transaction_date" not in b.details:
            b.details["transaction_date"] = day.isoformat()
        amount = codes.amount_parse(m.group(1)) if (m := _TX_AMOUNT.search(t)) else None
        if amount is not None and "amount" not in b.details:
            b.details["amount"] = str(amount)
        for m in _PARTY.finditer(t):
            key = "payer_name" if m.group(1) == "付款人" else "payee_name"
            b.details.setdefault(key, m.group(2).strip())
