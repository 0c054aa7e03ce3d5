"""Standard OIDC login (code + PKCE, nonce) against a real OpenID provider on loopback."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from kjda.accounts.tests.conftest import logged_in_user, sso_login


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
    # A generic IdP's `preferred_username`, `name` and department are the user's own choice
    # there: an employee's scope (their name) is not taken from it (README "Single sign-on").
    assert user is not None and user.username == "idp-u-1001"
    assert not user.has_usable_password() and user.email == ""  # e-mail not verified
    profile = Profile.objects.get(user=user)
    assert profile.roles == ["employee"] and profile.person_name == ""
    assert profile.department == "" and not profile.must_change_password
    assert SocialAccount.objects.get(user=user).uid == "u-1001"
    assert AuditEvent.objects.filter(action="user.provision", object_id="idp-u-1001").exists()
    sso = AuditEvent.objects.get(action="auth.sso", actor=user)
    assert sso.detail["provider"] == "idp" and sso.detail["matched_by"] == "provisioned"

    # A second login finds the linked account (no second user).
    client2 = Client()
    _, again = sso_login(client2, "/accounts/oidc/idp/login/")
    assert again.status_code == 302 and logged_in_user(client2) == user
    assert AuditEvent.objects.filter(action="auth.sso", actor=user,
                                     detail__matched_by="linked").exists()


@pytest.mark.parametrize(("tamper", "reason"), [
    ({"other_key": True}, "bad_signature"),  # signed by a key not in the JWKS
    ({"iss": "https://evil.example"}, "wrong_issuer"),
    ({"aud": "someone-else"}, "wrong_audience"),
    ({"exp_delta": -60}, "expired"),
    ({"nonce": "not-the-one-we-sent"}, "nonce_mismatch"),
    ({"nonce": None}, "nonce_mismatch"),  # no nonce at all
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
    assert not get_user_model().objects.filter(username="idp-u-1001").exists()
    refusal = AuditEvent.objects.filter(action="auth.failed", outcome="failure",
                                        detail__channel="sso").last()
    assert refusal is not None and refusal.detail["provider"] == "idp"
    assert refusal.detail["reason"] == reason  # why, not "unknown" or "Invalid id_token"


def test_oidc_matches_an_existing_user_by_email_not_an_administrator(op, idp_app):
    from django.contrib.auth import get_user_model

    from kjda.accounts.models import Profile

    users = get_user_model().objects
    admin = users.create_user("secadmin1", email="boss@example.com", password="x-Pass-2024-long")
    Profile.objects.create(user=admin, roles=["secadmin"])
    clerk = users.create_user("clerk", email="wangfang@example.com",
                              password="x-Pass-2024-long")
    Profile.objects.create(user=clerk, roles=["accountant"], departments=["财务部"])
    op.users["u-1001"]["email_verified"] = True  # only a verified e-mail matches
    client = Client()
    _, done = sso_login(client, "/accounts/oidc/idp/login/")
    assert done.status_code == 302
    assert logged_in_user(client) == clerk
    assert Profile.objects.get(user=clerk).roles == ["accountant"]  # roles are KJDA's own

    op.add_user("u-2", name="Boss", email="boss@example.com", email_verified=True)
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
    get_user_model().objects.filter(username="idp-u-1001").update(is_active=False)
    client = Client()
    _, done = sso_login(client, "/accounts/oidc/idp/login/")
    assert done.status_code == 403 and logged_in_user(client) is None
    assert AuditEvent.objects.filter(action="auth.failed",
                                     detail__reason="account_inactive").exists()


def test_login_page_shows_the_configured_provider(idp_app):
    page = Client().get("/login/").content.decode()
    assert 'action="/accounts/oidc/idp/login/' in page and "统一认证" in page


def test_an_sso_user_with_totp_still_gives_the_second_factor(op, idp_app):
    from kjda_oasim.factories import totp_activate

    _, first = sso_login(Client(), "/accounts/oidc/idp/login/")
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="idp-u-1001")
    totp_activate(user)
    client = Client()
    _, done = sso_login(client, "/accounts/oidc/idp/login/")
    assert done.status_code == 302 and "/2fa/authenticate/" in done["Location"]
    assert logged_in_user(client) is None  # not in until the code is given
