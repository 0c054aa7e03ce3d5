"""One entry point for every format: the `invoice` object of a file, or None.

`fmt` is the short format id of `kjda.formats` (ofd, xml, xbrl, pdf, pdfa, jpeg, png,
tiff). Cheap tests come first so that files which are not invoices cost next to nothing: an XML
is parsed only when its root names an invoice schema, a PDF is rendered (for the QR) only when
its text layer looks like an invoice or it has no text at all, an image is OCR'd only when it
carries an invoice QR code or `ocr_images=True` is asked for (the same for a scanned PDF).
"""

from __future__ import annotations

import io
import os
import re
from typing import BinaryIO

from PIL import Image

from kjda.invoices import barcodes, ocr
from kjda.invoices.data import InvoiceBuilder
from kjda.invoices.evouchers import parse_voucher, voucher_kind
from kjda.invoices.layout import Glyph, lines_from_glyphs, lines_text, parse_lines, qr_in_text
from kjda.invoices.ofd import ofd_invoice
from kjda.invoices.pdf import OCR_SCALE, pdf_first_page_image, pdf_pages
from kjda.invoices.xmldata import xml_invoice

MAX_BYTES = 64 * 1024 * 1024
MAX_IMAGE_PIXELS = 60_000_000
_INVOICE_WORDS = re.compile(r"发票|行程单|客票|回单|税额|价税合计|纳税人识别号")
_XML_ROOTS = re.compile(rb"<(?:\w+:)?(?:eInvoice|EInvoice|xbrl)[\s>]")
MAX_OCR_TEXT = 20_000
IMAGE_FORMATS = ("jpeg", "png", "tiff")


def _read(source: str | os.PathLike | BinaryIO | bytes) -> bytes | None:
    if isinstance(source, bytes | bytearray):
        return bytes(source)
    if isinstance(source, str | os.PathLike):
        if os.path.getsize(source) > MAX_BYTES:
            return None
        with open(source, "rb") as fh:
            return fh.read()
    source.seek(0)
    data = source.read(MAX_BYTES + 1)
    source.seek(0)
    return None if len(data) > MAX_BYTES else data


def invoice_extract(source: str | os.PathLike | BinaryIO | bytes, fmt: str, *,
                    ocr_images: bool = True) -> dict | None:
    """The invoice object (standards.md §9 fields with their sources) or None."""
    fmt = (fmt or "").lower()
    if fmt == "ofd":
        return ofd_invoice(source if not isinstance(source, bytes | bytearray)
                           else io.BytesIO(source))
    data = _read(source)
    if not data:
        return None
    if fmt in ("xml", "xbrl"):
        if not _XML_ROOTS.search(data[:4096]):
            return None
        b = xml_invoice(data, "xml:" + _name(source))
        return None if b is None or b.empty else b.as_dict()
    if fmt in ("pdf", "pdfa"):
        return pdf_invoice(data, ocr_scans=ocr_images)
    if fmt in IMAGE_FORMATS:
        return image_invoice(data, ocr_images=ocr_images)
    return None


def _name(source) -> str:
    if isinstance(source, str | os.PathLike):
        return os.path.basename(source)
    return os.path.basename(getattr(source, "name", "") or "") or "file"


def _from_glyphs(glyphs: list[Glyph], source: str, b: InvoiceBuilder) -> str:
    lines = lines_from_glyphs(glyphs)
    text = lines_text(lines)
    kind = voucher_kind(text)
    if kind:
        parse_voucher(lines, kind, source, b)
    else:
        parse_lines(lines, source, b)
    return text


def pdf_invoice(data: bytes, *, ocr_scans: bool = True) -> dict | None:
    pages = pdf_pages(data)
    text = "".join(g.text for glyphs in pages for g in glyphs)
    scanned = bool(pages) and not text.strip()
    if not pages or not (scanned or _INVOICE_WORDS.search(text)):
        return None
    b = InvoiceBuilder()
    _from_glyphs(pages[0], "pdf:text", b)
    if qr := qr_in_text(text):
        b.qr_check(qr, "pdf:text")
    image = pdf_first_page_image(data, **({"scale": OCR_SCALE} if scanned else {}))
    if image is not None:
        if qr := barcodes.qr_from_image(image):
            b.qr_check(qr, "qr")
        if scanned and ocr_scans:  # a scan in a PDF: no text layer, so OCR the page
            _from_glyphs(ocr.ocr_glyphs(image), "ocr", b)
    return None if b.empty and not b.values.get("kind") else b.as_dict()


def image_invoice(data: bytes, *, ocr_images: bool = True) -> dict | None:
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_IMAGE_PIXELS:
                return None
            img.load()
            image = img.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    b = InvoiceBuilder()
    qr = barcodes.qr_from_image(image)
    if qr is None and not ocr_images:
        return None
    if qr is not None:  # the QR is read exactly; OCR may misread a digit
        b.qr_check(qr, "qr")
    glyphs = ocr.ocr_glyphs(image)
    if glyphs:
        text = _from_glyphs(glyphs, "ocr", b)
        b.details["ocr_text"] = text[:MAX_OCR_TEXT]
    if b.empty and not b.values.get("kind"):
        return None
    return b.as_dict()
