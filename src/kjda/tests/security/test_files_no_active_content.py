"""Issue 15 item 1: no active content is served from our origin.

A stored file is shown inline only when its identified format is PDF, PNG or JPEG; everything
else (SVG, HTML, XML, unknown) goes out as an attachment of type application/octet-stream, by the
API and the web alike, and every file response forbids script and sniffing.
"""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from kjda.archives.models import RecordFile
from kjda_oasim.factories import metadata_json, png_bytes

pytestmark = pytest.mark.django_db

SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">'
       b'<script>document.title="pwned"</script></svg>')
SVG_BARE = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect/></svg>'
HTML = b"<!doctype html><html><body><script>document.title='pwned'</script></body></html>"
XML = b'<?xml version="1.0"?><voucher><no>1</no></voucher>'
UNKNOWN = bytes(range(256)) * 4


def _jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (16, 16), "white").save(out, "JPEG")
    return out.getvalue()


RISKY = {"evil.svg": SVG, "bare.svg": SVG_BARE, "page.html": HTML, "data.xml": XML,
         "blob.bin": UNKNOWN}
# Client-declared types and names are lies the server must not believe.
LYING_TYPES = {"evil.svg": "image/png", "bare.svg": "application/pdf", "page.html": "image/jpeg",
               "data.xml": "application/pdf", "blob.bin": "image/png"}


def _file_response_headers_hold(response) -> None:
    assert response["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert response["X-Content-Type-Options"] == "nosniff"


def _attachments(pairs: dict[str, bytes]) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(name, data, content_type=LYING_TYPES.get(name, "image/png"))
            for name, data in pairs.items()]


@pytest.fixture
def filed(api, voucher_files) -> dict[str, RecordFile]:
    """One record filed through the API with the voucher, its invoice and every risky file."""
    extra = {**RISKY, "photo.png": png_bytes(), "photo.jpg": _jpeg()}
    meta = metadata_json(files=[{"document_type": "记账凭证"}, {"document_type": "原始凭证"}]
                         + [{"document_type": "附件"}] * len(extra))
    data = {"metadata": meta,
            "files": [SimpleUploadedFile(n, c, content_type="application/pdf")
                      for n, c in voucher_files] + _attachments(extra)}
    response = api.client.post("/api/v1/records", data, headers=api.headers)
    assert response.status_code in (200, 201), response.content[:500]
    return {f.filename: f for f in RecordFile.objects.all()}


@pytest.mark.parametrize("name", sorted(RISKY))
def test_api_serves_risky_files_as_attachments(api, filed, name):
    f = filed[name]
    response = api.get(f"/api/v1/files/{f.pk}/content", inline="true")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Content-Type"] == "application/octet-stream"
    _file_response_headers_hold(response)
    assert b"".join(response.streaming_content) == RISKY[name]


@pytest.mark.parametrize("name", sorted(RISKY))
def test_web_serves_risky_files_as_attachments(filed, archivist, name):
    web = Client()
    web.force_login(archivist)
    f = filed[name]
    response = web.get(f"/files/{f.pk}/content", {"inline": "1"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Content-Type"] == "application/octet-stream"
    _file_response_headers_hold(response)
    # and the record page never embeds it as a preview
    page = web.get(f"/records/{f.record_id}/").content.decode()
    assert f"/files/{f.pk}/content?inline=1" not in page


@pytest.mark.parametrize(("name", "ctype"), [("记账凭证-0015.pdf", "application/pdf"),
                                             ("photo.png", "image/png"),
                                             ("photo.jpg", "image/jpeg")])
def test_safe_formats_are_inline_on_both_channels(api, filed, archivist, name, ctype):
    f = filed[name]
    response = api.get(f"/api/v1/files/{f.pk}/content", inline="true")
    assert response["Content-Disposition"].startswith("inline")
    assert response["Content-Type"] == ctype
    _file_response_headers_hold(response)
    web = Client()
    web.force_login(archivist)
    response = web.get(f"/files/{f.pk}/content", {"inline": "1"})
    assert response["Content-Disposition"].startswith("inline")
    assert response["Content-Type"] == ctype
    _file_response_headers_hold(response)
    # downloads (not inline) carry the headers too
    for response in (api.get(f"/api/v1/files/{f.pk}/content"),
                     web.get(f"/files/{f.pk}/content")):
        assert response["Content-Disposition"].startswith("attachment")
        _file_response_headers_hold(response)


def test_the_decision_is_by_identified_format_not_by_stored_mime(api, filed):
    """Even a row whose mime says image/png (e.g. an older import) is not inlined as SVG."""
    f = filed["evil.svg"]
    RecordFile.objects.filter(pk=f.pk).update(mime="image/svg+xml")
    response = api.get(f"/api/v1/files/{f.pk}/content", inline="true")
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Content-Type"] == "application/octet-stream"


def test_tiff_is_inline_only_as_its_rendition(api, fonds, voucher_files):
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 32), "white").save(out, "TIFF")
    meta = metadata_json(files=[{"document_type": "记账凭证"}, {"document_type": "原始凭证"},
                                {"document_type": "附件"}], external_id=str(uuid.uuid4()))
    response = api.post_record(meta, [*voucher_files, ("scan.tif", out.getvalue())])
    assert response.status_code in (200, 201), response.content[:500]
    tiff = RecordFile.objects.get(filename="scan.tif")
    assert tiff.format_name == "tiff"
    response = api.get(f"/api/v1/files/{tiff.pk}/content", inline="true")
    assert response["Content-Disposition"].startswith("attachment")
    rendition = RecordFile.objects.get(derived_from=tiff)  # its PDF/A rendition is shown
    response = api.get(f"/api/v1/files/{rendition.pk}/content", inline="true")
    assert response["Content-Disposition"].startswith("inline")
    assert response["Content-Type"] == "application/pdf"
