"""`kjda serve`'s first run in the browser: the bootstrap `admin` logs in with the generated
password, must change it, is then led to set up TOTP (it holds secadmin, so it is not exempt),
reaches the dashboard, and sees the task of splitting its two roles."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

GENERATED = "Generated-Pw-2024"
CHOSEN = "Chosen-Admin-Pass-2025!"


def test_the_bootstrap_admin_changes_the_password_then_sets_up_totp(live_server, browser_page,
                                                                   fonds, django_user_model):
    from kjda.accounts.services import user_grant_bootstrap_roles
    from kjda_oasim.factories import totp_code

    # what kjda serve's first start does (kjda.cli.site_prepare)
    user_grant_bootstrap_roles(user=django_user_model.objects.create_user("admin", "", GENERATED),
                               generated_password=True)
    page, base = browser_page, live_server.url
    page.goto(base + "/")
    page.wait_for_url("**/login/**")
    page.fill("input[name=login]", "admin")
    page.fill("input[name=password]", GENERATED)
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/password/")
    page.fill("input[name=old_password]", GENERATED)
    page.fill("input[name=new_password1]", CHOSEN)
    page.fill("input[name=new_password2]", CHOSEN)
    with page.expect_navigation():
        page.click("main button[type=submit]")
    # then the second factor: allauth may ask for the password once more first
    page.wait_for_url("**/accounts/**")
    if "/accounts/reauthenticate/" in page.url:
        page.fill("input[name=password]", CHOSEN)
        page.click("main button[type=submit]")
    page.wait_for_url("**/accounts/2fa/totp/activate/**")
    secret = page.input_value("#authenticator_secret")
    page.fill("input[name=code]", totp_code(secret))
    with page.expect_navigation():
        page.click("main button[type=submit]")
    page.goto(base + "/")
    expect(page.locator("h1")).to_contain_text("概览")
    expect(page.locator("#separation-task")).to_be_visible()
