"""Issue 15 item 1, in a real browser: an uploaded SVG carrying <script> and an uploaded HTML page
never run in our origin, whether opened through the API's inline URL or the web's file link."""

from __future__ import annotations

import io

import pytest

from .conftest import ingest_voucher, login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PAYLOAD = ("document.title='pwned';window.pwned=1;"
           "fetch('/pwned-{kind}?c='+encodeURIComponent(document.cookie));")
SVG = ('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
       '<script>' + PAYLOAD.format(kind="svg") + '</script><rect width="10" height="10"/></svg>')
HTML = ("<!doctype html><html><head><title>harmless</title></head><body>"
        "<script>" + PAYLOAD.format(kind="html") + "</script></body></html>")


def _file_risky(actor) -> dict[str, int]:
    from kjda.archives.models import RecordFile
    from kjda.ingest.metadata import FileMetaIn, metadata_parse
    from kjda.ingest.pipeline import IncomingFile
    from kjda.ingest.services import record_ingest

    record = ingest_voucher(actor)
    meta = metadata_parse({"category": "原始凭证", "fiscal_year": 2024, "period": 3,
                           "title": "附件", "date": "2024-03-15", "document_no": "附-1"})
    record_ingest(metadata=meta, actor=actor, files=[
        IncomingFile(stream=io.BytesIO(SVG.encode()), filename="logo.svg",
                     meta=FileMetaIn(document_type="原始凭证"), declared_mime="image/svg+xml"),
        IncomingFile(stream=io.BytesIO(HTML.encode()), filename="page.html",
                     meta=FileMetaIn(document_type="原始凭证"), declared_mime="text/html"),
    ])
    assert record.pk
    return {f.filename: f.pk for f in RecordFile.objects.filter(filename__in=["logo.svg",
                                                                              "page.html"])}


def test_uploaded_svg_and_html_never_execute(live_server, browser_page, fonds, archivist):
    ids = _file_risky(archivist)
    page, base = browser_page, live_server.url
    pwned: list[str] = []
    page.on("request", lambda r: pwned.append(r.url) if "pwned" in r.url else None)
    login(page, base)
    for name, file_id in ids.items():
        for url in (f"{base}/api/v1/files/{file_id}/content?inline=true",
                    f"{base}/files/{file_id}/content?inline=1"):
            page.goto(f"{base}/records/")
            title = page.title()
            with page.expect_download() as download:
                try:
                    page.goto(url)
                except Exception as exc:  # noqa: BLE001 - Chromium reports the download so
                    assert "Download is starting" in str(exc), exc
            assert download.value.suggested_filename == name  # saved, not rendered
            page.wait_for_timeout(300)
            assert page.title() == title
            assert page.evaluate("typeof window.pwned") == "undefined"
    # The record page offers no preview of them either, and its download link just saves.
    from kjda.archives.models import RecordFile

    record_id = RecordFile.objects.get(pk=ids["logo.svg"]).record_id
    page.goto(f"{base}/records/{record_id}/")
    assert page.locator(".previews iframe, .previews img").count() == 0
    with page.expect_download():
        page.locator(f'a.download[data-file-id="{ids["logo.svg"]}"]').click()
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert "pwned" not in page.title()
    assert pwned == []


def test_even_embedded_the_file_response_is_sandboxed(live_server, browser_page, fonds,
                                                      archivist):
    """Were a future change to serve an SVG inline, the file response's own CSP still forbids
    its script: load the bytes with the same headers in a frame and watch for the payload."""
    ids = _file_risky(archivist)
    page, base = browser_page, live_server.url
    pwned: list[str] = []
    page.on("request", lambda r: pwned.append(r.url) if "pwned" in r.url else None)
    login(page, base)
    url = f"{base}/api/v1/files/{ids['logo.svg']}/content?inline=true"

    def as_inline_svg(route):
        response = route.fetch()
        headers = {**response.headers, "content-type": "image/svg+xml",
                   "content-disposition": "inline"}
        assert response.headers["content-security-policy"] == "sandbox; default-src 'none'"
        route.fulfill(response=response, headers=headers)

    page.route(url, as_inline_svg)
    page.goto(url)
    page.wait_for_timeout(500)
    assert "pwned" not in page.title()
    assert pwned == []
