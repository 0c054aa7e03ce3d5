"""Issue 18's "done when", for DingTalk, WeCom and Feishu, in a browser at 390×844 inside the
simulated OA client: a person opens KJDA from the OA (in-app login, no password), searches,
asks to borrow a record outside their scope; the request becomes an approval in their OA, the
approver agrees there and the result comes back through the callback path; the record opens
with a watermark carrying their name and the loan number, the download is watermarked too
(and `kjda watermark inspect` traces it to the loan); the loan ends on the simulated clock and
the record leaves their view; the 借阅登记簿 lists the loan.

Only what a browser can't do is done here directly: the accounts and the record set up through
the services, and the task worker's two jobs (sending the approval to the OA, processing the
OA's callback), called as the worker calls them."""

from __future__ import annotations

import argparse
import io
import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from .conftest import login
from .test_inapp_login import USER_AGENTS

# `story`: scripts/test.sh runs it on PostgreSQL too (as issue 17's custody story)
pytestmark = [pytest.mark.e2e, pytest.mark.story, pytest.mark.django_db(transaction=True)]

TEMPLATES = {"dingtalk": "PROC-KJDA-LOAN", "wecom": "C4RYzCPX9h9GXHuzr5FR1eChWK56V5zYvy3dQNde9",
             "feishu": "7C468A54-8745-2245-9675-08B7C63E7A85"}
TITLE = "支付会议费（某酒店）"


def _voucher(archivist):
    """A filed voucher of the finance department applied for by someone else: outside the
    employee's scope."""
    from kjda.ingest.metadata import FileMetaIn, metadata_parse
    from kjda.ingest.pipeline import IncomingFile
    from kjda.ingest.services import record_ingest
    from kjda_oasim.factories import voucher_pdf

    day = date(2025, 9, 12)
    pdf = voucher_pdf(number="0042", summary=TITLE, amount=Decimal("3600.00"), day=day)
    meta = metadata_parse({"category": "记账凭证", "fiscal_year": 2025, "period": 9,
                           "title": TITLE, "date": day.isoformat(), "document_no": "记-0042",
                           "department": "财务部", "applicant": "赵六"})
    record = record_ingest(metadata=meta, actor=archivist, files=[IncomingFile(
        stream=io.BytesIO(pdf), filename="记-0042.pdf",
        meta=FileMetaIn(document_type="记账凭证"))]).record
    assert record.status == "filed"
    return record


def _worker() -> None:
    """What `kjda worker` does in the background: send approvals, process OA callbacks."""
    from kjda.connectors.approvals import approvals_send_due
    from kjda.connectors.processing import inbox_due, inbox_process

    approvals_send_due()
    for pk in inbox_due():
        inbox_process(event_pk=pk)


@pytest.mark.parametrize("platform", ["dingtalk", "wecom", "feishu"])
def test_borrowing_from_the_oa_on_a_phone(live_server, chromium_browser, fonds, archivist,
                                          platform, capsys, settings):
    from allauth.socialaccount.models import SocialApp

    from kjda.cli import cmd_watermark_inspect
    from kjda.connectors.approvals import approval_find
    from kjda.connectors.services import connector_create
    from kjda.formats.watermark import watermark_read
    from kjda.lifecycle.file_use import watermark_key
    from kjda.lifecycle.loans.oa import OA_FORM_LABELS
    from kjda.lifecycle.loans.services import loan_rule_set, loans_expire
    from kjda_oasim.core import OASimulator
    from kjda_oasim.dingtalk import DingTalkSim
    from kjda_oasim.feishu import FeishuSim
    from kjda_oasim.wecom.sim import WeComSim

    settings.KJDA_WATERMARK = "loans"
    vendor = {"dingtalk": DingTalkSim, "wecom": WeComSim, "feishu": FeishuSim}[platform]()
    sim = OASimulator([vendor])
    sim.start()
    phone = chromium_browser.new_context(viewport={"width": 390, "height": 844},
                                         user_agent=USER_AGENTS[platform], locale="zh-CN",
                                         is_mobile=True, has_touch=True, accept_downloads=True)
    phone.set_default_timeout(20_000)
    desk = chromium_browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    desk.set_default_timeout(20_000)
    try:
        # The OA: 张三 of sales is signed in to the OA client; the unit's loan template.
        vendor.directory_add("zhangsan", name="张三", department="销售部")
        vendor.directory_add("wangjingli", name="王经理", department="财务部")
        vendor.login_user = "zhangsan"
        conf = vendor.sso_settings()
        SocialApp.objects.create(provider=platform, name=platform, client_id=conf["client_id"],
                                 secret=conf["secret"], settings=conf["settings"])
        vendor.add_template(TEMPLATES[platform], "档案借阅", OA_FORM_LABELS)
        connector = connector_create(kind=platform, name=f"{platform}（演示）",
                                     settings={**vendor.connector_settings(),
                                               "loan_template": TEMPLATES[platform]})
        callback_url = f"{live_server.url}/oa/{connector.pk}/callback"
        loan_rule_set(actor=archivist, fonds_code="Z001", mode="oa")
        record = _voucher(archivist)
        base = live_server.url

        # 1. In the OA: the workbench opens KJDA; in-app login, no password.
        page = phone.new_page()
        page.goto(f"{base}/m/{platform}/")
        page.wait_for_url(f"{base}/m/home/**")
        assert page.locator("input[type=password]").count() == 0

        # 2. A search finds nothing of it (out of scope); borrowing the search's results.
        page.fill("input[name=q]", "会议费")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*/records/\?.*q=.*"))
        expect(page.locator("body")).not_to_contain_text(TITLE)
        page.click("#borrow-results")
        page.fill("input[name=purpose]", "核对会议费报销")
        page.check("input[name=rights][value=download]")
        page.click("#loan-form button[type=submit]")
        expect(page.locator("#loan-state")).to_have_text("待审批")
        loan_no = page.locator("#loan-no").inner_text().strip()
        assert loan_no.startswith("JY-")

        # 3. The request is an approval in the OA; the approver agrees there; it comes back.
        _worker()
        approval = approval_find(kind="loan", reference=loan_no)
        assert approval is not None and approval.state == "submitted", approval
        assert approval.instance_id in vendor.instances
        vendor.instance_decide(approval.instance_id, approved=True,
                               approver={"id": "wangjingli", "name": "王经理"},
                               comment="同意，请按期归还", callback_url=callback_url)
        _worker()
        page.reload()
        expect(page.locator("#loan-state")).to_have_text("借阅中")

        # 4. The record opens on the phone with the loan named and a watermarked preview.
        page.goto(f"{base}/records/{record.pk}/")
        expect(page.locator("body")).to_contain_text(TITLE)
        expect(page.locator("#loan-grant")).to_contain_text(loan_no)
        preview = page.locator(".pdf-pages img").first
        expect(preview).to_be_visible()
        image = page.request.get(base + preview.get_attribute("src"))
        found = watermark_read(image.body(), key=watermark_key())
        assert found is not None and found.verified
        assert (found.mark.person, found.mark.loan_no) == ("张三", loan_no)

        # 5. The download is watermarked: visible text and the signed mark; traced by the CLI.
        page.click(".section-nav a[href='#files']")
        with page.expect_download() as dl:
            page.click("table.files a.download")
        data = Path(dl.value.path()).read_bytes()
        found = watermark_read(data, key=watermark_key())
        assert found is not None and found.verified
        assert (found.mark.person, found.mark.loan_no) == ("张三", loan_no)
        from pypdf import PdfReader

        text = "".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)
        assert "张三" in text and loan_no in text
        copy = dl.value.path()
        capsys.readouterr()
        assert cmd_watermark_inspect(argparse.Namespace(file=str(copy), mark_id=None)) == 0
        out = capsys.readouterr().out
        assert loan_no in out and "张三" in out and "verified" in out

        # 6. The period ends on the simulated clock: the record leaves the borrower's view.
        with time_machine.travel(timezone.now() + timedelta(days=40), tick=True):
            loans_expire()  # the daily job
            page.goto(f"{base}/m/{platform}/?next=/records/{record.pk}/")
            # (WeCom's #wechat_redirect fragment stays on the URL, as browsers keep it)
            page.wait_for_url(re.compile(re.escape(f"{base}/records/{record.pk}/") + "(#.*)?$"))
            expect(page.locator("h1")).to_have_text("此档案不在您的查阅范围内")
            expect(page.locator("body")).not_to_contain_text(TITLE)
            page.goto(f"{base}/records/?q=会议费")
            expect(page.locator("body")).not_to_contain_text(TITLE)
            page.goto(f"{base}/loans/mine/")
            expect(page.locator("#loans")).to_contain_text("已到期")

            # 7. The archivist's 借阅登记簿 lists the loan, approved in the OA, now ended.
            arc = desk.new_page()
            login(arc, base)
            arc.goto(f"{base}/loans/register/?year={loan_no.split('-')[1]}")  # the loan's year
            register = arc.locator("#loan-register")
            expect(register).to_contain_text(loan_no)
            expect(register).to_contain_text("王经理")
    finally:
        phone.close()
        desk.close()
        sim.stop()
