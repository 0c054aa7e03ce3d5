"""Issue 17's "done when" in a browser, as the people who do it: a pending record is put right;
the year is assembled into volumes and one is closed; the accounting department hands the year
over and the archives department accepts it; the records whose term has ended are appraised by
the four functions; one voucher is put on hold; the others are destroyed after the five
signatures and the three witnesses. The registers are filed as records and every step is in the
audit log. Only what a browser cannot do (accounts with roles, records of a long-past year) is
set up through the services."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta
from decimal import Decimal

import openpyxl
import pytest
from playwright.sync_api import expect

from .conftest import PASSWORD

# `story`: scripts/test.sh runs this one browser test on PostgreSQL too (issue 17 "done when")
pytestmark = [pytest.mark.e2e, pytest.mark.story, pytest.mark.django_db(transaction=True)]

YEAR = 1990  # a 30-year term ended long ago
USERS = {  # username → roles
    "archivist": ["archivist"], "accountant": ["accountant"], "head": ["head"],
    "archives_head": ["archives_head"], "accounting_head": ["accounting_head"],
    "inspector": ["inspector"], "auditor": ["auditor"], "it_officer": ["it_officer"],
    "auditadmin": ["auditadmin"],
}


def _users() -> tuple[dict, dict]:
    """The accounts, and the TOTP secrets of those that need a second factor (administrators)."""
    from django.contrib.auth import get_user_model

    from kjda.accounts.models import Profile
    from kjda_oasim.factories import totp_activate

    made, secrets = {}, {}
    for name, roles in USERS.items():
        user = get_user_model().objects.create_user(name, password=PASSWORD)
        Profile.objects.create(user=user, roles=roles)
        made[name] = user
        if "auditadmin" in roles:
            secrets[name] = totp_activate(user)
    return made, secrets


def _vouchers(actor, count: int) -> list:
    """`count` filed vouchers of YEAR, each with its invoice."""
    from kjda.ingest.metadata import FileMetaIn, metadata_parse
    from kjda.ingest.pipeline import IncomingFile
    from kjda.ingest.services import record_ingest
    from kjda_oasim.factories import invoice_pdf, voucher_pdf

    records = []
    for n in range(1, count + 1):
        day = date(YEAR, n, 10)
        amount = Decimal(100 * n)
        meta = metadata_parse({"category": "记账凭证", "fiscal_year": YEAR, "period": n,
                               "title": f"支付办公用品费 {n}", "date": day.isoformat(),
                               "document_no": f"记-{n:04d}", "department": "财务部"})
        files = [IncomingFile(stream=io.BytesIO(voucher_pdf(number=f"{n:04d}",
                                                            summary="支付办公用品费",
                                                            amount=amount, day=day)),
                              filename=f"记账凭证-{n:04d}.pdf",
                              meta=FileMetaIn(document_type="记账凭证")),
                 IncomingFile(stream=io.BytesIO(invoice_pdf(number=f"9031000000000000{n:04d}",
                                                            seller="某某文具有限公司",
                                                            amount=amount, day=day)),
                              filename=f"发票-{n:04d}.pdf", meta=FileMetaIn(document_type="原始凭证"))]
        records.append(record_ingest(metadata=meta, files=files, actor=actor).record)
    return records


def _pending(actor):
    """A voucher of YEAR filed without its invoice: it stays pending."""
    from kjda.ingest.metadata import FileMetaIn, metadata_parse
    from kjda.ingest.pipeline import IncomingFile
    from kjda.ingest.services import record_ingest
    from kjda_oasim.factories import voucher_pdf

    day = date(YEAR, 6, 20)
    meta = metadata_parse({"category": "记账凭证", "fiscal_year": YEAR, "period": 6,
                           "title": "报销差旅费", "date": day.isoformat(),
                           "document_no": "记-0015", "department": "财务部",
                           "extra": {"missing_attachments": ["发票 / invoice"]}})
    voucher = IncomingFile(stream=io.BytesIO(voucher_pdf(number="0015", summary="报销差旅费",
                                                         amount=Decimal("1280.50"), day=day)),
                           filename="记账凭证-0015.pdf", meta=FileMetaIn(document_type="记账凭证"))
    return record_ingest(metadata=meta, files=[voucher], actor=actor).record


class People:
    """One browser context per person, logged in on first use."""

    def __init__(self, browser, base: str) -> None:
        self.browser, self.base, self.pages = browser, base, {}
        self.secrets: dict[str, str] = {}

    def __call__(self, name: str):
        if name not in self.pages:
            context = self.browser.new_context(viewport={"width": 1440, "height": 900},
                                               locale="zh-CN", accept_downloads=True)
            context.set_default_timeout(20_000)
            page = context.new_page()
            page.goto(self.base + "/")
            page.wait_for_url("**/login/**")
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
        return self.pages[name]

    def close(self) -> None:
        for page in self.pages.values():
            page.context.close()


@pytest.fixture
def people(live_server, chromium_browser):
    crowd = People(chromium_browser, live_server.url)
    yield crowd
    crowd.close()


def test_custody_story_from_pending_to_destroyed(live_server, people, fonds, tmp_path):
    from kjda_oasim.factories import invoice_pdf

    base = live_server.url
    users, people.secrets = _users()
    filed = _vouchers(users["archivist"], 3)
    assert all(r.status == "filed" for r in filed)
    pending = _pending(users["archivist"])
    assert pending.status == "pending"

    # 1. The archivist puts the pending record right: adds the invoice, re-checks, it is filed.
    invoice = tmp_path / "发票.pdf"
    invoice.write_bytes(invoice_pdf(number="90310000000000000015", seller="某某酒店有限公司",
                                    amount=Decimal("1280.50"), day=date(YEAR, 6, 20)))
    page = people("archivist")
    page.goto(f"{base}/records/{pending.pk}/")
    page.set_input_files("section#fix input[name=file]", str(invoice))
    page.fill("section#fix input[name=document_type]", "原始凭证")
    page.click("section#fix button:has-text('上传')")
    expect(page.locator(".messages")).to_contain_text("发票.pdf")
    page.click("section#fix button:has-text('重新检测')")
    expect(page.locator("#archive-no")).to_have_text(re.compile(rf"^Z001-PZ·{YEAR}·D30-\d{{4}}$"))
    expect(page.locator("section#fix")).to_have_count(0)
    record_ids = [r.pk for r in filed] + [pending.pk]

    # 2. Volumes: the archivist assembles the year, opens a volume, closes it, downloads 卷内目录.
    page.goto(f"{base}/volumes/")
    assemble = page.locator("form[action$='/volumes/assemble/']")
    assemble.locator("input[name=year]").fill(str(YEAR))
    assemble.locator("button[type=submit]").click()
    expect(page.locator(".messages")).to_contain_text("组卷完成")
    page.locator("table.table tbody a").first.click()
    page.wait_for_url(re.compile(r"/volumes/\d+/$"))
    page.click("button:has-text('封卷')")
    expect(page.locator(".messages")).to_contain_text("已封卷")
    with page.expect_download() as info:
        page.click("p.downloads a:has-text('PDF') >> nth=0")
    saved = tmp_path / "卷内目录.pdf"
    info.value.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF-")
    assert "卷内目录" in info.value.suggested_filename

    # 3. Hand-over: the accountant drafts and submits the 移交清册; the archives side accepts
    # every item and signs.
    page = people("accountant")
    page.goto(f"{base}/transfers/new/")
    page.fill("input[name=year]", str(YEAR))
    page.click("button:has-text('编制草稿')")
    page.wait_for_url(re.compile(r"/transfers/\d+/$"))
    transfer_url = page.url
    expect(page.locator("#items tbody tr")).to_have_count(len(record_ids))
    page.click("#next-steps button:has-text('提交')")
    expect(page.locator("#signatures tbody")).to_contain_text("accountant")
    page = people("archivist")
    page.goto(transfer_url)
    for radio in page.locator("#items input[type=radio][value=accepted]").all():
        radio.check()
    page.click("#items button:has-text('保存决定')")
    expect(page.locator("#next-steps button:has-text('接收方签署')")).to_be_enabled()
    page.fill("#next-steps input[name=opinion]", "同意接收")
    page.click("#next-steps button:has-text('接收方签署')")
    expect(page.locator("#transfer-state")).to_have_text("已接收")
    expect(page.locator("a:has-text('已归档的清册')")).to_be_visible()
    transfer_register = page.locator("a:has-text('已归档的清册')").get_attribute("href")

    # 4. Appraisal: the archivist starts a batch of the expired records; the four functions
    # record their opinions; all but one to be destroyed, that one kept with a new term.
    page.goto(f"{base}/appraisals/expired/?fonds=Z001&fiscal_year={YEAR}")
    expect(page.locator("tr.expired-record")).to_have_count(len(record_ids))
    for box in page.locator("tr.expired-record input[name=record]").all():
        box.check()
    page.click("button:has-text('对所选档案发起鉴定')")
    page.wait_for_url(re.compile(r"/appraisals/\d+/$"))
    appraisal_url = page.url
    page.click("button:has-text('提交鉴定')")
    expect(page.locator("button:has-text('签署鉴定意见')")).to_be_visible()
    for name, opinion in [("archivist", "保管期满，建议销毁"), ("accounting_head", "同意"),
                          ("auditor", "经审计无未了事项"), ("inspector", "同意")]:
        page = people(name)
        page.goto(appraisal_url)
        page.fill("textarea[name=opinion]", opinion)
        page.click("button:has-text('签署鉴定意见')")
        expect(page.locator("dl.facts")).to_contain_text(opinion)
    page = people("archivist")
    page.goto(appraisal_url)
    item_ids = [int(href.rstrip("/").rsplit("/", 1)[1]) for href in
                page.locator("tr.appraisal-item td.mono a").evaluate_all(
                    "links => links.map(a => a.getAttribute('href'))")]
    assert sorted(item_ids) == sorted(record_ids)
    kept_id, held_id, *destroyed_ids = item_ids
    outcomes = page.locator("select[name^=outcome_]")
    expect(outcomes).to_have_count(len(record_ids))
    for n, select in enumerate(outcomes.all()):
        select.select_option("keep" if n == 0 else "destroy")
    page.locator("input[name^=new_retention_]").first.fill("D10")
    page.locator("input[name^=reason_]").first.fill("涉及长期合同，继续保管")
    page.click("button:has-text('保存鉴定结论')")
    page.click("button:has-text('作出鉴定结论')")
    expect(page.locator("a:has-text('会计档案鉴定意见书（已归档）')")).to_be_visible()
    appraisal_register = page.locator(
        "a:has-text('会计档案鉴定意见书（已归档）')").get_attribute("href")

    # The file links of a voucher to be destroyed and of the one to be held, seen beforehand.
    page.goto(f"{base}/records/{destroyed_ids[0]}/")
    destroyed_file = page.locator("table.files a.download").first.get_attribute("href")
    page.goto(f"{base}/records/{held_id}/")
    held_file = page.locator("table.files a.download").first.get_attribute("href")
    assert page.request.get(base + destroyed_file).status == 200

    # 5. A hold on one voucher: 未结清的债权债务.
    page.goto(f"{base}/holds/")
    form = page.locator("form#hold-form")
    form.locator("select[name=kind]").select_option(label="未结清的债权债务")
    form.locator("textarea[name=reason]").fill("与某某文具有限公司的往来款尚未结清")
    form.locator("input[name=review_on]").fill((date.today() + timedelta(days=180)).isoformat())
    form.locator("input[name=record_ids]").fill(str(held_id))
    form.locator("button:has-text('设置保全')").click()
    expect(page.locator(".messages")).to_contain_text("已设置保全")
    hold_number = page.locator("h1").inner_text()

    # 6. Destruction: the archivist drafts the batch from the appraised records (the held one
    # can't be selected); the five sign, the three witness, the archivist executes.
    page.goto(f"{base}/destructions/")
    candidates = page.locator("table.candidates tbody tr")
    held_row = candidates.filter(has=page.locator(f"a[href='/records/{held_id}/']"))
    expect(held_row.locator("input[name=record]")).to_have_count(0)
    expect(held_row).to_contain_text("BQ")
    for box in page.locator("table.candidates input[name=record]").all():
        box.check()
    page.fill("form#destruction-form input[name=title]", f"{YEAR}年度保管期满会计凭证销毁")
    page.click("form#destruction-form button:has-text('编制销毁清册')")
    page.wait_for_url(re.compile(r"/destructions/\d+/$"))
    destruction_url = page.url
    batch_id = int(destruction_url.rstrip("/").rsplit("/", 1)[1])
    expect(page.locator("table.items tbody tr")).to_have_count(len(destroyed_ids))
    page.click("button:has-text('提交签署')")
    for name in ["head", "archives_head", "accounting_head", "archivist", "accountant"]:
        page = people(name)
        page.goto(destruction_url)
        page.locator("form.sign-form button:has-text('签署')").click()
        expect(page.locator("table.signatures")).to_contain_text(name)
    expect(page.locator("#batch-state")).to_have_text("已签署")
    for name in ["archivist", "accountant", "it_officer"]:
        page = people(name)
        page.goto(destruction_url)
        page.locator("form.witness-form button:has-text('监销确认')").first.click()
        expect(page.locator("table.witnesses")).to_contain_text(name)
    page = people("archivist")
    page.goto(destruction_url)
    page.click("button:has-text('执行销毁')")
    expect(page.locator("#batch-state")).to_have_text("销毁中")
    # The task worker's work, done here: the store deletions item by item.
    from kjda.lifecycle.destruction.services import destruction_run

    destruction_run(batch_id=batch_id)
    page.reload()
    expect(page.locator("#batch-state")).to_have_text("已销毁")
    expect(page.locator("a:has-text('已归档的销毁清册')")).to_be_visible()
    destruction_register = page.locator("a:has-text('已归档的销毁清册')").get_attribute("href")

    # 7. What remains: the destroyed record's page says so and its file is gone (410); the
    # held voucher is still filed and downloadable; the kept one too.
    page.goto(f"{base}/records/{destroyed_ids[0]}/")
    expect(page.locator("main")).to_contain_text("已销毁")
    assert page.request.get(base + destroyed_file).status == 410
    custody = page.locator("#custody")  # every batch and register the record is in
    expect(custody).to_contain_text(re.compile(rf"会计档案移交清册 YJ-{YEAR}-\d{{4}}"))
    expect(custody).to_contain_text(re.compile(r"会计档案鉴定意见书 JD-\d{4}-\d{4}"))
    expect(custody).to_contain_text(re.compile(r"会计档案销毁清册 XH-\d{4}-\d{4}"))
    page.goto(f"{base}/records/{held_id}/")
    expect(page.locator("main")).to_contain_text(hold_number)
    assert page.request.get(base + held_file).status == 200
    expect(page.locator("#custody")).to_contain_text("未结清的债权债务")
    expect(page.locator("#custody")).not_to_contain_text("会计档案销毁清册")
    held_no = page.locator("#archive-no").inner_text()
    # The held voucher was appraised: it is in the 鉴定意见书 (which, like the 销毁清册, does not
    # yet say that it is held).
    response = page.request.get(
        f"{base}/api/v1/appraisals/{appraisal_url.rstrip('/').rsplit('/', 1)[1]}/register.xlsx")
    assert response.status == 200
    book = openpyxl.load_workbook(io.BytesIO(response.body()))
    cells = [str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True)
             for c in row if c is not None]
    assert any(held_no in c for c in cells)
    page.goto(f"{base}/records/{kept_id}/")
    # Kept with a new term of 10 years from the decision (the archive number keeps its D30).
    from django.utils import timezone

    expect(page.locator("main")).to_contain_text(f"{timezone.localdate().year + 10}-12-31")

    # The three registers are filed records of their own categories.
    for href, category in [(transfer_register, "移交清册"), (appraisal_register, "鉴定意见书"),
                           (destruction_register, "销毁清册")]:
        page.goto(base + href)
        expect(page.locator("#archive-no")).to_have_text(re.compile(r"^Z001-"))
        expect(page.locator("main")).to_contain_text(category)

    # Every step is in the audit log, read by the audit administrator.
    page = people("auditadmin")
    def events(**query: str) -> int:
        response = page.request.get(f"{base}/api/v1/audit", params={**query, "limit": "1"})
        assert response.status == 200, response.text()
        return response.json()["count"]

    for action in ["record.file_add", "record.recheck", "volume.assemble", "volume.close",
                   "transfer.create", "transfer.submit", "transfer.check", "transfer.decide",
                   "transfer.sign", "transfer.register_file", "appraisal.create",
                   "appraisal.submit", "appraisal.opinion", "appraisal.outcome",
                   "appraisal.decide", "hold.place", "destruction.create", "destruction.submit",
                   "destruction.sign", "destruction.witness", "destruction.execute",
                   "record.destroy", "blob.destroyed", "destruction.complete"]:
        assert events(action=action) >= 1, action
    assert events(action="appraisal.opinion") == 4
    assert events(action="destruction.sign") == 5
    assert events(action="destruction.witness") == 3
    assert events(action="record.destroy") == len(destroyed_ids)
    for href in (transfer_register, appraisal_register, destruction_register):
        register_id = href.rstrip("/").rsplit("/", 1)[1]
        assert events(action="record.create", object_type="record", object_id=register_id) == 1
