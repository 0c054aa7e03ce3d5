"""Scans and photos: the QR code (zxing-cpp) and OCR (rapidocr-onnxruntime, its shipped
Chinese models) on a picture of a real invoice's face."""

from __future__ import annotations

import pytest

from kjda.invoices.services import invoice_extract

from .scan import invoice_scan

FIELDS = ("kind", "invoice_number", "issue_date", "total_excl_tax", "total_tax",
          "total_incl_tax", "seller_name", "seller_tax_id", "buyer_name", "buyer_tax_id")


@pytest.fixture
def real(samples) -> dict:
    return invoice_extract(samples / "ofd_invoices" / "ofdrw_reader_发票示例_数电.ofd", "ofd")


def _qr(inv: dict) -> str:
    return (f"01,31,,{inv['invoice_number']},{inv['total_incl_tax']},"
            f"{inv['issue_date'].replace('-', '')},,A1B2")


def test_photo_with_qr_reads_qr_and_ocr_and_they_agree(real):
    inv = invoice_extract(invoice_scan(real, qr=_qr(real), fmt="JPEG"), "jpeg")
    assert [f for f in FIELDS if inv[f] != real[f]] == []  # names only: never print the values
    assert inv["sources"]["invoice_number"] == "qr" and inv["sources"]["seller_name"] == "ocr"
    assert inv["sources"]["total_excl_tax"] == "ocr"
    assert inv["conflicts"] == []
    assert real["invoice_number"] in inv["details"]["ocr_text"]


def test_scan_without_qr_is_read_by_ocr_alone(real):
    inv = invoice_extract(invoice_scan(real), "png")
    assert [f for f in FIELDS if inv[f] != real[f]] == []  # names only: never print the values
    assert set(inv["sources"].values()) == {"ocr"}


def test_qr_that_disagrees_with_the_printed_total_is_a_conflict(real):
    wrong = dict(real, total_incl_tax="9999.00")
    inv = invoice_extract(invoice_scan(real, qr=_qr(wrong)), "png")
    assert inv["total_incl_tax"] == "9999.00" and inv["sources"]["total_incl_tax"] == "qr"
    conflict = next(c for c in inv["conflicts"] if c["field"] == "total_incl_tax")
    assert set(conflict["sources"]) >= {"qr", "ocr"}


def test_a_picture_without_an_invoice_yields_none_without_ocr():
    from kjda.testing.factories import png_bytes

    assert invoice_extract(png_bytes(400, 300), "png") is None
