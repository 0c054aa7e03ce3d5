"""Login security in the browser: an account locks after repeated failures, and an
administrator sets up TOTP, then logs in with password and code."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _submit_login(page, base_url: str, username: str, password: str) -> None:
    page.goto(base_url + "/login/")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", password)
    page.click("form.stack button[type=submit]")


def test_the_account_locks_after_repeated_failures(live_server, browser_page, fonds, archivist,
                                                   settings):
    from kjda.audit.models import AuditEvent

    page = browser_page
    for _ in range(settings.KJDA_LOGIN_FAILURES):
        _submit_login(page, live_server.url, "archivist", "not-the-password")
        expect(page.locator("p.alert.error")).to_be_visible()
    _submit_login(page, live_server.url, "archivist", PASSWORD)  # right, but locked
    expect(page.locator("p.alert.error")).to_be_visible()
    assert "/login/" in page.url
    assert AuditEvent.objects.filter(action="auth.failed", object_id="archivist").count() \
        == settings.KJDA_LOGIN_FAILURES + 1


def test_an_administrator_sets_up_totp_and_then_logs_in_with_a_code(live_server, browser_page,
                                                                     fonds, django_user_model):
    from kjda.accounts.models import Profile
    from kjda_oasim.factories import totp_code

    user = django_user_model.objects.create_user("sec", password=PASSWORD)
    Profile.objects.create(user=user, roles=["secadmin"])
    page = browser_page
    _submit_login(page, live_server.url, "sec", PASSWORD)
    # straight to the second factor: django-allauth first asks for the password again
    page.wait_for_url("**/accounts/reauthenticate/**")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/accounts/2fa/totp/activate/**")
    secret = page.input_value("#authenticator_secret")
    page.fill("input[name=code]", totp_code(secret))
    # wait for the POST's answer: a goto right after the click would cancel the submission
    with page.expect_navigation():
        page.click("main button[type=submit]")
    page.goto(live_server.url + "/users/")
    expect(page.locator("h1")).to_contain_text("用户与权限")

    # a new session: password, then the code
    page.context.clear_cookies()
    _submit_login(page, live_server.url, "sec", PASSWORD)
    page.wait_for_url("**/accounts/2fa/authenticate/**")
    page.fill("input[name=code]", totp_code(secret))
    # wait for the POST's answer: a goto right after the click would cancel the submission
    with page.expect_navigation():
        page.click("main button[type=submit]")
    page.goto(live_server.url + "/users/")
    expect(page.locator("h1")).to_contain_text("用户与权限")
