"""In the browser: an employee clicks 钉钉 on the login page, picks themselves on the simulated
DingTalk login page, comes back logged in, and the archive shows only their own claims."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _claim(actor, n: int, applicant: str):
    from kjda.ingest.metadata import FileMetaIn, metadata_parse
    from kjda.ingest.pipeline import IncomingFile
    from kjda.ingest.services import record_ingest
    from kjda_oasim.factories import voucher_pdf

    day = date(2024, 3, 15)
    pdf = voucher_pdf(number=f"{n:04d}", summary=f"报销 {n}", amount=Decimal("88.00"), day=day)
    meta = metadata_parse({"category": "记账凭证", "fiscal_year": 2024, "period": 3,
                           "title": f"差旅报销单 {n}", "date": day.isoformat(),
                           "document_no": f"记-{n:04d}", "department": "销售部",
                           "applicant": applicant})
    return record_ingest(metadata=meta, actor=actor, files=[IncomingFile(
        stream=io.BytesIO(pdf), filename=f"{n}.pdf",
        meta=FileMetaIn(document_type="记账凭证"))]).record


def test_employee_logs_in_with_dingtalk_and_sees_only_own_claims(live_server, browser_page,
                                                                fonds, archivist):
    from allauth.socialaccount.models import SocialApp

    from kjda.audit.models import AuditEvent
    from kjda_oasim.core import OASimulator
    from kjda_oasim.dingtalk import DingTalkSim

    sim = OASimulator([DingTalkSim()])
    sim.start()
    try:
        dingtalk = sim.vendors["dingtalk"]
        dingtalk.directory_add("zhangsan", name="张三", department="销售部")
        dingtalk.directory_add("lisi", name="李四", department="销售部")
        conf = dingtalk.sso_settings()
        SocialApp.objects.create(provider="dingtalk", name="钉钉", client_id=conf["client_id"],
                                 secret=conf["secret"], settings=conf["settings"])
        for n, who in enumerate(["张三", "李四", "张三"], start=1):
            _claim(archivist, n, who)

        page = browser_page
        page.goto(live_server.url + "/login/")
        page.click("button[data-provider=dingtalk]")
        page.wait_for_url(sim.base_url + "/dingtalk/login/oauth2/auth**")
        page.click("text=张三")
        page.wait_for_url(live_server.url + "/")
        page.goto(live_server.url + "/records/")
        expect(page.locator("body")).to_contain_text("差旅报销单 1")
        expect(page.locator("body")).to_contain_text("差旅报销单 3")
        expect(page.locator("body")).not_to_contain_text("差旅报销单 2")
        assert AuditEvent.objects.filter(action="auth.sso", detail__provider="dingtalk",
                                         detail__oa_user_id="zhangsan").exists()
    finally:
        sim.stop()
