"""In a phone-sized browser (390×844) inside a simulated OA client: a notice's link
/m/<platform>/?next=/records/<id>/ signs the person in through the platform's in-app login
(DingTalk's and Feishu's JSSDK stand-ins served by the OA simulator, WeCom's silent
snsapi_base redirect) and lands on the record, with no password form on the way."""

from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

USER_AGENTS = {  # what the OA clients' built-in browsers send
    "dingtalk": "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Mobile Safari/537.36 "
                "AliApp(DingTalk/7.5.0) com.alibaba.android.rimet/7.5.0",
    "wecom": "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Mobile Safari/537.36 "
             "wxwork/4.1.0 MicroMessenger/7.0.1 Language/zh",
    "feishu": "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Mobile Safari/537.36 "
              "Lark/7.1.0 LarkLocale/zh_CN",
}


def _claim(actor, title: str, applicant: str):
    from kjda.ingest.metadata import FileMetaIn, metadata_parse
    from kjda.ingest.pipeline import IncomingFile
    from kjda.ingest.services import record_ingest
    from kjda_oasim.factories import voucher_pdf

    day = date(2024, 3, 15)
    pdf = voucher_pdf(number="0001", summary=title, amount=Decimal("88.00"), day=day)
    meta = metadata_parse({"category": "记账凭证", "fiscal_year": 2024, "period": 3,
                           "title": title, "date": day.isoformat(), "document_no": "记-0001",
                           "department": "销售部", "applicant": applicant})
    return record_ingest(metadata=meta, actor=actor, files=[IncomingFile(
        stream=io.BytesIO(pdf), filename="1.pdf", meta=FileMetaIn(document_type="记账凭证"))]
    ).record


@pytest.mark.parametrize("platform", ["dingtalk", "wecom", "feishu"])
def test_a_notice_link_opens_the_record_through_in_app_login(live_server, chromium_browser,
                                                            fonds, archivist, platform):
    from allauth.socialaccount.models import SocialApp

    from kjda.audit.models import AuditEvent
    from kjda_oasim.core import OASimulator
    from kjda_oasim.dingtalk import DingTalkSim
    from kjda_oasim.feishu import FeishuSim
    from kjda_oasim.wecom.sim import WeComSim

    vendor = {"dingtalk": DingTalkSim, "wecom": WeComSim, "feishu": FeishuSim}[platform]()
    sim = OASimulator([vendor])
    sim.start()
    context = chromium_browser.new_context(viewport={"width": 390, "height": 844},
                                           user_agent=USER_AGENTS[platform], locale="zh-CN",
                                           is_mobile=True, has_touch=True)
    try:
        vendor.directory_add("zhangsan", name="张三", department="销售部")
        vendor.login_user = "zhangsan"  # signed in to the OA client
        conf = vendor.sso_settings()
        SocialApp.objects.create(provider=platform, name=platform, client_id=conf["client_id"],
                                 secret=conf["secret"], settings=conf["settings"])
        record = _claim(archivist, "差旅报销单 张三", "张三")

        page = context.new_page()
        context.set_default_timeout(20_000)
        seen: list[str] = []
        page.on("framenavigated", lambda frame: seen.append(frame.url))
        page.goto(f"{live_server.url}/m/{platform}/?next=/records/{record.pk}/")
        page.wait_for_url(re.compile(re.escape(f"{live_server.url}/records/{record.pk}/")))
        expect(page.locator("body")).to_contain_text("差旅报销单 张三")
        assert page.locator("input[type=password]").count() == 0
        assert not any("/login/" in url and "/m/" not in url for url in seen), seen
        # the light home fits the phone: no horizontal scrolling
        page.goto(f"{live_server.url}/m/home/")
        expect(page.locator("#mine")).to_be_visible()
        expect(page.locator("body")).to_contain_text("差旅报销单 张三")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.locator(".m-main").bounding_box()["width"] >= 0.9 * 390  # uses the screen
        assert AuditEvent.objects.filter(action="auth.sso", detail__provider=platform,
                                         actor__username="zhangsan").exists()
    finally:
        context.close()
        sim.stop()


def test_outside_the_oa_the_entry_page_offers_the_normal_login(live_server, chromium_browser):
    from allauth.socialaccount.models import SocialApp

    from kjda_oasim.core import OASimulator
    from kjda_oasim.dingtalk import DingTalkSim

    dingtalk = DingTalkSim()
    sim = OASimulator([dingtalk])
    sim.start()
    context = chromium_browser.new_context(viewport={"width": 390, "height": 844},
                                           locale="zh-CN")
    try:
        conf = dingtalk.sso_settings()  # nobody signed in: the script says notInDingTalk
        SocialApp.objects.create(provider="dingtalk", name="钉钉", client_id=conf["client_id"],
                                 secret=conf["secret"], settings=conf["settings"])
        page = context.new_page()
        page.goto(f"{live_server.url}/m/dingtalk/?next=/records/1/")
        page.wait_for_url("**/m/dingtalk/failed/**")
        expect(page.locator("[role=alert]")).to_contain_text("请在钉钉、企业微信或飞书中打开本页面")
        page.click("text=使用账号登录")
        page.wait_for_url("**/login/?next=%2Frecords%2F1%2F")
    finally:
        context.close()
        sim.stop()
