"""DingTalk, WeCom and Feishu login against the OA simulator's login endpoints; provisioning
with the department from the OA directory; the issue's "done when" for DingTalk."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from kjda.accounts.tests.conftest import oa_login
from kjda_oasim.factories import metadata_json, voucher_pdf


def _user(client: Client):
    from django.contrib.auth import get_user_model

    uid = client.session.get("_auth_user_id")
    return get_user_model().objects.get(pk=uid) if uid else None


@pytest.mark.parametrize(("kind", "authorize_path"), [
    ("dingtalk", "/dingtalk/login/oauth2/auth"),
    ("wecom", "/wecom/login/wwlogin/sso/login"),
    ("feishu", "/feishu/accounts/open-apis/authen/v1/authorize"),
])
def test_oa_login_provisions_an_employee_with_the_directory_department(
        oa_sim, sso_apps, kind, authorize_path):
    from allauth.socialaccount.models import SocialAccount

    from kjda.accounts.models import Profile
    from kjda.audit.models import AuditEvent

    client = Client()
    authorize, done = oa_login(client, kind, "zhangsan")
    assert urlsplit(authorize).path == authorize_path
    assert done.status_code == 302 and done["Location"] == "/", done.content[:1500]
    user = _user(client)
    profile = Profile.objects.get(user=user)
    assert profile.roles == ["employee"]
    assert (profile.person_name, profile.department, profile.mobile) == \
        ("张三", "销售部", "13800000001")
    account = SocialAccount.objects.get(user=user, provider=kind)
    expected_uid = oa_sim.vendors["feishu"].open_id("zhangsan") if kind == "feishu" \
        else "zhangsan"
    assert account.uid == expected_uid
    assert AuditEvent.objects.filter(action="auth.sso", actor=user,
                                     detail__provider=kind).exists()
    assert AuditEvent.objects.filter(action="auth.login", actor=user).exists()


def test_dingtalk_authorize_request_follows_the_vendor_docs(oa_sim, sso_apps):
    client = Client()
    authorize, done = oa_login(client, "dingtalk", "lisi")
    q = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    assert q["client_id"] == oa_sim.vendors["dingtalk"].app_key
    assert q["response_type"] == "code" and q["prompt"] == "consent" and q["state"]
    assert set(q["scope"].split()) == {"openid", "corpid"}
    assert done.status_code == 302  # the callback carried `authCode`, not `code`


def test_wecom_in_app_login_uses_the_oauth2_authorize_url(oa_sim, sso_apps):
    app = sso_apps["wecom"]
    app.settings = {**app.settings, "mode": "inapp"}
    app.save()
    client = Client()
    authorize, done = oa_login(client, "wecom", "lisi")
    assert urlsplit(authorize).path == "/wecom/open/connect/oauth2/authorize"
    assert authorize.endswith("#wechat_redirect") and "scope=snsapi_base" in authorize
    assert done.status_code == 302 and _user(client).username == "lisi"


def test_feishu_login_uses_pkce(oa_sim, sso_apps):
    client = Client()
    authorize, done = oa_login(client, "feishu", "lisi")
    assert "code_challenge_method=S256" in authorize
    assert done.status_code == 302


def test_a_person_who_is_not_in_the_organisation_is_refused(oa_sim, sso_apps):
    from kjda.audit.models import AuditEvent

    wecom = oa_sim.vendors["wecom"]
    client = Client()
    start = client.post("/accounts/wecom/login/")
    import httpx

    answer = httpx.get(start["Location"] + "&sim_user=lisi", follow_redirects=False)
    wecom.directory_remove("lisi")  # left between scanning and the callback
    back = urlsplit(answer.headers["location"])
    done = client.get(back.path + "?" + back.query)
    assert done.status_code == 401 and _user(client) is None
    assert AuditEvent.objects.filter(action="auth.failed", detail__provider="wecom").exists()


def test_existing_user_is_matched_by_mobile(oa_sim, sso_apps, django_user_model):
    from kjda.accounts.models import Profile

    mine = django_user_model.objects.create_user("zs.local", password="Some-Pass-2024-x")
    Profile.objects.create(user=mine, roles=["accountant"], mobile="13800000001")
    client = Client()
    _, done = oa_login(client, "dingtalk", "zhangsan")
    assert done.status_code == 302 and _user(client) == mine


def test_no_provisioning_when_turned_off(oa_sim, sso_apps, settings):
    settings.KJDA_SSO_PROVISION = False
    client = Client()
    _, done = oa_login(client, "feishu", "zhangsan")
    assert done.status_code == 403 and _user(client) is None
    assert "sso_no_account" in done.content.decode()


def test_employee_logged_in_through_dingtalk_sees_only_their_own_claims(
        oa_sim, sso_apps, fonds, token):
    """Issue #4, done when: an employee who logs in through the simulated DingTalk sees only
    their own claims (records where they are the applicant)."""
    from kjda.audit.models import AuditEvent

    archivist = Client(headers={"Authorization": f"Bearer {token}"})
    ids = {}
    for n, applicant in enumerate(["张三", "李四", "张三", "王芳"]):
        meta = metadata_json(department="销售部", applicant=applicant, document_no=f"记-{n}",
                             title=f"差旅报销 {n}")
        pdf = voucher_pdf(number=f"记-{n}", summary=f"报销 {n}", amount=Decimal("100.00"),
                          day=date(2024, 3, 15))
        resp = archivist.post("/api/v1/records", {
            "metadata": meta, "files": [SimpleUploadedFile(f"{n}.pdf", pdf)]})
        assert resp.status_code == 201, resp.content
        ids[n] = resp.json()["id"]
    own = {ids[0], ids[2]}

    employee = Client()
    _, done = oa_login(employee, "dingtalk", "zhangsan")
    assert done.status_code == 302
    listing = employee.get("/api/v1/records")
    assert listing.status_code == 200, listing.content[:300]
    assert {r["id"] for r in listing.json()["items"]} == own
    for n, record_id in ids.items():
        expected = 200 if record_id in own else 404
        assert employee.get(f"/api/v1/records/{record_id}").status_code == expected, n
        page = employee.get(f"/records/{record_id}/")
        # issue 18: another's record is the "request access" page (403), never its content
        assert page.status_code == (200 if record_id in own else 403)
        assert (f"差旅报销 {n}" in page.content.decode()) == (record_id in own)
    web_list = employee.get("/records/").content.decode()
    assert "差旅报销 0" in web_list and "差旅报销 2" in web_list
    assert "差旅报销 1" not in web_list and "差旅报销 3" not in web_list
    user = _user(employee)
    assert AuditEvent.objects.filter(actor=user, outcome="denied").count() >= 2


def test_a_callback_without_our_state_is_refused_and_audited(oa_sim, sso_apps):
    """A code injected into someone else's browser (login CSRF): no state of this session."""
    import httpx

    from kjda.audit.models import AuditEvent

    attacker = Client()
    start = attacker.post("/accounts/dingtalk/login/")
    answer = httpx.get(start["Location"] + "&sim_user=lisi", follow_redirects=False)
    back = urlsplit(answer.headers["location"])
    victim = Client()
    done = victim.get(back.path + "?" + back.query)
    assert done.status_code == 401 and _user(victim) is None
    assert AuditEvent.objects.filter(action="auth.failed", detail__channel="sso",
                                     detail__provider="dingtalk",
                                     detail__reason="state_missing").exists()


def test_a_system_account_of_the_same_name_is_never_matched(oa_sim, sso_apps):
    from kjda.accounts.services import system_user

    system = system_user(name="zhangsan")  # an account automatic steps act as (no profile)
    client = Client()
    _, done = oa_login(client, "dingtalk", "zhangsan")
    assert done.status_code == 302
    me = _user(client)
    assert me != system and me.username == "dingtalk-zhangsan"
