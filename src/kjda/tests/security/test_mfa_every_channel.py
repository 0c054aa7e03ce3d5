"""Issue 15 item 3: the second factor and the forced password change hold on every channel.
An account whose roles need TOTP (the three administrators, and the bootstrap `admin`, which
holds secadmin) or that must change its password gets no API access and no API token until it
has done so: 403 `mfa_required` / `password_change_required` for a session, a bearer token and
the password-token endpoint alike. A token for an account with TOTP takes a TOTP code (or a
session that passed it)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from kjda.accounts.models import ApiToken, Profile
from kjda.accounts.services import token_issue
from kjda.audit.models import AuditEvent
from kjda_oasim.factories import totp_activate, totp_code

pytestmark = pytest.mark.django_db

PASSWORD = "Mfa-Channel-Pass-2024!"


def _user(django_user_model, name: str, roles: list[str], **profile):
    user = django_user_model.objects.create_user(name, password=PASSWORD)
    Profile.objects.create(user=user, roles=roles, **profile)
    return user


def _password_token(username: str, **extra):
    return Client().post("/api/v1/auth/token", json.dumps(
        {"username": username, "password": PASSWORD, **extra}), content_type="application/json")


def _assert_refused(resp, code: str) -> None:
    assert resp.status_code == 403, resp.content
    body = resp.json()
    assert body["code"] == code
    assert body["message_zh"] and body["message_en"] and body["message"]


@pytest.mark.parametrize("role", ["sysadmin", "secadmin", "auditadmin"])
def test_an_administrator_without_totp_gets_no_api_access_on_any_channel(
        fonds, django_user_model, role):
    user = _user(django_user_model, "boss", [role])
    session = Client()
    session.force_login(user)
    _assert_refused(session.get("/api/v1/me"), "mfa_required")
    # a token made before (or behind the rule's back) is refused too
    raw = token_issue(user=user, name="old")[1]
    _assert_refused(Client(headers={"Authorization": f"Bearer {raw}"}).get("/api/v1/me"),
                    "mfa_required")
    _assert_refused(_password_token("boss"), "mfa_required")
    _assert_refused(session.post("/api/v1/auth/tokens", json.dumps({"name": "x"}),
                                 content_type="application/json"), "mfa_required")
    assert list(ApiToken.objects.filter(user=user).values_list("name", flat=True)) == ["old"]
    assert AuditEvent.objects.filter(action="access.denied", outcome="denied",
                                     detail__reason="mfa_required").count() >= 3
    # once the second factor is set up, the API opens, but not to the token issued before it
    # (on a password alone)
    totp_activate(user)
    assert session.get("/api/v1/me").status_code == 200
    _assert_refused(Client(headers={"Authorization": f"Bearer {raw}"}).get("/api/v1/me"),
                    "mfa_required")
    fresh = token_issue(user=user, name="new")[1]
    assert Client(headers={"Authorization": f"Bearer {fresh}"}).get("/api/v1/me").status_code \
        == 200


def test_an_account_that_must_change_its_password_gets_no_api_access(fonds, django_user_model):
    user = _user(django_user_model, "newbie", ["accountant"], must_change_password=True)
    session = Client()
    session.force_login(user)
    _assert_refused(session.get("/api/v1/records"), "password_change_required")
    raw = token_issue(user=user, name="old")[1]
    _assert_refused(Client(headers={"Authorization": f"Bearer {raw}"}).get("/api/v1/records"),
                    "password_change_required")
    _assert_refused(_password_token("newbie"), "password_change_required")
    # the web leads to the password change; after it, the API opens
    assert session.get("/records/")["Location"] == "/password/"
    session.post("/password/", {"old_password": PASSWORD, "new_password1": "Changed-Pass-2025!",
                                "new_password2": "Changed-Pass-2025!"})
    assert session.get("/api/v1/records").status_code == 200


def test_the_password_token_endpoint_takes_the_totp_code_once(fonds, django_user_model):
    user = _user(django_user_model, "sec", ["secadmin"])
    secret = totp_activate(user)
    _assert_refused(_password_token("sec"), "mfa_required")
    _assert_refused(_password_token("sec", totp="000000"), "totp_invalid")
    code = totp_code(secret)
    ok = _password_token("sec", totp=code)
    assert ok.status_code == 200, ok.content
    users = Client(headers={"Authorization": f"Bearer {ok.json()['token']}"})
    assert users.get("/api/v1/users").status_code == 200
    _assert_refused(_password_token("sec", totp=code), "totp_invalid")  # no replay
    assert AuditEvent.objects.filter(action="auth.failed", object_id="sec").exists()


def test_a_session_without_a_second_factor_mints_a_token_only_with_a_code(
        fonds, django_user_model):
    user = _user(django_user_model, "sec", ["secadmin"])
    secret = totp_activate(user)
    session = Client()
    session.force_login(user)  # a session that did not pass the second factor
    _assert_refused(session.post("/api/v1/auth/tokens", json.dumps({"name": "x"}),
                                 content_type="application/json"), "mfa_required")
    page = session.get("/tokens/")
    assert 'name="totp"' in page.content.decode()
    refused = session.post("/tokens/", {"action": "create", "name": "web"})
    assert refused.status_code == 403 and not ApiToken.objects.filter(name="web").exists()
    made = session.post("/api/v1/auth/tokens", json.dumps(
        {"name": "x", "totp": totp_code(secret)}), content_type="application/json")
    assert made.status_code == 201, made.content


def test_the_tokens_page_takes_the_code_in_its_form(fonds, django_user_model):
    user = _user(django_user_model, "sec", ["secadmin"])
    secret = totp_activate(user)
    session = Client()
    session.force_login(user)
    page = session.post("/tokens/", {"action": "create", "name": "web",
                                     "totp": totp_code(secret)})
    assert page.status_code == 200 and ApiToken.objects.filter(name="web").exists()


def test_a_session_that_passed_the_second_factor_at_login_mints_without_a_code(
        fonds, django_user_model):
    user = _user(django_user_model, "sec", ["secadmin"])
    secret = totp_activate(user)
    c = Client()
    assert c.post("/login/", {"login": "sec", "password": PASSWORD})["Location"] \
        == "/accounts/2fa/authenticate/"
    assert c.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)}).status_code == 302
    made = c.post("/api/v1/auth/tokens", json.dumps({"name": "x", "scopes": ["read"]}),
                  content_type="application/json")
    assert made.status_code == 201, made.content
    assert 'name="totp"' not in c.get("/tokens/").content.decode()


def test_the_bootstrap_admin_is_not_exempt(fonds, django_user_model):
    from kjda.accounts.services import user_grant_bootstrap_roles

    admin = django_user_model.objects.create_user("admin", password=PASSWORD)
    user_grant_bootstrap_roles(user=admin, generated_password=True)
    c = Client()
    c.force_login(admin)
    assert c.get("/")["Location"] == "/password/"
    _assert_refused(c.get("/api/v1/me"), "password_change_required")
    c.post("/password/", {"old_password": PASSWORD, "new_password1": "Changed-Pass-2025!",
                          "new_password2": "Changed-Pass-2025!"})
    assert c.get("/")["Location"] == "/accounts/2fa/totp/activate/"  # then the second factor
    _assert_refused(c.get("/api/v1/me"), "mfa_required")
    _assert_refused(Client().post("/api/v1/auth/token", json.dumps(
        {"username": "admin", "password": "Changed-Pass-2025!"}),
        content_type="application/json"), "mfa_required")
    totp_activate(admin)
    assert c.get("/").status_code == 200
    assert c.get("/api/v1/me").status_code == 200


def test_the_requirement_can_be_turned_off_for_a_test_instance(fonds, django_user_model,
                                                               settings):
    settings.KJDA_MFA_REQUIRED_ROLES = []
    user = _user(django_user_model, "sec", ["secadmin"])
    assert _password_token("sec").status_code == 200
    c = Client()
    c.force_login(user)
    assert c.get("/users/").status_code == 200


def test_kjda_serve_warns_at_every_start_when_mfa_is_off(monkeypatch, capsys, settings):
    import kjda.server
    from kjda import cli

    monkeypatch.setattr(cli, "django_setup", lambda: None)
    monkeypatch.setattr(cli, "site_prepare", lambda **_: None)
    monkeypatch.setattr(cli, "_node_keys_ok", lambda: True)  # no database in this test
    monkeypatch.setattr(kjda.server, "serve", lambda **_: None)
    settings.KJDA_MFA_REQUIRED_ROLES = []
    assert cli.main(["serve", "--port", "8999"]) == 0
    assert "KJDA_MFA_REQUIRED_ROLES=none" in capsys.readouterr().err
    settings.KJDA_MFA_REQUIRED_ROLES = ["secadmin"]
    assert cli.main(["serve", "--port", "8999"]) == 0
    assert "KJDA_MFA_REQUIRED_ROLES" not in capsys.readouterr().err
    settings.KJDA_MFA_REQUIRED_ROLES = ["secadmn"]  # a typo is not silently "off" for secadmin
    assert cli.main(["serve", "--port", "8999"]) == 0
    assert "unknown roles: secadmn" in capsys.readouterr().err



def test_the_demo_simulator_acts_as_its_own_archivist_not_as_admin(fonds):
    """`kjda demo` hands the OA simulator a token: of its own content-role account, since the
    bootstrap admin's token is refused until admin has TOTP."""
    from kjda.accounts.services import system_user
    from kjda.errors import DomainError

    sim = system_user(name="kjda-demo-oa", roles=["archivist"])
    raw = token_issue(user=sim, name="sim", ttl_hours=24)[1]
    assert Client(headers={"Authorization": f"Bearer {raw}"}).get(
        "/api/v1/connectors").status_code == 200
    with pytest.raises(DomainError):
        system_user(name="kjda-demo-sec", roles=["secadmin"])
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(username="kjda-demo-sec").exists()
