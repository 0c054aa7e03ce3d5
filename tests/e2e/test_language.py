"""The UI is Chinese by default and switches to English from the top bar; the list works
without JavaScript."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import ingest_voucher, login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_switch_to_english_and_back(live_server, browser_page, fonds, archivist):
    page = browser_page
    login(page, live_server.url)
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("nav.mainnav")).to_contain_text("档案查询")

    page.click("form.lang button[value=en]")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("nav.mainnav")).to_contain_text("Archive search")
    expect(page.locator("h1")).to_have_text("Dashboard")
    page.click("nav.mainnav >> text=Retention schedule")
    expect(page.locator("table.data").first).to_contain_text("Fixed asset card")
    expect(page.locator("table.data").first).to_contain_text("Permanent")
    page.click("nav.mainnav >> text=Upload")
    expect(page.locator("form.upload")).to_contain_text("Fiscal year")
    expect(page.locator("form.upload")).to_contain_text("Bookkeeping voucher")

    page.click("form.lang button[value=zh-hans]")
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator("form.upload")).to_contain_text("会计年度")


def test_search_works_without_javascript(live_server, chromium_browser, fonds, archivist):
    record = ingest_voucher(archivist)
    context = chromium_browser.new_context(java_script_enabled=False, locale="zh-CN")
    page = context.new_page()
    try:
        login(page, live_server.url)
        page.goto(live_server.url + "/records/")
        page.fill("input[name=q]", "差旅")
        page.select_option("select[name=status]", "filed")
        page.click("form.filters button[type=submit]")
        page.wait_for_url("**/records/?q=*")
        results = page.locator("#results tbody")
        expect(results.locator("tr")).to_have_count(1)
        expect(results).to_contain_text(record.archive_no)
        page.click(f"text={record.archive_no}")
        expect(page.locator("#archive-no")).to_have_text(record.archive_no)
    finally:
        context.close()
