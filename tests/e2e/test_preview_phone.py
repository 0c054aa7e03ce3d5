"""Issue 18 item 6 in a browser: a borrower opens an OFD record on a phone (390×844) and sees
its PDF/A rendition as watermarked page images (the OA apps' browsers show no PDF in a frame);
at 1440×900 the same page embeds the PDF. Each channel fetches only what it shows."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from .conftest import PASSWORD, login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def lent_ofd(fonds, archivist):
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from kjda.accounts.grants import Grant, grant_provider_register, grant_provider_unregister
    from kjda.accounts.models import Profile
    from kjda.ingest.metadata import FileMetaIn, metadata_parse
    from kjda.ingest.pipeline import IncomingFile
    from kjda.ingest.services import record_ingest
    from kjda_oasim.testing import SAMPLES

    source = SAMPLES / "ofd_invoices" / "ofdrw_converter_1.ofd"
    if not source.exists():
        pytest.skip("../shared/samples is not there")
    meta = metadata_parse({"category": "原始凭证", "fiscal_year": 2024, "period": 5,
                           "title": "电子发票（OFD）", "date": "2024-05-20"})
    record = record_ingest(metadata=meta, actor=archivist, files=[IncomingFile(
        stream=io.BytesIO(source.read_bytes()), filename="invoice.ofd",
        meta=FileMetaIn(document_type="原始凭证"))]).record
    reader = get_user_model().objects.create_user("lisi", password=PASSWORD)
    Profile.objects.create(user=reader, roles=["auditor"], person_name="李四", department="审计部")
    grant = Grant(record_id=record.pk, loan_id=7, loan_no="JY-2026-0007",
                  rights=frozenset(), until=timezone.now() + timedelta(days=3))

    def provider(actor):
        return {record.pk: grant} if actor.pk == reader.pk else {}

    grant_provider_register(provider)
    yield record
    grant_provider_unregister(provider)


def _file_requests(page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if "/files/" in r.url else None)
    return seen


def test_a_phone_shows_watermarked_page_images_of_the_ofd_rendition(live_server, browser_page,
                                                                     lent_ofd, screenshots):
    from kjda.archives.models import RecordFile
    from kjda.formats.watermark import watermark_read
    from kjda.lifecycle.file_use import watermark_key

    page, base = browser_page, live_server.url
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, base, "lisi")
    rendition = RecordFile.objects.get(record_id=lent_ofd.pk, role="rendition")
    seen = _file_requests(page)
    with page.expect_response(lambda r: f"/files/{rendition.pk}/pages/1.png" in r.url) as got:
        page.goto(f"{base}/records/{lent_ofd.pk}/#preview-{rendition.pk}")
        image = page.locator(f"#preview-{rendition.pk} .pdf-pages img")
        image.scroll_into_view_if_needed()
    response = got.value
    assert response.status == 200 and response.headers["content-type"] == "image/png"
    found = watermark_read(response.body(), key=watermark_key())
    assert found is not None and found.verified and found.mark.loan_no == "JY-2026-0007"
    expect(image).to_be_visible()
    assert page.evaluate("(img) => img.naturalWidth", image.element_handle()) > 300
    box = image.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    expect(page.locator(f"#preview-{rendition.pk} iframe")).to_be_hidden()
    expect(page.locator(".loan-note")).to_contain_text("JY-2026-0007")
    page.wait_for_timeout(500)
    assert not [u for u in seen if "content?inline=1" in u]  # the hidden frame is not fetched
    page.locator(f"#preview-{rendition.pk}").screenshot(path=str(screenshots / "preview-phone.png"))

    page.click(f"#preview-{rendition.pk} .pdf-pages p a:first-child")
    expect(page.locator(".pdf-page-list img").first).to_be_visible()


def test_a_desktop_embeds_the_pdf_and_fetches_no_page_images(live_server, browser_page,
                                                            lent_ofd):
    from kjda.archives.models import RecordFile

    page, base = browser_page, live_server.url
    login(page, base, "lisi")
    rendition = RecordFile.objects.get(record_id=lent_ofd.pk, role="rendition")
    seen = _file_requests(page)
    page.goto(f"{base}/records/{lent_ofd.pk}/")
    frame = page.locator(f"#preview-{rendition.pk} iframe")
    expect(frame).to_be_visible()
    page.wait_for_timeout(1000)
    assert [u for u in seen if f"/files/{rendition.pk}/content?inline=1" in u]
    assert not [u for u in seen if "/pages/" in u]
