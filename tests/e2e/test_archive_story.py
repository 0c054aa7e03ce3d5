"""The issue's "done when": an archivist logs in, uploads a voucher with its invoice, sees it
filed under an archive number with its 四性检测 report, finds it again with a two-character
Chinese word, and downloads a file whose bytes are the original's."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from kjda_oasim.factories import invoice_pdf, voucher_pdf

from .conftest import login, seed_records

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ARCHIVE_NO = re.compile(r"^Z001-PZ·2024·D30-\d{4}$")


def test_upload_file_search_and_download(live_server, browser_page, fonds, archivist, tmp_path,
                                         screenshots):
    page, base = browser_page, live_server.url
    day = date(2024, 3, 15)
    voucher = voucher_pdf(number="0015", summary="报销差旅费", amount=Decimal("1280.50"), day=day)
    invoice = invoice_pdf(number="24310000000012345678", seller="某某酒店有限公司",
                          amount=Decimal("1280.50"), day=day)
    (tmp_path / "记账凭证-0015.pdf").write_bytes(voucher)
    (tmp_path / "发票-24310000000012345678.pdf").write_bytes(invoice)

    login(page, base)
    expect(page.locator("header .user")).to_have_text("archivist")

    page.click("nav.mainnav >> text=归档上传")
    page.select_option("select[name=category]", "记账凭证")
    page.fill("input[name=fiscal_year]", "2024")
    page.select_option("select[name=period]", "3")
    page.fill("input[name=date]", "2024-03-15")
    page.fill("input[name=title]", "报销差旅费（上海出差）")
    page.fill("input[name=amount]", "1280.50")
    page.fill("input[name=document_no]", "记-0015")
    page.fill("input[name=department]", "财务部")
    page.fill("input[name=applicant]", "张三")
    page.set_input_files("input[name=files_voucher]", str(tmp_path / "记账凭证-0015.pdf"))
    page.set_input_files("input[name=files_source]",
                         str(tmp_path / "发票-24310000000012345678.pdf"))
    page.click("button:has-text('检测并归档')")

    # Filed under an archive number, with its check report.
    page.wait_for_url(re.compile(r"/records/\d+/$"))
    archive_no = page.locator("#archive-no").inner_text()
    assert ARCHIVE_NO.match(archive_no), archive_no
    expect(page.locator(".messages")).to_contain_text(archive_no)
    expect(page.locator(".verdict")).to_contain_text("通过")
    checks = page.locator("table.checks tbody tr")
    assert checks.count() >= 15
    expect(page.locator("table.checks")).to_contain_text("GD-1-1")
    expect(page.locator("table.checks tr.bad")).to_have_count(0)
    expect(page.locator("table.files tbody tr")).to_have_count(2)
    expect(page.locator("table.files tbody tr").first).to_contain_text("记账凭证")
    page.screenshot(path=str(screenshots / "record-detail.png"))
    # Headless Chromium does not paint its PDF viewer into screenshots: fold the previews.
    page.evaluate("document.querySelectorAll('details.preview').forEach(d => d.open = false)")
    page.screenshot(path=str(screenshots / "record-detail-full.png"), full_page=True)
    record_url = page.url

    # Found again with a two-character Chinese word (htmx refreshes the results in place).
    page.click("nav.mainnav >> text=档案查询")
    page.evaluate("window.notReloaded = true")
    page.fill("input[name=q]", "差旅")
    page.press("input[name=q]", "Enter")
    page.wait_for_url(re.compile(r"q=%E5%B7%AE%E6%97%85"))
    results = page.locator("#results table.data tbody")
    expect(results).to_contain_text(archive_no)
    expect(results.locator("tr")).to_have_count(1)
    assert page.evaluate("window.notReloaded") is True  # htmx swapped the results in place
    page.select_option("select[name=status]", "pending")  # a select refreshes on change
    expect(results).to_contain_text("没有符合条件的档案")
    page.select_option("select[name=status]", "")
    expect(results).to_contain_text(archive_no)
    page.fill("input[name=q]", "工资")
    page.press("input[name=q]", "Enter")
    expect(results).to_contain_text("没有符合条件的档案")

    # Download the invoice and compare the bytes with the original.
    page.goto(record_url)
    with page.expect_download() as info:
        page.locator("table.files a.download").nth(1).click()
    download = info.value
    assert download.suggested_filename == "发票-24310000000012345678.pdf"
    saved = tmp_path / "downloaded.pdf"
    download.save_as(saved)
    assert saved.read_bytes() == invoice

    # The record's audit trail shows the view and the download.
    page.reload()
    trail = page.locator("#audit")
    expect(trail).to_contain_text("file.download")
    expect(trail).to_contain_text("record.create")


def test_dashboard_shows_counts_by_year_and_category(live_server, browser_page, fonds,
                                                     archivist, screenshots):
    seed_records(archivist)
    page = browser_page
    login(page, live_server.url)
    expect(page.locator(".stat").first).to_contain_text("52")
    expect(page.locator("svg.chart g")).to_have_count(4)  # fiscal years 2022–2025
    expect(page.locator("table.matrix tfoot")).to_contain_text("52")
    page.screenshot(path=str(screenshots / "dashboard.png"), full_page=True)
