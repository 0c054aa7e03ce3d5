"""Scans and photos: the QR code (zxing-cpp) and OCR (rapidocr-onnxruntime, its shipped
Chinese models) on a picture of a real invoice's face."""

from __future__ import annotations

import pytest

from kjda.invoices.services import invoice_extract

from .scan import invoice_scan

pytestmark = pytest.mark.django_db

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
    from kjda_oasim.factories import png_bytes

    assert invoice_extract(png_bytes(400, 300), "png") is None


def test_scanned_pdf_without_text_layer_is_read_by_qr_and_ocr(real):
    import io

    from PIL import Image

    page = Image.open(io.BytesIO(invoice_scan(real, qr=_qr(real))))
    out = io.BytesIO()
    page.save(out, format="PDF", resolution=150)
    inv = invoice_extract(out.getvalue(), "pdf")
    assert [f for f in FIELDS if inv[f] != real[f]] == []
    assert inv["sources"]["invoice_number"] == "qr" and inv["sources"]["total_tax"] == "ocr"
    qr_only = invoice_extract(out.getvalue(), "pdf", ocr_images=False)
    assert qr_only["invoice_number"] == real["invoice_number"]
    assert qr_only["seller_name"] == "" and "ocr" not in qr_only["sources"].values()


def test_ocr_text_of_an_uploaded_photo_is_searchable(api, real):
    from kjda_oasim.factories import metadata_json

    photo = invoice_scan(real, fmt="JPEG")
    meta = metadata_json(category="原始凭证", document_no="", external_id="OCR-1",
                         source_system="t", title="报销", files=[{"document_type": "发票"}])
    body = api.post_record(meta, [("发票照片.jpg", photo)]).json()
    assert body["invoice"]["sources"]["invoice_number"] == "ocr"
    found = api.get("/api/v1/records", q="价税合计").json()["items"]
    assert [r["id"] for r in found] == [body["id"]]
    by_number = api.get("/api/v1/records", invoice_number=real["invoice_number"]).json()
    assert [r["id"] for r in by_number["items"]] == [body["id"]]
