"""Long-term renditions: images and non-PDF/A PDFs become PDF/A-2b beside the original, each
checked by the PDF/A checker; what can't be converted says why."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from kjda.formats.pdfa_check import pdfa_check
from kjda.ingest.longterm import RenditionRefused, image_to_pdfa, pdf_to_pdfa
from kjda.ingest.tests.test_pdfa import reportlab_pdf
from kjda_oasim.factories import metadata_json, pdf_bytes, png_bytes
from kjda_oasim.testing import SAMPLES


def _image(mode: str, fmt: str, **save) -> bytes:
    colour = {"RGBA": (200, 30, 30, 128), "CMYK": (0, 100, 100, 0), "L": 128}.get(mode, "red")
    buf = io.BytesIO()
    Image.new(mode, (120, 80), colour).save(buf, fmt, **save)
    return buf.getvalue()


@pytest.mark.parametrize("data", [
    _image("RGB", "JPEG"), _image("L", "JPEG"), _image("CMYK", "JPEG"), _image("RGB", "PNG"),
    _image("RGBA", "PNG"), _image("P", "PNG", transparency=0), _image("RGB", "TIFF"),
], ids=["jpeg", "jpeg-grey", "jpeg-cmyk", "png", "png-alpha", "png-palette-transparent", "tiff"])
def test_images_become_pdfa2b_that_the_checker_passes(data):
    out = image_to_pdfa(data, title="发票扫描件", author="张三")
    report = pdfa_check(out)
    assert report.claimed == "2B" and report.compliant, report.as_dict()


def test_a_jpeg_is_embedded_as_it_is():
    data = _image("RGB", "JPEG", quality=80)
    assert data in image_to_pdfa(data, title="t", author="a")  # no re-compression


def test_a_pdf_with_embedded_fonts_becomes_pdfa2b():
    original = reportlab_pdf(["记账凭证 记-0015", "金额 1,280.50"])
    assert not pdfa_check(original).compliant
    out = pdf_to_pdfa(original, title="记账凭证", author="会计")
    assert pdfa_check(out).compliant


def test_a_pdf_whose_fonts_are_not_embedded_is_refused_with_the_reason():
    data = pdf_bytes(["invoice"])  # Helvetica, not embedded
    with pytest.raises(RenditionRefused) as err:
        pdf_to_pdfa(data, title="t", author="a", pdfa=pdfa_check(data).as_dict())
    assert err.value.code == "rendition_font_not_embedded" and "Helvetica" in err.value.en


@pytest.mark.skipif(not SAMPLES.exists(), reason="no sample corpus")
def test_real_einvoice_pdf_rendition_is_refused_for_its_unembedded_font():
    data = next((SAMPLES / "einvoice_pdf").glob("*.pdf")).read_bytes()
    with pytest.raises(RenditionRefused):
        pdf_to_pdfa(data, title="t", author="a", pdfa=pdfa_check(data).as_dict())


# --- through ingest ------------------------------------------------------------------------

def _file(api, files, **meta):
    body = metadata_json(files=[{"document_type": "原始凭证"} for _ in files], **meta)
    resp = api.post_record(body, files)
    assert resp.status_code == 201, resp.content
    return resp.json()


def test_an_uploaded_scan_is_filed_with_its_pdfa_rendition_beside_it(api):
    scan = png_bytes(300, 200)
    record = _file(api, [("发票扫描.png", scan)], external_id="scan-1")
    assert record["status"] == "filed", record["check_report"]
    original, rendition = record["files"]
    assert original["role"] == "original" and original["sha256"] == hashlib.sha256(scan).hexdigest()
    assert (original["format"], original["puid"]) == ("png", "fmt/11")
    assert rendition["role"] == "rendition" and rendition["derived_from"] == original["id"]
    assert rendition["format"] == "pdfa" and rendition["puid"] == "fmt/477"
    assert rendition["pdfa"]["compliant"] is True
    content = api.client.get(original["content_url"], headers=api.headers)
    assert b"".join(content.streaming_content) == scan  # the original is unchanged
    item = next(i for i in record["check_report"]["items"] if i["code"] == "GD-3-3.1")
    assert "rendition" in item["reason"]
    counts = next(i for i in record["check_report"]["items"] if i["code"] == "GD-2-1")
    assert counts["result"] == "pass" and counts["reason"].startswith("1 ")


def test_a_pdf_without_embedded_fonts_is_filed_with_the_reason_and_no_rendition(api):
    record = _file(api, [("invoice.pdf", pdf_bytes(["invoice"]))], external_id="pdf-1")
    assert record["status"] == "filed" and len(record["files"]) == 1
    pdfa = record["files"][0]["pdfa"]
    assert pdfa["claimed"] is None and not pdfa["compliant"]
    item = next(i for i in record["check_report"]["items"] if i["code"] == "GD-3-3.1")
    assert "not embedded" in item["reason"] and item["result"] == "pass"


def test_a_file_claiming_pdfa_falsely_is_flagged(api):
    from kjda.ingest.tests.test_pdfa import _converted

    broken = _converted() + b"\n% appended after the end\n"
    record = _file(api, [("a.pdf", broken)], external_id="pdfa-false")
    item = next(i for i in record["check_report"]["items"] if i["code"] == "GD-3-3.1")
    assert item["result"] == "warn" and "6.1.3" in item["reason"]


def test_mislabelled_file_is_held_with_the_reason(api):
    resp = api.client.post("/api/v1/records", {
        "metadata": metadata_json(external_id="mislabel-1", files=[{"document_type": "原始凭证"}]),
        "files": [SimpleUploadedFile("scan.jpg", pdf_bytes(["x"]), content_type="image/jpeg")]},
        headers=api.headers)
    record = resp.json()
    assert record["status"] == "pending"
    item = next(i for i in record["check_report"]["items"] if i["code"] == "GD-1-9")
    assert item["result"] == "fail" and "declared content type" in item["reason"]
    assert "extension" in item["reason"]
