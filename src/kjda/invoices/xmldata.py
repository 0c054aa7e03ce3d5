"""Structured invoice data in XML: the e-invoice 2019 schema (`eInvoice`, the
original_invoice.xml of pre-数电 VAT e-invoices, §9.2), the 数电票 `EInvoice` (§9.3) and the
MoF XBRL e-voucher instances (§8). Parsed with defusedxml: no DTDs, no external entities,
nothing fetched."""

from __future__ import annotations

import base64
import binascii
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET

from kjda.invoices import codes
from kjda.invoices.barcodes import qr_from_image_bytes
from kjda.invoices.data import InvoiceBuilder

EINVOICE_NS = "http://www.edrm.org.cn/schema/e-invoice/2019"
MAX_XML_BYTES = 16 * 1024 * 1024


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _index(root: Element) -> dict[str, list[Element]]:
    out: dict[str, list[Element]] = {}
    for el in root.iter():
        if isinstance(el.tag, str):
            out.setdefault(_local(el.tag), []).append(el)
    return out


def _text(index: dict[str, list[Element]], *names: str) -> str:
    for name in names:
        for el in index.get(name, ()):
            if el.text and el.text.strip():
                return el.text.strip()
    return ""


def _child(el: Element, name: str) -> str:
    for c in el:
        if isinstance(c.tag, str) and _local(c.tag) == name:
            return (c.text or "").strip()
    return ""


def parse_root(data: bytes) -> Element | None:
    if len(data) > MAX_XML_BYTES:
        return None
    try:
        return SafeET.fromstring(data)
    except Exception:  # noqa: BLE001 - defusedxml raises several kinds; not XML → not ours
        return None


def xml_invoice(data: bytes, source: str, builder: InvoiceBuilder | None = None
                ) -> InvoiceBuilder | None:
    """Read an invoice XML (any of the three kinds) into `builder`; None if it is none."""
    root = parse_root(data)
    if root is None:
        return None
    name = _local(root.tag)
    b = builder or InvoiceBuilder()
    index = _index(root)
    if name == "eInvoice":
        _einvoice(index, source, b)
    elif name == "EInvoice":
        _digital(index, source, b)
    elif name == "xbrl":
        if not _xbrl(index, source, b):
            return None
    else:
        return None
    return b


def _einvoice(ix: dict[str, list[Element]], source: str, b: InvoiceBuilder) -> None:
    b.put_all({
        "invoice_code": _text(ix, "InvoiceCode"), "invoice_number": _text(ix, "InvoiceNo"),
        "issue_date": _text(ix, "IssueDate"), "check_code": _text(ix, "InvoiceCheckCode"),
        "buyer_name": _text(ix, "BuyerName"), "buyer_tax_id": _text(ix, "BuyerTaxID"),
        "seller_name": _text(ix, "SellerName"), "seller_tax_id": _text(ix, "SellerTaxID"),
        "total_excl_tax": _text(ix, "TaxExclusiveTotalAmount"),
        "total_tax": _text(ix, "TaxTotalAmount"),
        "total_incl_tax": _text(ix, "TaxInclusiveTotalAmount"),
    }, source)
    b.set_items([{
        "name": _child(g, "Item"), "specification": _child(g, "Specification"),
        "unit": _child(g, "MeasurementDimension"), "quantity": _child(g, "Quantity"),
        "unit_price": _child(g, "Price"), "amount": _child(g, "Amount"),
        "tax_rate": _child(g, "TaxScheme"), "tax_amount": _child(g, "TaxAmount"),
    } for g in ix.get("GoodsInfo", [])], source)
    graph = _text(ix, "GraphCode")
    qr = codes.qr_parse(graph) or _qr_from_png(graph)
    if qr is not None:
        b.qr_check(qr, source + "#GraphCode")
    if "kind" not in b.values:
        b.put("kind", "增值税电子发票", source)


def _qr_from_png(value: str) -> codes.QrData | None:
    """Some issuers put the QR code itself, as a base64 PNG, in GraphCode."""
    if not value.startswith("iVBOR"):
        return None
    try:
        png = base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        return None
    return qr_from_image_bytes(png)


def _digital(ix: dict[str, list[Element]], source: str, b: InvoiceBuilder) -> None:
    label = _text(ix, "LabelCode")
    kind = {"01": codes.KIND_DIGITAL_SPECIAL, "02": codes.KIND_DIGITAL_NORMAL}.get(label, "")
    b.put_all({
        "kind": kind or "电子发票",
        "invoice_number": _text(ix, "EIid", "InvoiceNumber"),
        "issue_date": _text(ix, "IssueTime", "RequestTime"),
        "seller_name": _text(ix, "SellerName"), "seller_tax_id": _text(ix, "SellerIdNum"),
        "buyer_name": _text(ix, "BuyerName"), "buyer_tax_id": _text(ix, "BuyerIdNum"),
        "total_excl_tax": _text(ix, "TotalAmWithoutTax"), "total_tax": _text(ix, "TotalTaxAm"),
        "total_incl_tax": _text(ix, "TotalTax-includedAmount"),
    }, source)
    b.set_items([{
        "name": _child(g, "ItemName"), "specification": _child(g, "SpecMod"),
        "unit": _child(g, "MeaUnits"), "quantity": _child(g, "Quantity"),
        "unit_price": _child(g, "UnPrice"), "amount": _child(g, "Amount"),
        "tax_rate": _child(g, "TaxRate"), "tax_amount": _child(g, "ComTaxAm"),
    } for g in ix.get("IssuItemInformation", [])], source)


# MoF XBRL taxonomy (inv, 2021-09-30) element names of the invoice e-voucher.
_XBRL_FIELDS = {
    "invoice_code": ("CodeOfInvoice",), "invoice_number": ("NumberOfInvoice",),
    "issue_date": ("DateOfIssue",), "check_code": ("IdentifyingCode",),
    "buyer_name": ("NameOfPurchaser",),
    "buyer_tax_id": ("TaxpayerIdentificationNumberUnifiedSocialCreditCodeOfPurchaser",),
    "seller_name": ("NameOfSeller",),
    "seller_tax_id": ("TaxpayerIdentificationNumberUnifiedSocialCreditCodeOfSeller",),
    "total_excl_tax": ("TotalAmountExcludingTax",), "total_tax": ("TotalTaxAmount",),
    "total_incl_tax": ("TaxIncludedAmountInFigures",),
}


def _xbrl(ix: dict[str, list[Element]], source: str, b: InvoiceBuilder) -> bool:
    if not any(n in ix for names in _XBRL_FIELDS.values() for n in names):
        return False
    b.put_all({field: _text(ix, *names) for field, names in _XBRL_FIELDS.items()}, source)
    b.put("kind", _text(ix, "TypeOfInvoice") or "电子凭证（XBRL）", source)
    b.set_items([{
        "name": _child(t, "NameOfTaxableGoodsOrServices"),
        "specification": _child(t, "Specification"), "unit": _child(t, "UnitOfGoodsOrServices"),
        "quantity": _child(t, "QuantityOfGoodsOrServices"),
        "unit_price": _child(t, "UnitPriceOfGoodsOrServices"),
        "amount": _child(t, "AmountExcludingTax"), "tax_rate": _child(t, "TaxRate"),
        "tax_amount": _child(t, "TaxAmount"),
    } for t in ix.get("InformationOfTaxableGoodsOrServicesDetailItemsTuple", [])], source)
    return True
