"""Issue 18 item 1: every page works on a phone (390×844, an OA's built-in browser), on a tablet
(800 px) and still on a desktop (1440×900). Each page in PAGES is opened as a person whose role
reaches it; none may be wider than the window (the document, or any visible element in it, with
its folded sections closed and open). At 390 px the navigation is a menu button whose entries open
and work, a table is a list of labelled cards, and the record page leads with the document.
KJDA_MOBILE_SHOTS=/some/dir saves a full-page screenshot of every page at every size there.

A new page is one more line in PAGES: (who, path) — the path may name the data set up below
({record}, {invoice_record}, {volume}, ...)."""

from __future__ import annotations

import io
import os
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .conftest import PASSWORD, ingest_voucher

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
TABLET = {"width": 800, "height": 1000}  # tables stay tables and scroll inside their card
DESKTOP = {"width": 1440, "height": 900}
VIEWPORTS = {"390x844": PHONE, "800x1000": TABLET, "1440x900": DESKTOP}
YEAR = 1990  # a long-past year: its records' terms have ended (appraisal, destruction pages)

PAGES: list[tuple[str | None, str]] = [  # (who — None: signed out, path)
    (None, "/login/"),
    ("archivist", "/"),
    ("archivist", "/records/"),
    ("archivist", "/records/?q=差旅"),
    ("archivist", "/records/{record}/"),  # a voucher PDF with its invoice PDF
    ("archivist", "/records/{invoice_record}/"),  # a real e-invoice (行程单): invoice beside preview
    ("archivist", "/records/new/"),
    ("archivist", "/volumes/"),
    ("archivist", "/volumes/{volume}/"),
    ("archivist", "/volumes/rules/"),
    ("archivist", "/transfers/"),
    ("accountant", "/transfers/new/"),
    ("accountant", "/transfers/{transfer}/"),
    ("archivist", "/custody/extension/"),
    ("archivist", "/appraisals/"),
    ("archivist", "/appraisals/expired/"),
    ("archivist", "/appraisals/{appraisal}/"),
    ("archivist", "/destructions/"),
    ("archivist", "/holds/"),
    ("archivist", "/holds/{hold}/"),
    ("archivist", "/retention/"),
    ("archivist", "/fonds/{fonds}/art8/"),
    ("archivist", "/connectors/"),
    ("archivist", "/connectors/new/"),
    ("archivist", "/connectors/{connector}/"),
    ("archivist", "/intake/"),
    ("archivist", "/tokens/"),
    ("archivist", "/password/"),
    ("archivist", "/system/alarms/"),  # monitoring (issue 19 item 5): read-only for archivists
    ("archivist", "/system/preservation/"),
    ("archivist", "/formats/"),  # format watch (issue 19 item 6)
    ("secadmin", "/users/"),
    ("secadmin", "/accounts/2fa/"),
    # borrowing and the OA entry (issue 18)
    ("archivist", "/loans/"),
    ("archivist", "/loans/{loan}/"),
    ("accountant", "/loans/mine/"),
    ("accountant", "/loans/new/?records={record}"),
    ("archivist", "/loans/register/"),
    ("archivist", "/loans/statistics/"),
    ("archivist", "/loans/rules/"),
    ("accountant", "/m/home/"),
]
ROLES = {"archivist": ["archivist"], "accountant": ["accountant"], "secadmin": ["secadmin"]}
SAMPLE = (Path(__file__).resolve().parents[3] / "shared" / "samples" / "eticket"
          / "ofdrw_converter_xbrl-001_航空电子客票行程单_preview.pdf")

# Every visible element that reaches beyond the window, unless a box that clips or scrolls it
# (overflow other than visible) holds it inside the window.
OVERFLOW = """() => {
  const vw = window.innerWidth, found = [];
  const doc = document.documentElement.scrollWidth;
  if (doc > vw) found.push(`document ${doc}px`);
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height || (r.right <= vw + 1 && r.left >= -1)) continue;
    if (el.checkVisibility && !el.checkVisibility()) continue;  // inside a closed <details>
    let clipped = false;
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (s.overflowX !== 'visible') {
        const b = p.getBoundingClientRect();
        if (b.right <= vw + 1 && b.left >= -1) { clipped = true; break; }
      }
    }
    if (clipped) continue;
    const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
      (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
    found.push(`${name} ${Math.round(r.left)}…${Math.round(r.right)}px`);
    if (found.length > 8) break;
  }
  return found;
}"""


def _people():
    from django.contrib.auth import get_user_model

    from kjda.accounts.models import Profile
    from kjda_oasim.factories import totp_activate

    made, secrets = {}, {}
    for name, roles in ROLES.items():
        user = get_user_model().objects.create_user(name, password=PASSWORD,
                                                    first_name="", last_name="")
        Profile.objects.create(user=user, roles=roles)
        made[name] = user
        if name == "secadmin":
            secrets[name] = totp_activate(user)
    return made, secrets


def _old_vouchers(actor, count: int) -> list:
    from kjda.ingest.metadata import FileMetaIn, metadata_parse
    from kjda.ingest.pipeline import IncomingFile
    from kjda.ingest.services import record_ingest
    from kjda_oasim.factories import invoice_pdf, voucher_pdf

    made = []
    for n in range(1, count + 1):
        day = date(YEAR, n, 10)
        meta = metadata_parse({"category": "记账凭证", "fiscal_year": YEAR, "period": n,
                               "title": f"支付办公用品费 {n}", "date": day.isoformat(),
                               "document_no": f"记-{n:04d}", "department": "财务部"})
        files = [IncomingFile(stream=io.BytesIO(voucher_pdf(number=f"{n:04d}", summary="办公用品",
                                                            amount=Decimal(100 * n), day=day)),
                              filename=f"记账凭证-{n:04d}.pdf",
                              meta=FileMetaIn(document_type="记账凭证")),
                 IncomingFile(stream=io.BytesIO(invoice_pdf(number=f"9031000000000000{n:04d}",
                                                            seller="某某文具有限公司",
                                                            amount=Decimal(100 * n), day=day)),
                              filename=f"发票-{n:04d}.pdf", meta=FileMetaIn(document_type="原始凭证"))]
        made.append(record_ingest(metadata=meta, files=files, actor=actor).record)
    return made


def _data(fonds, people) -> dict[str, object]:
    """One of each thing a page shows, set up through the services."""
    from kjda.connectors.services import connector_create
    from kjda.ingest.metadata import FileMetaIn, metadata_parse
    from kjda.ingest.pipeline import IncomingFile
    from kjda.ingest.services import record_ingest
    from kjda.lifecycle.appraisal.services import appraisal_create
    from kjda.lifecycle.destruction.services import hold_place
    from kjda.lifecycle.loans.services import loan_request
    from kjda.lifecycle.transfers.services import transfer_create
    from kjda.lifecycle.volumes.services import volumes_assemble

    archivist, accountant = people["archivist"], people["accountant"]
    record = ingest_voucher(archivist, title="报销差旅费（上海出差，含高铁票与酒店住宿发票）")
    record.amount = Decimal("1280.50")  # what an OA form would have sent with it
    record.save(update_fields=["amount"])
    invoice_record = record
    if SAMPLE.exists():
        meta = metadata_parse({"category": "原始凭证", "fiscal_year": 2021, "period": 7,
                               "title": "差旅费报销（机票）", "date": "2021-07-28"})
        invoice_record = record_ingest(metadata=meta, actor=archivist, files=[IncomingFile(
            stream=io.BytesIO(SAMPLE.read_bytes()), filename="行程单.pdf",
            meta=FileMetaIn(document_type="原始凭证"))]).record
    old = _old_vouchers(archivist, 3)
    volume = volumes_assemble(fonds=fonds, fiscal_year=2024, actor=archivist).volume_ids[0]
    transfer = transfer_create(actor=accountant, fonds_code=fonds.code, fiscal_year=2024)
    appraisal = appraisal_create(actor=archivist, fonds=fonds, record_ids=[old[0].pk])
    hold = hold_place(actor=archivist, kind="litigation", reason="合同纠纷诉讼，保全相关凭证",
                      review_on=date.today() + timedelta(days=90), record_ids=[old[1].pk])
    loan = loan_request(actor=accountant, purpose="核对差旅费报销", records=[old[2].pk],
                        ends_on=date.today() + timedelta(days=7), rights=["download"])
    connector = connector_create(kind="webhook", name="ERP 报销系统", actor=archivist,
                                 settings={"signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
    return {"record": record.pk, "invoice_record": invoice_record.pk, "volume": volume,
            "transfer": transfer.pk, "appraisal": appraisal.pk, "hold": hold.pk,
            "connector": connector.pk, "fonds": fonds.code, "loan": loan.pk}


class Sessions:
    """One browser context per person, signed in on first use and reused at every window size
    (the viewport is resized, not the context remade: signing in is the slow part)."""

    def __init__(self, browser, base: str, secrets: dict[str, str]) -> None:
        self.browser, self.base, self.secrets = browser, base, secrets
        self.pages: dict[str | None, object] = {}

    def __call__(self, name: str | None, viewport: dict | None = None):
        if name not in self.pages:
            context = self.browser.new_context(viewport=viewport or PHONE, locale="zh-CN")
            context.set_default_timeout(20_000)
            page = context.new_page()
            if name is not None:
                page.goto(self.base + "/login/")
                page.fill("input[name=login]", name)
                page.fill("input[name=password]", PASSWORD)
                page.click("form.stack button[type=submit]")
                if name in self.secrets:
                    from kjda_oasim.factories import totp_code

                    page.wait_for_url("**/accounts/2fa/authenticate/**")
                    page.fill("input[name=code]", totp_code(self.secrets[name]))
                    page.click("main button[type=submit]")
                page.wait_for_url(self.base + "/")
            self.pages[name] = page
        page = self.pages[name]
        if viewport:
            page.set_viewport_size(viewport)
        return page

    def close(self) -> None:
        for page in self.pages.values():
            page.context.close()


@pytest.fixture(autouse=True)
def _no_lockout_left():
    from django.core.cache import cache

    cache.clear()


def test_every_main_page_fits_a_phone_a_tablet_and_a_desktop(live_server, chromium_browser,
                                                              fonds, screenshots):
    people, secrets = _people()
    data = _data(fonds, people)
    sessions = Sessions(chromium_browser, live_server.url, secrets)
    shots = os.environ.get("KJDA_MOBILE_SHOTS")
    problems: dict[str, list[str]] = {}
    try:
        for size, viewport in VIEWPORTS.items():
            for who, path in PAGES:
                url = path.format(**data)
                page = sessions(who, viewport)
                response = page.goto(live_server.url + url)
                assert response is not None and response.ok, (who, url, response and response.status)
                if found := page.evaluate(OVERFLOW):
                    problems[f"{size} {url}"] = found
                if shots:
                    name = url.strip("/").replace("/", "_").replace("?", "_") or "dashboard"
                    page.screenshot(path=str(Path(shots) / f"{size}-{name}.png"), full_page=True)
                if page.locator("details.fold:not([open])").count():  # and with every fold open
                    page.evaluate("document.querySelectorAll('details.fold')"
                                  ".forEach(d => d.open = true)")
                    if found := page.evaluate(OVERFLOW):
                        problems[f"{size} {url} (unfolded)"] = found
        assert not problems, problems
        _phone_navigation_and_cards(sessions("archivist", PHONE), live_server.url, screenshots)
        _record_page_leads_with_the_document(sessions("archivist", PHONE), live_server.url, data,
                                             screenshots)
        _desktop_navigation_and_tables(sessions("archivist", DESKTOP), live_server.url)
    finally:
        sessions.close()


def _phone_navigation_and_cards(page, base: str, screenshots: Path) -> None:
    page.goto(base + "/")
    nav, button = page.locator("nav.mainnav"), page.locator("button.menu-toggle")
    expect(nav).to_be_hidden()
    expect(button).to_be_visible()
    box = button.bounding_box()
    assert box and box["height"] >= 40  # a thumb hits it
    button.click()
    expect(nav).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(page.locator("header .user")).to_be_visible()
    # every entry is on screen, big enough to tap, and leads to a page that opens
    links = nav.locator("a")
    hrefs = links.evaluate_all("as => as.map(a => a.getAttribute('href'))")
    assert len(hrefs) >= 10, hrefs
    for i in range(len(hrefs)):
        box = links.nth(i).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (hrefs[i], box)
        assert box["height"] >= 36, (hrefs[i], box)
    for href in hrefs:
        assert page.request.get(base + href).ok, href
    page.screenshot(path=str(screenshots / "phone-menu.png"))
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    nav.get_by_role("link", name="档案查询").click()
    page.wait_for_url(base + "/records/")
    expect(nav).to_be_hidden()  # a new page starts with the menu shut
    # the results table is a list of cards, each cell labelled with its column
    row = page.locator("#results table tbody tr").first
    expect(row).to_be_visible()
    page.screenshot(path=str(screenshots / "phone-records.png"))
    assert row.evaluate("r => getComputedStyle(r).display") == "block"
    heads = page.locator("#results table thead th").evaluate_all(
        "ths => ths.map(th => th.textContent.trim())")
    cells = row.locator("td")
    labels = cells.evaluate_all("tds => tds.map(td => td.dataset.label || '')")
    assert [label for label in labels if label] == [h for h in heads[:len(labels)] if h]
    first = cells.first
    assert first.evaluate("td => getComputedStyle(td, '::before').content") == f'"{labels[0]}"'
    # a row found through htmx (a filter change) is labelled too
    with page.expect_response(lambda r: "status=filed" in r.url):
        page.select_option("form.filters select[name=status]", "filed")
    page.wait_for_timeout(200)
    assert page.locator("#results table tbody tr td").first.get_attribute("data-label") == heads[0]


def _record_page_leads_with_the_document(page, base: str, data: dict, screenshots: Path) -> None:
    page.goto(f"{base}/records/{data['record']}/")
    # On a phone the PDF is shown as page images (an OA's browser shows no PDF in a frame).
    for lead in ["#archive-no", "#record-amount", ".subtitle .badge",
                 ".preview-pane .previews .pdf-pages img"]:
        expect(page.locator(lead).first).to_be_visible()
    expect(page.locator(".preview-pane .previews iframe").first).to_be_hidden()
    preview = page.locator(".preview-pane .previews .pdf-pages img").first.bounding_box()
    assert preview and preview["y"] < 844  # the document is on the first screen
    page.screenshot(path=str(screenshots / "phone-record.png"))
    assert preview["width"] >= 0.85 * page.viewport_size["width"]
    for folded in ["#checks", "#files", "#metadata", "#entities", "#audit"]:
        expect(page.locator(f"{folded} > details.fold").first).not_to_have_attribute("open", "")
    expect(page.locator("table.files")).to_be_hidden()
    # a section link opens its fold
    page.click(".section-nav a[href='#files']")
    expect(page.locator("table.files a.download").first).to_be_visible()
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 4000, height


def _desktop_navigation_and_tables(page, base: str) -> None:
    page.goto(base + "/records/")
    expect(page.locator("button.menu-toggle")).to_be_hidden()
    expect(page.locator("nav.mainnav >> text=归档上传")).to_be_visible()
    row = page.locator("#results table tbody tr").first
    assert row.evaluate("r => getComputedStyle(r).display") == "table-row"
