"""Issue 17 item 1 in a browser: a pending record's page says what failed; the invoice is
added, the record re-checked and filed; the old report stays in its history."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from .conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_fix_a_pending_record_in_the_browser(live_server, browser_page, fonds, archivist,
                                             tmp_path):
    from kjda.ingest.metadata import FileMetaIn, metadata_parse
    from kjda.ingest.pipeline import IncomingFile
    from kjda.ingest.services import record_ingest
    from kjda_oasim.factories import invoice_pdf, voucher_pdf

    day = date(2024, 3, 15)
    meta = metadata_parse({"category": "记账凭证", "fiscal_year": 2024, "period": 3,
                           "title": "报销差旅费", "date": day.isoformat(),
                           "document_no": "记-0015",
                           "extra": {"missing_attachments": ["发票 / invoice"]}})
    voucher = IncomingFile(stream=io.BytesIO(voucher_pdf(number="0015", summary="报销差旅费",
                                                         amount=Decimal("1280.50"), day=day)),
                           filename="记账凭证-0015.pdf", meta=FileMetaIn(document_type="记账凭证"))
    record = record_ingest(metadata=meta, files=[voucher], actor=archivist).record
    assert record.status == "pending"
    invoice = tmp_path / "发票.pdf"
    invoice.write_bytes(invoice_pdf(number="24310000000012345678", seller="某某酒店有限公司",
                                    amount=Decimal("1280.50"), day=day))

    page = browser_page
    login(page, live_server.url)
    page.goto(f"{live_server.url}/records/{record.pk}/")
    fix = page.locator("section#fix")
    expect(fix).to_contain_text("GD-2-8")
    expect(fix).to_contain_text("附件完整性检测")
    page.set_input_files("section#fix input[name=file]", str(invoice))
    page.fill("section#fix input[name=document_type]", "原始凭证")
    page.click("section#fix button:has-text('上传')")
    expect(page.locator(".messages")).to_contain_text("发票.pdf")
    page.click("section#fix button:has-text('重新检测')")
    expect(page.locator("#archive-no")).to_have_text("Z001-PZ·2024·D30-0001")
    expect(page.locator("section#check-history")).to_contain_text("GD-2-8")
    expect(page.locator("section#fix")).to_have_count(0)
    expect(page.locator("section#correct")).to_contain_text("更正描述性元数据")
