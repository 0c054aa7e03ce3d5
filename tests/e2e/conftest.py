"""Browser tests: Playwright for Python driving Debian's Chromium against pytest-django's
live_server. Without /usr/bin/chromium they are skipped, except in CI (CI=true) where that fails."""

from __future__ import annotations

import io
import os
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

# Playwright's sync API keeps an event loop running in this thread; Django would otherwise
# refuse ORM calls made from the test (fixtures, flushes) while it runs.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("KJDA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PASSWORD = "Archive-Pass-2024"


@pytest.fixture
def fonds(transactional_db):
    from kjda.archives.services import fonds_ensure

    return fonds_ensure(code="Z001", name="测试单位会计档案")


@pytest.fixture
def archivist(transactional_db):
    from django.contrib.auth import get_user_model

    from kjda.accounts.models import Profile

    user = get_user_model().objects.create_user("archivist", password=PASSWORD)
    Profile.objects.create(user=user, roles=["archivist"])
    return user


@pytest.fixture
def chromium_browser():
    """One browser per test: Playwright's event loop runs only while the test body does, so the
    database set-up and flush around each transactional test happen outside it."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    # expect() has its own 5 s default; a CI machine at the end of the full suite is slower, and a
    # page that embeds a PDF preview can take longer than that to settle after a redirect.
    expect.set_options(timeout=20_000)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(chromium_browser):
    context = chromium_browser.new_context(viewport={"width": 1440, "height": 900},
                                           locale="zh-CN", accept_downloads=True)
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshots(tmp_path) -> Path:
    """Screenshots go to docs/screenshots (the README's) only when KJDA_SCREENSHOTS=1, so a
    test run leaves the work tree clean."""
    if os.environ.get("KJDA_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path


def login(page, base_url: str, username: str = "archivist", password: str = PASSWORD) -> None:
    page.goto(base_url + "/")
    page.wait_for_url("**/login/**")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", password)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(base_url + "/")


@pytest.fixture(autouse=True)
def _retention_table(transactional_db):
    """The flush after another transactional test empties the tables migration 0002 seeded
    (门类 and both retention tables); put them back the way the post-migrate handler does."""
    from kjda.archives.retention_table import seed_retention_table

    seed_retention_table()


@pytest.fixture(autouse=True)
def _empty_search_index(transactional_db):
    """The full-text index is a raw table, not a model: the flush after a transactional test
    leaves its rows behind. Start and end each browser test with it empty."""
    from django.db import connection

    def empty() -> None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM archives_search")

    empty()
    yield
    empty()


def ingest_voucher(actor, *, title: str = "报销差旅费"):
    """File one voucher with its invoice straight through the ingest service."""
    from kjda.ingest.metadata import FileMetaIn, metadata_parse
    from kjda.ingest.pipeline import IncomingFile
    from kjda.ingest.services import record_ingest
    from kjda_oasim.factories import invoice_pdf, voucher_pdf

    day = date(2024, 3, 15)
    files = [
        IncomingFile(stream=io.BytesIO(voucher_pdf(number="0015", summary=title,
                                                   amount=Decimal("1280.50"), day=day)),
                     filename="记账凭证-0015.pdf", meta=FileMetaIn(document_type="记账凭证")),
        IncomingFile(stream=io.BytesIO(invoice_pdf(number="24310000000012345678",
                                                   seller="某某酒店有限公司",
                                                   amount=Decimal("1280.50"), day=day)),
                     filename="发票.pdf", meta=FileMetaIn(document_type="原始凭证")),
    ]
    meta = metadata_parse({"category": "记账凭证", "fiscal_year": 2024, "period": 3,
                           "title": title, "date": day.isoformat(), "document_no": "记-0015"})
    return record_ingest(metadata=meta, files=files, actor=actor).record


def seed_records(actor) -> None:
    """A few years of filed records of several kinds, so the dashboard has something to show."""
    from kjda.ingest.metadata import FileMetaIn, metadata_parse
    from kjda.ingest.pipeline import IncomingFile
    from kjda.ingest.services import record_ingest
    from kjda_oasim.factories import pdf_bytes, voucher_pdf

    plan = [  # (fiscal year, category, how many)
        (2022, "记账凭证", 5), (2022, "总账", 1), (2022, "年度财务会计报告", 1),
        (2023, "记账凭证", 8), (2023, "原始凭证", 3), (2023, "银行对账单", 4),
        (2023, "年度财务会计报告", 1), (2024, "记账凭证", 11), (2024, "明细账", 2),
        (2024, "银行对账单", 6), (2025, "记账凭证", 7), (2025, "纳税申报表", 3),
    ]
    for year, category, count in plan:
        for n in range(1, count + 1):
            day = date(year, (n % 12) + 1, 10)
            if category == "记账凭证":
                content = voucher_pdf(number=f"{n:04d}", summary="支付办公用品费",
                                      amount=Decimal(100 * n), day=day)
            else:
                content = pdf_bytes([category, f"{year}年 第{n}份"], title=f"{category} {n}")
            meta = metadata_parse({
                "category": category, "fiscal_year": year, "period": day.month,
                "title": f"{year}年{day.month:02d}月{category}", "date": day.isoformat(),
                "document_no": f"{category[:1]}-{n:04d}", "department": "财务部"})
            record_ingest(metadata=meta, actor=actor, files=[IncomingFile(
                stream=io.BytesIO(content), filename=f"{category}-{year}-{n}.pdf",
                meta=FileMetaIn(document_type="记账凭证" if category == "记账凭证" else ""))])
