"""Issue 15, item 15: single sign-on never hands over someone else's account.

Through the real HTTP flow: KJDA → the OpenID provider on loopback (or the OA simulator) →
KJDA's callback. An IdP user whose e-mail, phone or username looks like a local account's gets
a new account unless the claim is vouched for; the look-alike's account is left untouched."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.test import Client

from kjda.accounts.tests.conftest import logged_in_user, oa_login, sso_login

LOGIN = "/accounts/oidc/idp/login/"


@pytest.fixture
def victim(db, django_user_model):
    from kjda.accounts.models import Profile

    user = django_user_model.objects.create_user("clerk", email="li.kuaiji@corp.example",
                                                  password="x-Pass-2024-long")
    Profile.objects.create(user=user, roles=["accountant"], person_name="李会计",
                           department="财务部", mobile="13900000009")
    return user


def _as(op, **claims):
    op.add_user("evil", **{"name": "Mallory", "department": "营销部", **claims})
    op.current_user = "evil"


def _untouched(victim) -> None:
    from allauth.socialaccount.models import SocialAccount

    from kjda.accounts.models import Profile

    profile = Profile.objects.get(user=victim)
    assert (profile.person_name, profile.department, profile.mobile) == \
        ("李会计", "财务部", "13900000009")
    assert not SocialAccount.objects.filter(user=victim).exists()


@pytest.mark.parametrize("claims", [
    {"email": "li.kuaiji@corp.example"},  # email_verified absent: not verified
    {"email": "LI.KUAIJI@corp.example", "email_verified": False},
    {"email": "li.kuaiji@corp.example", "email_verified": "false"},
    {"phone_number": "13900000009"},  # phone_number_verified absent (was never read)
    {"phone_number": "13900000009", "phone_number_verified": "false"},
    {"preferred_username": "clerk"},  # not a stable or unique identifier (OIDC Core §5.7)
], ids=["email-flag-absent", "email-false", "email-string-false", "phone-flag-absent",
        "phone-string-false", "preferred-username"])
def test_an_unvouched_look_alike_gets_a_new_account_and_the_victim_is_untouched(
        op, idp_app, victim, claims):
    from kjda.accounts.models import Profile
    from kjda.audit.models import AuditEvent

    _as(op, **claims)
    client = Client()
    _, done = sso_login(client, LOGIN)
    assert done.status_code == 302, done.content[:500]
    me = logged_in_user(client)
    assert me is not None and me != victim
    assert me.username == "idp-evil" and me.email == ""
    assert Profile.objects.get(user=me).person_name == ""  # not "Mallory" from the IdP
    _untouched(victim)
    sso = AuditEvent.objects.get(action="auth.sso", actor=me)
    assert sso.detail["matched_by"] == "provisioned" and sso.detail["unvouched"]


@pytest.mark.parametrize("claims", [
    {"email": "Li.Kuaiji@corp.example", "email_verified": True},
    {"email": "li.kuaiji@corp.example", "email_verified": "true"},  # as some IdPs send it
    {"phone_number": "13900000009", "phone_number_verified": True},
], ids=["email-true", "email-string-true", "phone-true"])
def test_a_verified_claim_links_the_account_without_renaming_it(op, idp_app, victim, claims):
    from allauth.socialaccount.models import SocialAccount

    from kjda.accounts.models import Profile
    from kjda.audit.models import AuditEvent

    _as(op, **claims)
    for _ in range(2):  # the matching login, then the linked one
        client = Client()
        _, done = sso_login(client, LOGIN)
        assert done.status_code == 302 and logged_in_user(client) == victim
    assert SocialAccount.objects.get(user=victim).uid == "evil"
    profile = Profile.objects.get(user=victim)
    # A generic IdP's `name` never renames the account (it decides what an employee reads).
    assert (profile.person_name, profile.department) == ("李会计", "财务部")
    by = set(AuditEvent.objects.filter(action="auth.sso", actor=victim)
             .values_list("detail__matched_by", flat=True))
    assert by == {"email" if "email" in claims else "mobile", "linked"}


def test_an_idp_configured_as_the_directory_matches_the_username(op, idp_app, victim):
    from kjda.accounts.models import Profile

    idp_app.settings = {**idp_app.settings, "directory": True}
    idp_app.save()
    _as(op, preferred_username="clerk", name="李会计（新）")
    client = Client()
    _, done = sso_login(client, LOGIN)
    assert done.status_code == 302 and logged_in_user(client) == victim
    assert Profile.objects.get(user=victim).person_name == "李会计"  # matched: not renamed
    _, again = sso_login(Client(), LOGIN)
    assert again.status_code == 302  # linked: the directory's name and department apply
    profile = Profile.objects.get(user=victim)
    assert (profile.person_name, profile.department) == ("李会计（新）", "营销部")


def test_no_provisioning_refuses_an_unverified_look_alike_and_audits_why(
        op, idp_app, victim, settings):
    from django.contrib.auth import get_user_model

    from kjda.audit.models import AuditEvent

    settings.KJDA_SSO_PROVISION = False
    _as(op, email="li.kuaiji@corp.example")
    client = Client()
    _, done = sso_login(client, LOGIN)
    assert done.status_code == 403 and logged_in_user(client) is None
    page = done.content.decode()
    assert "sso_no_account" in page and "li.kuaiji" not in page  # no account enumeration
    _untouched(victim)
    assert get_user_model().objects.count() == 1
    refusal = AuditEvent.objects.get(action="auth.failed", detail__channel="sso")
    assert refusal.detail["reason"] == "unverified_email"
    assert refusal.detail["unvouched"] == ["email"]


def test_directory_vouched_dingtalk_mobile_links_and_renames_only_once_linked(
        oa_sim, sso_apps, django_user_model):
    from allauth.socialaccount.models import SocialAccount

    from kjda.accounts.models import Profile

    mine = django_user_model.objects.create_user("zs.local", password="Some-Pass-2024-x")
    Profile.objects.create(user=mine, roles=["accountant"], person_name="张三（旧）",
                           mobile="13800000001")
    client = Client()
    _, done = oa_login(client, "dingtalk", "zhangsan")
    assert done.status_code == 302 and logged_in_user(client) == mine
    assert SocialAccount.objects.get(user=mine).uid == "zhangsan"
    assert Profile.objects.get(user=mine).person_name == "张三（旧）"  # the matching login
    _, again = oa_login(Client(), "dingtalk", "zhangsan")
    assert again.status_code == 302
    profile = Profile.objects.get(user=mine)  # linked: the enterprise directory is the source
    assert (profile.person_name, profile.department) == ("张三", "销售部")


def test_an_sso_user_is_never_asked_for_a_password_it_was_never_given(op, idp_app):
    from kjda.accounts.models import Profile

    client = Client()
    _, done = sso_login(client, LOGIN)
    assert done.status_code == 302
    me = logged_in_user(client)
    assert not me.has_usable_password()
    assert not Profile.objects.get(user=me).must_change_password
    home = client.get("/")
    assert home.status_code == 200  # not sent to the password change
    # Even if an administrator flags it, the page offers to set one (no "current password").
    Profile.objects.filter(user=me).update(must_change_password=True)
    assert client.get("/")["Location"] == "/password/"
    page = client.get("/password/").content.decode()
    assert 'name="old_password"' not in page and 'name="new_password1"' in page
    done = client.post("/password/", {"new_password1": "Fresh-Pass-2026-ok",
                                       "new_password2": "Fresh-Pass-2026-ok"})
    assert done.status_code == 302, done.content[:800]
    me.refresh_from_db()
    assert me.check_password("Fresh-Pass-2026-ok")
    assert client.get("/").status_code == 200


def test_logout_ends_the_idp_session_too(op, idp_app):
    op.post_logout_redirect_uris = {"http://testserver/login/"}
    client = Client()
    _, done = sso_login(client, LOGIN)
    assert done.status_code == 302
    id_token = op.issued_id_tokens[-1]
    out = client.post("/logout/")
    assert out.status_code == 302 and logged_in_user(client) is None
    target = urlsplit(out["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == op.issuer + "/logout"
    q = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert q["id_token_hint"] == id_token and q["client_id"] == op.client_id
    assert q["post_logout_redirect_uri"] == "http://testserver/login/"
    back = httpx.get(out["Location"], follow_redirects=False, timeout=10)
    assert back.status_code == 302 and back.headers["location"] == "http://testserver/login/"
    assert op.logged_out == ["u-1001"]


def test_logout_stays_local_without_an_end_session_endpoint_or_sso(op, idp_app, django_user_model):
    op.rp_logout = False
    client = Client()
    sso_login(client, LOGIN)
    assert client.post("/logout/")["Location"] == "/login/"
    # A password login after a refused SSO attempt keeps nothing of the IdP.
    django_user_model.objects.create_user("pw", password="x-Pass-2024-long")
    op.rp_logout = True
    op.tamper = {"nonce": "wrong"}
    other = Client()
    sso_login(other, LOGIN)
    assert other.post("/login/", {"login": "pw", "password": "x-Pass-2024-long"}).status_code == 302
    assert other.post("/logout/")["Location"] == "/login/" and not op.end_session_requests


def test_a_replayed_id_token_is_refused_with_the_reason(op, idp_app):
    from kjda.audit.models import AuditEvent

    op.tamper = {"jti": "one-and-only"}
    _, first = sso_login(Client(), LOGIN)
    assert first.status_code == 302
    client = Client()
    _, done = sso_login(client, LOGIN)
    assert done.status_code == 401 and logged_in_user(client) is None
    refusal = AuditEvent.objects.get(action="auth.failed", detail__channel="sso")
    assert refusal.detail["reason"] == "replay"


def test_a_replayed_callback_is_refused_with_the_reason(op, idp_app):
    from kjda.audit.models import AuditEvent

    client = Client()
    start = client.post(LOGIN)
    answer = httpx.get(start["Location"], follow_redirects=False, timeout=10)
    back = urlsplit(answer.headers["location"])
    assert client.get(back.path + "?" + back.query).status_code == 302
    again = Client().get(back.path + "?" + back.query)  # the same callback URL, replayed
    assert again.status_code == 401
    refusal = AuditEvent.objects.get(action="auth.failed", detail__channel="sso")
    assert refusal.detail["reason"] == "state_missing"


@pytest.mark.parametrize(("error", "reason"), [("server_error", "idp_error:server_error"),
                                               ("access_denied", "cancelled")])
def test_an_idp_error_is_audited_with_the_reason(op, idp_app, error, reason):
    from kjda.audit.models import AuditEvent

    client = Client()
    start = client.post(LOGIN)
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    client.get(f"/accounts/oidc/idp/login/callback/?state={state}&error={error}")
    refusal = AuditEvent.objects.get(action="auth.failed", detail__channel="sso")
    assert refusal.detail["reason"] == reason


def test_a_provisioned_username_keeps_to_safe_characters(op, idp_app):
    op.add_user("auth0|abc def", email="x@example.com")
    op.current_user = "auth0|abc def"
    client = Client()
    _, done = sso_login(client, LOGIN)
    assert done.status_code == 302 and logged_in_user(client).username == "idp-auth0_abc_def"
