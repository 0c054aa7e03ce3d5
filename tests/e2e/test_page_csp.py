"""Issue 15 item 1 (pages) in the browser: under the strict Content-Security-Policy every main
page loads without a single violation (inline script, eval, inline style, off-origin load), and
htmx still works (a filter change swaps the results in place)."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from .conftest import PASSWORD, login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Injected by the browser itself (not subject to the page's policy): collects every violation.
COLLECT = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


class Watch:
    """The page, with the CSP violations its console and its documents reported."""

    def __init__(self, page) -> None:
        self.page = page
        self.console: list[str] = []
        page.context.add_init_script(COLLECT)
        page.on("console", self._console)

    def _console(self, msg) -> None:
        if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text:
            self.console.append(msg.text)

    def visit(self, url: str) -> None:
        response = self.page.goto(url)
        assert response is not None and response.ok, (url, response and response.status)
        assert "script-src 'self'" in (response.headers.get("content-security-policy") or "")
        self.page.wait_for_load_state("networkidle")
        self.assert_clean(url)

    def assert_clean(self, where: str) -> None:
        reported = self.page.evaluate("window.__csp || []")
        assert not reported, (where, reported)
        assert not self.console, (where, self.console)


@pytest.fixture(autouse=True)
def _no_lockout_left():
    """Login failures are counted in the cache table, which the flush between transactional
    tests leaves alone: test_login_security's lockout of `archivist` must not reach us."""
    from django.core.cache import cache

    cache.clear()


def _file(actor, n: int):
    from kjda.ingest.metadata import FileMetaIn, metadata_parse
    from kjda.ingest.pipeline import IncomingFile
    from kjda.ingest.services import record_ingest
    from kjda_oasim.factories import voucher_pdf

    day = date(2024, 3, 10 + n)
    pdf = voucher_pdf(number=f"{n:04d}", summary="报销差旅费", amount=Decimal("100.00"), day=day)
    meta = metadata_parse({"category": "记账凭证", "fiscal_year": 2024, "period": 3,
                           "title": f"差旅报销 {n}", "date": day.isoformat(),
                           "document_no": f"记-{n:04d}", "department": "财务部"})
    return record_ingest(metadata=meta, actor=actor, files=[IncomingFile(
        stream=io.BytesIO(pdf), filename=f"记账凭证-{n}.pdf",
        meta=FileMetaIn(document_type="记账凭证"))]).record


def test_main_pages_load_without_a_csp_violation_and_htmx_works(live_server, browser_page,
                                                                 fonds, archivist):
    record = _file(archivist, 1)
    _file(archivist, 2)
    base = live_server.url
    watch = Watch(browser_page)
    page = browser_page

    watch.visit(base + "/login/")
    login(page, base)
    watch.assert_clean("login")
    for path in ["/", "/records/", f"/records/{record.pk}/", "/records/new/", "/tokens/",
                 "/connectors/", "/connectors/new/", "/intake/", "/retention/",
                 # custody and disposition (issue 17)
                 "/volumes/", "/volumes/rules/", "/transfers/", "/transfers/new/",
                 "/custody/extension/", "/appraisals/", "/appraisals/expired/", "/holds/",
                 "/destructions/", f"/fonds/{fonds.code}/art8/",
                 "/api/v1/docs"]:
        watch.visit(base + path)

    # htmx under the policy: a change of the status filter swaps the results in place (no new
    # document: the marker survives) and pushes the filtered URL.
    watch.visit(base + "/records/")
    page.evaluate("window.__sameDocument = true")
    with page.expect_response(lambda r: "status=filed" in r.url
                              and r.request.headers.get("hx-request") == "true"):
        page.select_option("form.filters select[name=status]", "filed")
    expect(page).to_have_url(f"{base}/records/?q=&fonds=&category=&fiscal_year=&status=filed"
                             "&invoice_number=&seller=&buyer=&tax_id=&amount_min=&amount_max="
                             "&issue_date_from=&issue_date_to=")
    expect(page.locator("#results")).to_contain_text("差旅报销 2")
    assert page.evaluate("window.__sameDocument") is True
    # Typing in a text field changes nothing until the form is submitted (only selects trigger).
    page.fill("form.filters input[name=q]", "不存在的题名")
    page.wait_for_timeout(300)
    expect(page.locator("#results")).to_contain_text("差旅报销 2")
    with page.expect_response(lambda r: "q=" in r.url and r.request.headers.get("hx-request")):
        page.click("form.filters button[type=submit]")
    expect(page.locator("#results")).not_to_contain_text("差旅报销 2")
    assert page.evaluate("window.__sameDocument") is True
    watch.assert_clean("htmx filter")


def test_administrator_pages_and_second_factor_load_without_a_csp_violation(
        live_server, browser_page, fonds, django_user_model):
    from kjda.accounts.models import Profile
    from kjda_oasim.factories import totp_activate, totp_code

    user = django_user_model.objects.create_user("sec", password=PASSWORD)
    Profile.objects.create(user=user, roles=["secadmin"])
    secret = totp_activate(user)
    base = live_server.url
    watch = Watch(browser_page)
    page = browser_page

    watch.visit(base + "/login/")
    page.fill("input[name=login]", "sec")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/accounts/2fa/authenticate/**")
    page.wait_for_load_state("networkidle")
    watch.assert_clean("second factor")
    page.fill("input[name=code]", totp_code(secret))
    with page.expect_navigation():
        page.click("main button[type=submit]")
    for path in ["/users/", "/accounts/2fa/", "/tokens/"]:
        watch.visit(base + path)
