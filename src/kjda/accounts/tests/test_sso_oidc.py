"""Standard OIDC login (code + PKCE, nonce) against a real OpenID provider on loopback."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from django.test import Client

from kjda.testing.oidc_op import OIDCProvider


@pytest.fixture
def op():
    provider = OIDCProvider(client_id="kjda-test")
    provider.start()
    provider.add_user("u-1001", name="王芳", preferred_username="wangfang",
                      email="wangfang@example.com", department="财务部")
    yield provider
    provider.stop()


@pytest.fixture
def idp_app(db, op):
    from allauth.socialaccount.models import SocialApp

    return SocialApp.objects.create(provider="oidc", provider_id="idp", name="统一认证",
                                    client_id=op.client_id, secret=op.client_secret,
                                    settings={"server_url": op.issuer,
                                              "department_claim": "department"})


def sso_login(client: Client, login_url: str, *, follow_op=None):
    """The whole redirect dance: KJDA → provider (a real HTTP request) → KJDA callback."""
    start = client.post(login_url)
    assert start.status_code == 302, start.content[:500]
    authorize = start["Location"]
    answer = httpx.get(authorize, follow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text[:500]
    back = urlsplit(answer.headers["location"])
    assert back.netloc == "testserver"
    return authorize, client.get(back.path + "?" + back.query)


def logged_in_user(client: Client):
    from django.contrib.auth import get_user_model

    uid = client.session.get("_auth_user_id")
    return get_user_model().objects.get(pk=uid) if uid else None


def test_oidc_login_with_pkce_and_nonce_provisions_the_user(op, idp_app):
    from allauth.socialaccount.models import SocialAccount

    from kjda.accounts.models import Profile
    from kjda.audit.models import AuditEvent

    client = Client()
    authorize, done = sso_login(client, "/accounts/oidc/idp/login/")
    assert done.status_code == 302 and done["Location"] == "/", done.content[:800]
    params = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    assert params["code_challenge_method"] == "S256" and len(params["nonce"]) >= 32
    verifier = op.token_requests[-1]["code_verifier"]
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert digest.rstrip(b"=").decode() == params["code_challenge"]

    user = logged_in_user(client)
    assert user is not None and user.username == "wangfang"
    assert not user.has_usable_password()
    profile = Profile.objects.get(user=user)
    assert profile.roles == ["employee"] and profile.person_name == "王芳"
    assert profile.department == "财务部"  # from the `department_claim` claim
    assert SocialAccount.objects.get(user=user).uid == "u-1001"
    assert AuditEvent.objects.filter(action="user.provision", object_id="wangfang").exists()
    sso = AuditEvent.objects.get(action="auth.sso", actor=user)
    assert sso.detail["provider"] == "idp" and sso.detail["matched_by"] == "provisioned"

    # A second login finds the linked account (no second user).
    client2 = Client()
    _, again = sso_login(client2, "/accounts/oidc/idp/login/")
    assert again.status_code == 302 and logged_in_user(client2) == user
    assert AuditEvent.objects.filter(action="auth.sso", actor=user,
                                     detail__matched_by="linked").exists()


@pytest.mark.parametrize(("tamper", "reason"), [
    ({"other_key": True}, "Invalid id_token"),  # signed by a key not in the JWKS
    ({"iss": "https://evil.example"}, "Invalid id_token"),
    ({"aud": "someone-else"}, "Invalid id_token"),
    ({"exp_delta": -60}, "Invalid id_token"),  # expired
    ({"nonce": "not-the-one-we-sent"}, "nonce"),
    ({"nonce": None}, "nonce"),  # no nonce at all
], ids=["bad-signature", "wrong-issuer", "wrong-audience", "expired", "wrong-nonce",
        "missing-nonce"])
def test_oidc_refuses_a_bad_id_token(op, idp_app, tamper, reason):
    from django.contrib.auth import get_user_model

    from kjda.audit.models import AuditEvent

    op.tamper = tamper
    client = Client()
    _, done = sso_login(client, "/accounts/oidc/idp/login/")
    assert done.status_code == 401  # allauth's authentication error page
    assert logged_in_user(client) is None
    assert not get_user_model().objects.filter(username="wangfang").exists()
    refusal = AuditEvent.objects.filter(action="auth.failed", outcome="failure",
                                        detail__channel="sso").last()
    assert refusal is not None and refusal.detail["provider"] == "idp"
    assert reason in refusal.detail["reason"]


def test_oidc_matches_an_existing_user_by_email_not_an_administrator(op, idp_app):
    from django.contrib.auth import get_user_model

    from kjda.accounts.models import Profile

    users = get_user_model().objects
    admin = users.create_user("secadmin1", email="boss@example.com", password="x-Pass-2024-long")
    Profile.objects.create(user=admin, roles=["secadmin"])
    clerk = users.create_user("clerk", email="wangfang@example.com",
                              password="x-Pass-2024-long")
    Profile.objects.create(user=clerk, roles=["accountant"], departments=["财务部"])
    client = Client()
    _, done = sso_login(client, "/accounts/oidc/idp/login/")
    assert done.status_code == 302
    assert logged_in_user(client) == clerk
    assert Profile.objects.get(user=clerk).roles == ["accountant"]  # roles are KJDA's own

    op.add_user("u-2", name="Boss", email="boss@example.com")
    op.current_user = "u-2"
    client2 = Client()
    _, done = sso_login(client2, "/accounts/oidc/idp/login/")
    new = logged_in_user(client2)
    assert new is not None and new != admin  # never matched onto a 三员 account
    assert Profile.objects.get(user=new).roles == ["employee"]


def test_oidc_refuses_a_deactivated_user(op, idp_app):
    from django.contrib.auth import get_user_model

    from kjda.audit.models import AuditEvent

    _, first = sso_login(Client(), "/accounts/oidc/idp/login/")
    assert first.status_code == 302
    get_user_model().objects.filter(username="wangfang").update(is_active=False)
    client = Client()
    _, done = sso_login(client, "/accounts/oidc/idp/login/")
    assert done.status_code == 403 and logged_in_user(client) is None
    assert AuditEvent.objects.filter(action="auth.failed",
                                     detail__reason="account_inactive").exists()


def test_login_page_shows_the_configured_provider(idp_app):
    page = Client().get("/login/").content.decode()
    assert 'action="/accounts/oidc/idp/login/' in page and "统一认证" in page


def test_an_sso_user_with_totp_still_gives_the_second_factor(op, idp_app):
    from kjda.testing.factories import totp_activate

    _, first = sso_login(Client(), "/accounts/oidc/idp/login/")
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="wangfang")
    totp_activate(user)
    client = Client()
    _, done = sso_login(client, "/accounts/oidc/idp/login/")
    assert done.status_code == 302 and "/2fa/authenticate/" in done["Location"]
    assert logged_in_user(client) is None  # not in until the code is given
