"""Issue 15 item 13: the login lockout can't be used to lock the administrators out. The
per-account lockout stays (keyed by the username alone, whatever Host the request names), each
client address is throttled (allauth's rate limits, on the web login and the token endpoint
alike), the security administrator unlocks an account, and a lockout of an administrator
account raises an alert."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client

from kjda.audit.models import AuditEvent
from kjda_oasim.factories import user_with_roles

pytestmark = pytest.mark.django_db

PASSWORD = "Lockout-Pass-2024!"


def _user(django_user_model, name: str, roles: list[str]):
    return user_with_roles(name, roles, password=PASSWORD)


def _login(username: str, password: str, **extra):
    c = Client(**extra)
    resp = c.post("/login/", {"login": username, "password": password})
    return c, resp


def _logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def _lock(username: str, settings) -> None:
    for _ in range(settings.KJDA_LOGIN_FAILURES):
        _login(username, "wrong-password")


def test_the_lockout_holds_whatever_host_the_request_names(fonds, django_user_model, settings):
    _user(django_user_model, "clerk", ["accountant"])
    for n in range(settings.KJDA_LOGIN_FAILURES):
        _login("clerk", "wrong-password", HTTP_HOST=f"host{n}.example")
    c, _ = _login("clerk", PASSWORD, HTTP_HOST="another.example")
    assert not _logged_in(c)


def test_the_token_endpoint_throttles_each_address_like_the_login(fonds, django_user_model,
                                                                  settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "3/1m/ip"}
    _user(django_user_model, "clerk", ["accountant"])
    got = []
    for n in range(4):  # a different account each time: the per-account lockout never trips
        resp = Client().post("/api/v1/auth/token", json.dumps(
            {"username": f"someone{n}", "password": "x"}), content_type="application/json")
        got.append(resp.status_code)
    assert got == [401, 401, 401, 429]
    assert resp.json()["code"] == "rate_limited"
    # another address is not affected
    other = Client(REMOTE_ADDR="192.0.2.7").post("/api/v1/auth/token", json.dumps(
        {"username": "clerk", "password": PASSWORD}), content_type="application/json")
    assert other.status_code == 200


def test_the_web_login_throttles_each_address(fonds, django_user_model, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "3/1m/ip"}
    _user(django_user_model, "clerk", ["accountant"])
    for n in range(3):
        _login(f"someone{n}", "x")
    c, resp = _login("clerk", PASSWORD)
    assert resp.status_code == 429 and not _logged_in(c)


def test_the_security_administrator_unlocks_an_account(fonds, django_user_model, settings):
    _user(django_user_model, "clerk", ["accountant"])
    sec = Client()
    sec.force_login(_user(django_user_model, "sec", ["secadmin"]))
    _lock("clerk", settings)
    c, _ = _login("clerk", PASSWORD)
    assert not _logged_in(c)  # locked
    # not everyone may unlock
    arch = Client()
    arch.force_login(_user(django_user_model, "arch", ["archivist"]))
    assert arch.post("/api/v1/users/clerk/unlock").status_code == 403
    assert sec.post("/api/v1/users/nobody/unlock").status_code == 404
    assert sec.post("/api/v1/users/clerk/unlock").status_code == 204
    c, _ = _login("clerk", PASSWORD)
    assert _logged_in(c)
    event = AuditEvent.objects.get(action="user.unlock", object_id="clerk")
    assert event.actor_name == "sec"


def test_the_users_page_has_the_unlock_button(fonds, django_user_model, settings):
    _user(django_user_model, "clerk", ["accountant"])
    sec = Client()
    sec.force_login(_user(django_user_model, "sec", ["secadmin"]))
    page = sec.get("/users/").content.decode()
    assert 'name="action" value="unlock"' in page
    _lock("clerk", settings)
    resp = sec.post("/users/", {"action": "unlock", "username": "clerk"})
    assert resp.status_code == 302
    c, _ = _login("clerk", PASSWORD)
    assert _logged_in(c)
    assert AuditEvent.objects.filter(action="user.unlock", object_id="clerk").exists()


def test_a_locked_administrator_raises_an_alert(fonds, django_user_model, settings, caplog):
    _user(django_user_model, "sec", ["secadmin"])
    _user(django_user_model, "clerk", ["accountant"])
    with caplog.at_level(logging.WARNING, logger="kjda"):
        _lock("sec", settings)
        _lock("clerk", settings)
    admin = AuditEvent.objects.get(action="auth.lockout", object_id="sec")
    assert admin.detail["alert"] is True and admin.outcome == "failure"
    clerk = AuditEvent.objects.get(action="auth.lockout", object_id="clerk")
    assert clerk.detail["alert"] is False
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("sec" in r.getMessage() and "ADMINISTRATOR" in r.getMessage() for r in errors)
    # the token endpoint's failures count toward the same lockout (and its alert)
    _user(django_user_model, "aud", ["auditadmin"])
    for _ in range(settings.KJDA_LOGIN_FAILURES):
        Client().post("/api/v1/auth/token", json.dumps({"username": "aud", "password": "x"}),
                      content_type="application/json")
    assert AuditEvent.objects.get(action="auth.lockout", object_id="aud").detail["alert"]


def test_behind_a_proxy_each_client_is_throttled_on_its_own_address(fonds, django_user_model,
                                                                    settings):
    """KJDA_TRUST_PROXY: the per-address limit counts the client's address, not the proxy's
    (else one attacker would throttle every login), and a prepended X-Forwarded-For entry
    doesn't escape it."""
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "3/1m/ip"}
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = settings.KJDA_TRUST_PROXY = 1

    def attempt(xff: str) -> int:
        return Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=xff).post(
            "/api/v1/auth/token", json.dumps({"username": "nobody", "password": "x"}),
            content_type="application/json").status_code

    assert [attempt("198.51.100.1") for _ in range(4)] == [401, 401, 401, 429]
    assert attempt("203.0.113.9, 198.51.100.1") == 429  # spoofed entry on the left
    assert attempt("198.51.100.2") == 401  # another client behind the same proxy
