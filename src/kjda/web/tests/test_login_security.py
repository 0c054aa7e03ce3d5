"""Login with django-allauth: lockout after repeated failures, TOTP for administrators, and the
same rules for API tokens."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from kjda.accounts.models import Profile
from kjda.audit.models import AuditEvent
from kjda_oasim.factories import totp_activate, totp_code

pytestmark = pytest.mark.django_db

PASSWORD = "Login-Sec-Pass-2024!"


@pytest.fixture
def secadmin(django_user_model):
    user = django_user_model.objects.create_user("sec", password=PASSWORD)
    Profile.objects.create(user=user, roles=["secadmin"])
    return user


def _login(client, username, password):
    return client.post("/login/", {"login": username, "password": password})


def test_repeated_failures_lock_the_account_even_for_the_right_password(archivist, settings):
    c = Client()
    for _ in range(settings.KJDA_LOGIN_FAILURES):
        assert _login(c, "archivist", "wrong-password").status_code == 200
    locked = _login(Client(), "archivist", "Archive-Pass-2024")
    assert locked.status_code in (200, 429)
    assert "_auth_user_id" not in locked.client.session
    assert AuditEvent.objects.filter(action="auth.failed", object_id="archivist").count() \
        == settings.KJDA_LOGIN_FAILURES + 1
    # and the API refuses the same account: one lockout for every way in
    resp = Client().post("/api/v1/auth/token", json.dumps(
        {"username": "archivist", "password": "Archive-Pass-2024"}),
        content_type="application/json")
    assert resp.status_code == 429 and resp.json()["code"] == "account_locked"


def test_an_administrator_without_a_second_factor_must_set_one_up_first(secadmin):
    c = Client()
    resp = _login(c, "sec", PASSWORD)
    assert resp.status_code == 302
    assert c.get("/users/")["Location"] == "/accounts/2fa/totp/activate/"
    # django-allauth asks for the password again before a second factor is added
    again = c.get("/accounts/2fa/totp/activate/")
    assert again["Location"].startswith("/accounts/reauthenticate/")
    c.post(again["Location"], {"password": PASSWORD})
    page = c.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    secret = page.context["form"].secret
    done = c.post("/accounts/2fa/totp/activate/", {"code": totp_code(secret)})
    assert done.status_code == 302
    assert c.get("/users/").status_code == 200  # now in


def test_with_totp_the_login_takes_the_code_and_a_wrong_code_is_refused(secadmin):
    secret = totp_activate(secadmin)
    c = Client()
    step = _login(c, "sec", PASSWORD)
    assert step.status_code == 302 and step["Location"] == "/accounts/2fa/authenticate/"
    assert c.get("/users/").status_code == 302  # not logged in yet
    bad = c.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert bad.status_code == 200
    good = c.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    assert good.status_code == 302
    assert c.get("/users/").status_code == 200
    assert AuditEvent.objects.filter(action="auth.login", actor=secadmin).exists()


def test_a_password_alone_gets_no_api_token_for_a_two_factor_account(secadmin):
    totp_activate(secadmin)
    resp = Client().post("/api/v1/auth/token", json.dumps(
        {"username": "sec", "password": PASSWORD}), content_type="application/json")
    assert resp.status_code == 403 and resp.json()["code"] == "mfa_required"
