"""Invoices in OFD packages (§9.2), read through `kjda.formats.ofd` (the one safe OFD reader):
XML attachments (original_invoice.xml, XBRL e-vouchers, 数电 XML) first, then OFD.xml custom
data, then custom tags resolved to the page text, then the QR picture, then the page text by
position."""

from __future__ import annotations

from kjda.formats.ofd import OFDDocument, OFDError, OFDPackage
from kjda.invoices.barcodes import qr_from_image_bytes
from kjda.invoices.data import InvoiceBuilder
from kjda.invoices.evouchers import parse_voucher, voucher_kind
from kjda.invoices.layout import Glyph, kind_from_text, lines_from_glyphs, parse_lines
from kjda.invoices.xmldata import xml_invoice

# OFD.xml CustomData names (§9.2) → invoice fields.
CUSTOM_DATA = {
    "发票代码": "invoice_code", "发票号码": "invoice_number", "开票日期": "issue_date",
    "合计金额": "total_excl_tax", "合计税额": "total_tax", "价税合计": "total_incl_tax",
    "校验码": "check_code", "购买方名称": "buyer_name", "购买方纳税人识别号": "buyer_tax_id",
    "销售方名称": "seller_name", "销售方纳税人识别号": "seller_tax_id",
}
# CustomTag element names (§9.2) → invoice fields.
CUSTOM_TAGS = {
    "InvoiceCode": "invoice_code", "InvoiceNo": "invoice_number", "IssueDate": "issue_date",
    "InvoiceCheckCode": "check_code", "BuyerName": "buyer_name", "BuyerTaxID": "buyer_tax_id",
    "SellerName": "seller_name", "SellerTaxID": "seller_tax_id",
    "TaxExclusiveTotalAmount": "total_excl_tax", "TaxTotalAmount": "total_tax",
    "TaxInclusiveTotalAmount": "total_incl_tax",
}


def ofd_invoice(source) -> dict | None:
    """The invoice object of an OFD (path, bytes or stream), or None when it holds none."""
    try:
        with OFDPackage.open(source) as pkg:
            docs = pkg.documents()
            if not docs:
                return None
            b = _read(docs[0])
    except OFDError:
        return None
    return None if b.empty and not b.values.get("kind") else b.as_dict()


def _read(doc: OFDDocument) -> InvoiceBuilder:
    b = InvoiceBuilder()
    for att in doc.attachments():
        if att.data and (att.format.lower() in ("xml", "") or att.name.lower().endswith(".xml")
                         or (att.path or "").lower().endswith(".xml")):
            name = (att.path or att.name).rsplit("/", 1)[-1]
            xml_invoice(att.data, f"xml:{name}", b)
    data = doc.custom_data()
    for key, field in CUSTOM_DATA.items():
        if data.get(key):
            b.put(field, data[key], "ofd:custom_data")
    tags = doc.custom_tags()
    for key, field in CUSTOM_TAGS.items():
        for text in tags.get(key, []):
            if b.put(field, text, "ofd:custom_tag"):
                break
    texts = [p.text() for p in doc.pages[:3]]
    full = "\n".join(texts)
    kind = voucher_kind(full)
    b.put("kind", kind or kind_from_text(full), "ofd:page_text")
    _qr(doc, b)
    glyphs = _page_glyphs(doc)
    if glyphs:
        lines = lines_from_glyphs(glyphs)
        if kind:
            parse_voucher(lines, kind, "ofd:page_text", b)
        else:
            parse_lines(lines, "ofd:page_text", b)
    return b


def _qr(doc: OFDDocument, b: InvoiceBuilder) -> None:
    """The invoice QR is an image resource on the page (small, square)."""
    for media in doc.images()[:8]:
        data = doc.image_bytes(media.id) if media.path else None
        if data and len(data) < 2 * 1024 * 1024 and (qr := qr_from_image_bytes(data)):
            b.qr_check(qr, "qr")
            return


def _page_glyphs(doc: OFDDocument) -> list[Glyph]:
    """The first page's text codes as glyphs (mm, y down), one per character."""
    if not doc.pages:
        return []
    out = []
    for it in doc.pages[0].text_items():
        text = it.text.strip()
        for i, ch in enumerate(text):
            x = it.x + i * it.size
            out.append(Glyph(ch, x, it.y - it.size, x + it.size, it.y))
    return out
