"""In-app login (免登) from inside the OA, against the OA simulator: DingTalk's JSAPI code and
`topapi/v2/user/getuserinfo`, WeCom's snsapi_base redirect and `cgi-bin/auth/getuserinfo`,
Feishu's JSSDK code and the OAuth token endpoint; the entry page /m/, its refusals, no open
redirect, the vendor script admitted on that page only, and OA notices linking through it."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.test import Client

from kjda.accounts.tests.conftest import logged_in_user

JSAPI_PLATFORMS = ["dingtalk", "feishu"]


def _code_from_script(url: str) -> str | None:
    """What the OA client's script hands the page: fetched as the browser would."""
    body = httpx.get(url, timeout=10).text
    return json.loads(re.search(r"code = (null|\"[^\"]*\")", body).group(1))


def _entry(client: Client, platform: str, next_url: str = "/records/7/"):
    page = client.get(f"/m/{platform}/", {"next": next_url})
    assert page.status_code == 200, page.content[:500]
    html = page.content.decode()
    script = re.search(r'<script src="(http[^"]+)"', html).group(1)
    return page, html, script


@pytest.mark.parametrize("platform", JSAPI_PLATFORMS)
def test_jsapi_in_app_login_lands_on_next_without_a_password(oa_sim, sso_apps, platform):
    from kjda.accounts.models import Profile
    from kjda.audit.models import AuditEvent

    vendor = oa_sim.vendors[platform]
    vendor.login_user = "zhangsan"
    client = Client()
    page, html, script = _entry(client, platform)
    assert script == sso_apps[platform].settings["jsapi_url"]
    client_id = vendor.corp_id if platform == "dingtalk" else vendor.app_id
    assert f'data-client-id="{client_id}"' in html
    assert 'type="password"' not in html
    # the vendor's script host is admitted on this page only
    script_src = re.search(r"script-src ([^;]+)", page["Content-Security-Policy"]).group(1)
    assert script_src.split() == ["'self'", oa_sim.base_url]
    login_policy = client.get("/login/")["Content-Security-Policy"]
    assert re.search(r"script-src ([^;]+)", login_policy).group(1) == "'self'"

    done = client.post(f"/m/{platform}/login/", {"code": _code_from_script(script),
                                                 "next": "/records/7/"})
    assert done.status_code == 302 and done["Location"] == "/records/7/", done.content[:800]
    user = logged_in_user(client)
    profile = Profile.objects.get(user=user)
    assert (profile.person_name, profile.department) == ("张三", "销售部")
    assert profile.roles == ["employee"] and not user.has_usable_password()
    assert AuditEvent.objects.filter(action="auth.sso", actor=user,
                                     detail__provider=platform).exists()
    assert AuditEvent.objects.filter(action="auth.login", actor=user).exists()


def test_dingtalk_code_is_resolved_with_getuserinfo_and_the_app_token(oa_sim, sso_apps):
    dingtalk = oa_sim.vendors["dingtalk"]
    dingtalk.login_user = "lisi"
    client = Client()
    _, _, script = _entry(client, "dingtalk")
    code = _code_from_script(script)
    oa_sim.requests.clear()
    client.post("/m/dingtalk/login/", {"code": code})
    paths = [p for _, p in oa_sim.requests]
    assert paths[:2] == ["/dingtalk/oapi/gettoken", "/dingtalk/oapi/topapi/v2/user/getuserinfo"]
    assert "/dingtalk/api/v1.0/oauth2/userAccessToken" not in paths  # not the web login's
    assert logged_in_user(client).username == "lisi"


def test_wecom_in_app_login_is_a_silent_snsapi_base_redirect(oa_sim, sso_apps):
    wecom = oa_sim.vendors["wecom"]
    wecom.login_user = "zhangsan"  # signed in to the WeCom client
    client = Client()
    start = client.get("/m/wecom/", {"next": "/records/7/"})
    assert start.status_code == 302
    authorize = start["Location"]
    assert authorize.startswith(oa_sim.base_url + "/wecom/open/connect/oauth2/authorize?")
    assert authorize.endswith("#wechat_redirect")
    q = {k: v[0] for k, v in parse_qs(urlsplit(authorize.split("#")[0]).query).items()}
    assert (q["appid"], q["scope"], q["agentid"]) == (wecom.corp_id, "snsapi_base",
                                                      str(wecom.agent_id))
    assert q["redirect_uri"] == "http://testserver/m/wecom/callback/"
    answer = httpx.get(authorize.split("#")[0], follow_redirects=False, timeout=10)
    back = urlsplit(answer.headers["location"])
    done = client.get(back.path + "?" + back.query)
    assert done.status_code == 302 and done["Location"] == "/records/7/"
    assert logged_in_user(client).username == "zhangsan"
    # the state is single use
    again = client.get(back.path + "?" + back.query)
    assert again.status_code == 400


@pytest.mark.parametrize("platform", JSAPI_PLATFORMS)
def test_a_bad_or_replayed_code_is_refused_and_audited(oa_sim, sso_apps, platform):
    from kjda.audit.models import AuditEvent

    oa_sim.vendors[platform].login_user = "zhangsan"
    client = Client()
    _, _, script = _entry(client, platform)
    code = _code_from_script(script)
    bad = client.post(f"/m/{platform}/login/", {"code": "not-a-code"})
    assert bad.status_code == 403 and logged_in_user(client) is None
    html = bad.content.decode()
    assert "sso_inapp_refused" in html and "not a member" in html
    assert 'href="/login/' in html  # the normal login is offered
    assert AuditEvent.objects.filter(action="auth.failed", detail__channel="sso_inapp",
                                     detail__provider=platform).exists()
    assert client.post(f"/m/{platform}/login/", {"code": code}).status_code == 302
    replay = Client().post(f"/m/{platform}/login/", {"code": code})
    assert replay.status_code == 403


def test_a_dingtalk_person_who_left_is_refused(oa_sim, sso_apps):
    dingtalk = oa_sim.vendors["dingtalk"]
    dingtalk.login_user = "lisi"
    client = Client()
    _, _, script = _entry(client, "dingtalk")
    code = _code_from_script(script)
    dingtalk.directory_remove("lisi")  # left between opening the page and the exchange
    done = client.post("/m/dingtalk/login/", {"code": code})
    assert done.status_code == 403 and logged_in_user(client) is None


def test_a_wecom_non_member_is_refused(oa_sim, sso_apps):
    wecom = oa_sim.vendors["wecom"]
    wecom.login_user = "lisi"
    client = Client()
    authorize = client.get("/m/wecom/")["Location"].split("#")[0]
    back = urlsplit(httpx.get(authorize, follow_redirects=False).headers["location"])
    wecom.directory_remove("lisi")
    done = client.get(back.path + "?" + back.query)
    assert done.status_code == 403 and logged_in_user(client) is None


@pytest.mark.parametrize("next_url", ["https://evil.example/x", "//evil.example/x",
                                      "/\\evil.example", "javascript:alert(1)"])
def test_next_outside_this_site_is_dropped(oa_sim, sso_apps, next_url):
    oa_sim.vendors["dingtalk"].login_user = "zhangsan"
    client = Client()
    page, html, script = _entry(client, "dingtalk", next_url)
    assert "evil.example" not in html
    done = client.post("/m/dingtalk/login/", {"code": _code_from_script(script),
                                              "next": next_url})
    assert done.status_code == 302 and done["Location"] == "/m/home/"


def test_outside_the_oa_the_script_gives_no_code_and_the_page_offers_the_normal_login(
        oa_sim, sso_apps):
    client = Client()
    _, _, script = _entry(client, "dingtalk")
    assert _code_from_script(script) is None  # nobody signed in to the simulated client
    assert "notInDingTalk" in httpx.get(script).text
    page = client.get("/m/dingtalk/failed/", {"reason": "not_in_app", "next": "/records/7/"})
    html = page.content.decode()
    assert "请在钉钉、企业微信或飞书中打开本页面" in html and "open this page inside DingTalk" in html
    assert 'href="/login/?next=%2Frecords%2F7%2F"' in html
    english = Client(headers={"Accept-Language": "en"}).get("/m/dingtalk/failed/")
    assert "Sign in with an account" in english.content.decode()


def test_the_platform_comes_from_the_user_agent(oa_sim, sso_apps):
    ua = ("Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 Mobile Safari/537.36 "
          "AliApp(DingTalk/7.5.0) com.alibaba.android.rimet/7.5.0 language/zh-Hans-CN")
    page = Client(headers={"User-Agent": ua}).get("/m/")
    assert page.status_code == 200 and 'data-platform="dingtalk"' in page.content.decode()
    lark = Client(headers={"User-Agent": "Mozilla/5.0 Lark/7.1.0 LarkLocale/zh_CN"}).get("/m/")
    assert 'data-platform="feishu"' in lark.content.decode()
    wx = Client(headers={"User-Agent": "Mozilla/5.0 wxwork/4.1.0 MicroMessenger/7.0.1"})
    assert wx.get("/m/")["Location"].startswith(oa_sim.base_url + "/wecom/open/")
    plain = Client().get("/m/")
    assert plain.status_code == 200 and "sso_inapp_not_in_app" in plain.content.decode()


def test_an_unconfigured_platform_shows_the_failure_page(db):
    page = Client().get("/m/dingtalk/", {"next": "/records/1/"})
    assert page.status_code == 404 and "sso_inapp_not_configured" in page.content.decode()
    refused = Client().post("/m/weaver/login/", {"code": "x"})
    assert refused.status_code == 404


def test_home_lists_my_applications_search_and_my_loans(oa_sim, sso_apps, fonds, token):
    from datetime import date
    from decimal import Decimal

    from django.core.files.uploadedfile import SimpleUploadedFile

    from kjda_oasim.factories import metadata_json, voucher_pdf

    archivist = Client(headers={"Authorization": f"Bearer {token}"})
    for n, applicant in enumerate(["张三", "李四"]):
        pdf = voucher_pdf(number=f"记-{n}", summary="报销", amount=Decimal("100.00"),
                          day=date(2024, 3, 15))
        resp = archivist.post("/api/v1/records", {
            "metadata": metadata_json(department="销售部", applicant=applicant,
                                      document_no=f"记-{n}", title=f"差旅报销 {applicant}"),
            "files": [SimpleUploadedFile(f"{n}.pdf", pdf)]})
        assert resp.status_code == 201, resp.content
    oa_sim.vendors["feishu"].login_user = "zhangsan"
    client = Client()
    _, _, script = _entry(client, "feishu")
    done = client.post("/m/feishu/login/", {"code": _code_from_script(script)})
    assert done["Location"] == "/m/home/"
    html = client.get("/m/home/").content.decode()
    assert "差旅报销 张三" in html and "差旅报销 李四" not in html
    assert 'href="/loans/mine/"' in html and 'action="/records/"' in html
    # already signed in: the OA is still asked who is there (the in-app page again), while
    # /m/ opened outside any OA client goes straight on
    assert client.get("/m/feishu/", {"next": "/records/"}).status_code == 200
    assert client.get("/m/", {"next": "/records/"})["Location"] == "/records/"


@pytest.mark.parametrize(("kind", "expected"), [
    ("dingtalk", "/m/dingtalk/?next=/records/42/"), ("wecom", "/m/wecom/?next=/records/42/"),
    ("feishu", "/m/feishu/?next=/records/42/"), ("weaver", "/records/42/")])
def test_notices_link_records_through_the_in_app_entry_page(db, settings, kind, expected):
    from kjda.connectors.models import Connector
    from kjda.connectors.notices import notice_create, record_url

    connector = Connector.objects.create(kind=kind, name=kind, enabled=True)
    notice = notice_create(connector=connector, user_ids=["u1"], reason="x", title="t",
                           text="t", url=record_url(42), dedupe_key=f"k-{kind}")
    assert notice.url == settings.KJDA_PUBLIC_URL + expected


def test_a_script_url_that_is_no_web_origin_is_not_served(oa_sim, sso_apps):
    app = sso_apps["dingtalk"]
    app.settings = {**app.settings, "jsapi_url": "javascript:alert(1)"}
    app.save()
    page = Client().get("/m/dingtalk/")
    assert page.status_code == 404 and "javascript:" not in page.content.decode()


def test_with_provisioning_off_an_unknown_person_is_refused(oa_sim, sso_apps, settings):
    settings.KJDA_SSO_PROVISION = False
    oa_sim.vendors["feishu"].login_user = "lisi"
    client = Client()
    _, _, script = _entry(client, "feishu")
    done = client.post("/m/feishu/login/", {"code": _code_from_script(script)})
    assert done.status_code == 403 and logged_in_user(client) is None
    assert "sso_no_account" in done.content.decode()


def test_code_guessing_meets_the_login_rate_limit(oa_sim, sso_apps, settings):
    from django.core.cache import cache

    cache.clear()
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "2/1m/ip"}
    client = Client()
    answers = [client.post("/m/dingtalk/login/", {"code": f"guess-{n}"}).status_code
               for n in range(3)]
    assert answers == [403, 403, 429]


def test_a_phone_handed_to_another_person_opens_kjda_as_the_person_in_the_oa(oa_sim, sso_apps):
    """Someone signed in before (on this device's session): the entry page still asks the OA
    who is there, and the session becomes that person's."""
    dingtalk = oa_sim.vendors["dingtalk"]
    client = Client()
    dingtalk.login_user = "lisi"
    _, _, script = _entry(client, "dingtalk")
    client.post("/m/dingtalk/login/", {"code": _code_from_script(script)})
    assert logged_in_user(client).username == "lisi"
    dingtalk.login_user = "zhangsan"  # the OA client now has another person signed in
    _, _, script = _entry(client, "dingtalk")
    done = client.post("/m/dingtalk/login/", {"code": _code_from_script(script),
                                              "next": "/records/7/"})
    assert done.status_code == 302 and logged_in_user(client).username == "zhangsan"
    # outside the OA (no code), someone signed in just goes on to the page
    failed = client.get("/m/dingtalk/failed/", {"reason": "not_in_app", "next": "/records/7/"})
    assert failed.status_code == 302 and failed["Location"] == "/records/7/"
    assert client.get("/m/", {"next": "/records/7/"})["Location"] == "/records/7/"
