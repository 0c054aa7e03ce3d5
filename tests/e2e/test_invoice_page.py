"""A person opens a record holding an airline itinerary: the invoice data stands beside the
PDF preview, each field with where it was read."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SAMPLE = (Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "eticket"
          / "ofdrw_converter_xbrl-001_航空电子客票行程单_preview.pdf")


def test_record_page_shows_the_invoice_beside_the_preview(live_server, browser_page, fonds,
                                                          archivist, screenshots):
    if not SAMPLE.exists():
        pytest.skip("../shared/samples is not there")
    from kjda.ingest.metadata import FileMetaIn, metadata_parse
    from kjda.ingest.pipeline import IncomingFile
    from kjda.ingest.services import record_ingest

    meta = metadata_parse({"category": "原始凭证", "fiscal_year": 2021, "period": 7,
                           "title": "差旅费报销（机票）", "date": "2021-07-28"})
    record = record_ingest(metadata=meta, actor=archivist, files=[IncomingFile(
        stream=io.BytesIO(SAMPLE.read_bytes()), filename="行程单.pdf",
        meta=FileMetaIn(document_type="原始凭证"))]).record
    page, base = browser_page, live_server.url
    login(page, base)
    page.goto(f"{base}/records/{record.pk}/")
    panel = page.locator("#invoice .invoice-card")
    expect(panel).to_contain_text("电子发票（航空运输电子客票行程单）")
    expect(panel).to_contain_text("620.00")
    expect(panel).to_contain_text("pdf:text")
    preview = page.locator(".preview-pane .previews iframe").first
    expect(preview).to_be_visible()
    left, right = preview.bounding_box(), panel.bounding_box()
    assert right["x"] >= left["x"] + left["width"] - 1  # beside it, not under it
    assert right["y"] < left["y"] + left["height"]
    page.locator("#preview").screenshot(path=str(screenshots / "invoice-panel.png"))
    page.goto(f"{base}/records/")
    page.click("details.invoice-filters summary")
    page.fill("input[name=issue_date_from]", "2021-07-01")
    page.fill("input[name=amount_min]", "600")
    page.click("form.filters button[type=submit]")
    expect(page.locator("#results")).to_contain_text("差旅费报销（机票）")
    page.locator("form.filters").screenshot(path=str(screenshots / "invoice-filters.png"))
