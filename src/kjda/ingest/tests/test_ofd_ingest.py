"""Ingesting OFDs end to end: the original kept byte for byte, a PDF/A rendition beside it, the
text searchable, pages/attachments and each seal's verification in the record."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest

from kjda.formats.pdfa import pdfa_claim
from kjda_oasim.factories import metadata_json
from kjda_oasim.testing import SAMPLES

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(not SAMPLES.exists(), reason=f"no sample corpus at {SAMPLES}")]
INV = SAMPLES / "ofd_invoices"


def _post(api, name: str, data: bytes, **meta):
    return api.post_record(metadata_json(files=[{"document_type": "原始凭证"}], **meta), [(name, data)])


def test_signed_ofd_invoice_is_filed_with_rendition_text_and_a_valid_seal(api):
    data = (INV / "ofdrw_converter_1.ofd").read_bytes()
    resp = _post(api, "invoice.ofd", data)
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["status"] == "filed"
    original, rendition = body["files"]
    assert original["role"] == "original" and original["format"] == "ofd"
    assert original["sha256"] == hashlib.sha256(data).hexdigest()
    assert [s["status"] for s in original["signatures"]] == ["valid"]
    assert original["signatures"][0]["signer"] and original["signatures"][0]["seal_name"]
    assert rendition["role"] == "rendition" and rendition["derived_from"] == original["id"]
    assert rendition["format"] == "pdfa" and rendition["puid"] == "fmt/477"  # PRONOM PDF/A-2b
    assert rendition["filename"] == "invoice.pdfa.pdf"
    pdf = api.client.get(rendition["content_url"], headers=api.headers)
    pdf_bytes = b"".join(pdf.streaming_content) if hasattr(pdf, "streaming_content") else pdf.content
    assert pdfa_claim(pdf_bytes) == "2B"
    got = api.client.get(original["content_url"], headers=api.headers)
    got_bytes = b"".join(got.streaming_content) if hasattr(got, "streaming_content") else got.content
    assert got_bytes == data  # the original, unchanged

    items = {i["code"]: i for i in body["check_report"]["items"]}
    assert items["GD-1-1-2"]["result"] == "pass" and "valid" in items["GD-1-1-2"]["reason"]
    (info,) = body["check_report"]["files"]
    assert info["ofd"]["pages"] == 1 and info["ofd"]["attachments"] == 1
    assert info["ofd"]["attachment_names"] == ["original_invoice.xml"]

    # The invoice text from the OFD pages is indexed: the 8-digit number finds the record.
    found = api.client.get("/api/v1/records", {"q": "83089647"}, headers=api.headers).json()
    assert [r["id"] for r in found["items"]] == [body["id"]]


def test_an_ofd_changed_after_signing_is_filed_with_a_failed_signature_check(api):
    src = INV / "ofdrw_sign_v4signed.ofd"
    buf = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            part = zin.read(info)
            if info.filename == "Doc_0/Pages/Page_0/Content.xml":
                part = part.replace(b">318.00<", b">918.00<", 1) if b">318.00<" in part else part + b" "
            zout.writestr(info, part)
    resp = _post(api, "changed.ofd", buf.getvalue(), document_no="记-0099")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    (sig,) = body["files"][0]["signatures"]
    assert sig["status"] == "invalid" and "Content.xml" in sig["reason"]
    items = {i["code"]: i for i in body["check_report"]["items"]}
    assert items["GD-1-1-2"]["result"] == "fail"
    assert "GD-1-1-2" in body["check_report"]["failures"]


def test_zip_bomb_is_kept_but_held_back_by_the_size_guard_not_unpacked(api):
    data = (SAMPLES / "ofd_edge_cases" / "ofdrw_reader_zip_boom.zip").read_bytes()
    resp = _post(api, "boom.zip", data, document_no="记-0100")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["status"] != "filed"  # held 待处理 with the reason; the bytes are stored
    assert [f["role"] for f in body["files"]] == ["original"]  # no rendition, nothing extracted
    items = {i["code"]: i for i in body["check_report"]["items"]}
    # As a plain ZIP it may be bigger than an OFD, but not 1028:1 compressed.
    assert items["GD-3-2"]["result"] == "fail" and "zip bomb" in items["GD-3-2"]["reason"]


def _ofd_reader_text(data: bytes) -> str:
    from kjda.formats.ofd import OFDPackage

    with OFDPackage.open(io.BytesIO(data)) as pkg:
        return "\n\n".join(d.text() for d in pkg.documents())


def test_an_ofds_page_text_is_read_once_by_the_ofd_reader_and_searchable(api):
    from kjda.archives.models import RecordText
    from kjda.formats import handler_for

    data = (SAMPLES / "ofd_general" / "ofdrw_crypto_hello-integrity.ofd").read_bytes()
    # The Extract step reads no OFD text: the Inspect step's OFD reader is the one reading.
    assert handler_for("ofd").extract_text(io.BytesIO(data)) == ""
    resp = _post(api, "essay.ofd", data, document_no="记-0101")
    assert resp.status_code == 201, resp.content
    record_id = resp.json()["id"]
    reader_text = _ofd_reader_text(data)
    assert "闭关主义" in reader_text
    # Stored as the reader gives it (lines in reading order), once.
    content = RecordText.objects.get(record_id=record_id).content
    assert content.count(reader_text) == 1
    found = api.client.get("/api/v1/records", {"q": "闭关主义"}, headers=api.headers).json()
    assert [r["id"] for r in found["items"]] == [record_id]


def test_an_ofd_the_reader_cant_open_as_a_document_keeps_its_page_text_searchable(api):
    from kjda.archives.models import RecordText

    src = SAMPLES / "ofd_general" / "ofdrw_crypto_hello-integrity.ofd"
    buf = io.BytesIO()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            part = zin.read(info)
            if info.filename == "OFD.xml":  # DocRoot pointing at no part of the package
                part = part.replace(b"<ofd:DocRoot>Doc_0/Document.xml<", b"<ofd:DocRoot>Doc_9/Document.xml<")
            zout.writestr(info, part)
    data = buf.getvalue()
    resp = _post(api, "no-docroot.ofd", data, document_no="记-0102")
    assert resp.status_code == 201, resp.content
    body = resp.json()
    (info,) = body["check_report"]["files"]
    assert info["ofd"]["error"]  # the OFD reader could not open the document
    assert "闭关主义" in RecordText.objects.get(record_id=body["id"]).content
    found = api.client.get("/api/v1/records", {"q": "闭关主义"}, headers=api.headers).json()
    assert [r["id"] for r in found["items"]] == [body["id"]]
