"""Issue 15 item 1 (pages): every HTML page carries a strict Content-Security-Policy and has
nothing in it that such a policy would block (inline script, event-handler attributes, hx-on,
inline style attributes); a response that sets its own policy (file downloads) keeps it."""

from __future__ import annotations

import re

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import path

from kjda.urls import urlpatterns as _kjda_urlpatterns


def _own_policy(request):
    response = HttpResponse(b"%PDF-1.7", content_type="application/pdf")
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


# The project's URLs plus one view that sets its own policy, as the file downloads do.
urlpatterns = [*_kjda_urlpatterns, path("test-own-csp/", _own_policy)]

REQUIRED = {
    "default-src": "'self'", "script-src": "'self'", "style-src": "'self'",
    "object-src": "'none'", "base-uri": "'self'", "frame-ancestors": "'self'",
    "form-action": "'self'",
}


def _policy(response) -> dict[str, str]:
    header = response.get("Content-Security-Policy")
    assert header, f"{response.request['PATH_INFO']}: no Content-Security-Policy"
    return {d.split()[0]: " ".join(d.split()[1:]) for d in header.split(";") if d.strip()}


def assert_strict_page(response, status: int = 200) -> None:
    path_info = response.request["PATH_INFO"]
    assert response.status_code == status, (path_info, response.status_code)
    assert response["Content-Type"].startswith("text/html")
    policy = _policy(response)
    for directive, value in REQUIRED.items():
        assert policy.get(directive) == value, (path_info, directive, policy.get(directive))
    header = response["Content-Security-Policy"]
    assert "unsafe-inline" not in header and "unsafe-eval" not in header
    html = response.content.decode()
    # What the policy would block: inline scripts, handlers, hx-on, style attributes.
    inline_scripts = [m for m in re.findall(r"<script\b[^>]*>", html, re.I)
                      if "src=" not in m and "application/json" not in m]
    assert not inline_scripts, (path_info, inline_scripts)
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", html, re.I), path_info
    assert not re.search(r"\shx-on", html, re.I), path_info
    assert not re.search(r"<[^>]+\sstyle\s*=", html, re.I), path_info
    assert "<style" not in html, path_info
    assert "javascript:" not in html.lower(), path_info
    # htmx is told not to inject styles nor to evaluate code.
    if "htmx" in html:
        assert '"includeIndicatorStyles":false' in html and '"allowEval":false' in html


def _client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def secadmin(db, django_user_model):
    from kjda.accounts.models import Profile
    from kjda_oasim.factories import totp_activate

    user = django_user_model.objects.create_user("sec", password="Sec-Admin-Pass-2024!")
    Profile.objects.create(user=user, roles=["secadmin"])
    totp_activate(user)
    return user


@pytest.fixture
def record(api, voucher_files, voucher_metadata):
    resp = api.post_record(voucher_metadata, voucher_files)
    assert resp.status_code == 201, resp.content
    return resp.json()


@pytest.mark.django_db
def test_anonymous_pages_have_a_strict_policy():
    assert_strict_page(Client().get("/login/"))
    # Django's CSRF failure page (an expired form) is ours, without its inline <style>.
    refused = Client(enforce_csrf_checks=True).post("/login/", {"login": "x", "password": "y"})
    assert_strict_page(refused, status=403)
    assert "CSRF" in refused.content.decode()


def test_every_page_of_an_archivist_has_a_strict_policy(archivist, record):
    from kjda.connectors.services import connector_create

    connector = connector_create(kind="webhook", name="ERP", settings={
        "signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
    c = _client(archivist)
    for url in ["/", "/records/", f"/records/{record['id']}/", "/records/new/", "/tokens/",
                "/retention/", "/connectors/", "/connectors/new/", "/intake/", "/password/",
                f"/connectors/{connector.pk}/", "/connectors/new/?kind=dingtalk",
                "/records/?q=%E5%B7%AE%E6%97%85&status=filed"]:
        assert_strict_page(c.get(url))
    # An htmx partial (the results table only) carries it too.
    partial = c.get("/records/?page=1", HTTP_HX_REQUEST="true")
    assert partial.status_code == 200 and "<html" not in partial.content.decode()
    assert _policy(partial)["script-src"] == "'self'"


def test_administrator_and_mfa_pages_have_a_strict_policy(secadmin, django_user_model):
    admin = _client(secadmin)
    for url in ["/users/", "/accounts/2fa/"]:
        assert_strict_page(admin.get(url))
    from kjda.accounts.models import Profile

    # An administrator without TOTP is sent to allauth's TOTP set-up page (in our layout):
    # its QR code is a data: image, the only thing img-src admits beyond 'self'.
    newcomer = django_user_model.objects.create_user("sys", password="Sys-Admin-Pass-2024!")
    Profile.objects.create(user=newcomer, roles=["sysadmin"])
    c = Client()
    c.post("/login/", {"login": "sys", "password": "Sys-Admin-Pass-2024!"})
    again = c.get("/", follow=True)  # allauth asks for the password again first
    assert again.request["PATH_INFO"] == "/accounts/reauthenticate/"
    assert_strict_page(again)
    c.post("/accounts/reauthenticate/", {"password": "Sys-Admin-Pass-2024!"})
    setup = c.get("/accounts/2fa/totp/activate/")
    assert 'src="data:image/svg+xml;base64,' in setup.content.decode()
    assert_strict_page(setup)
    assert _policy(setup)["img-src"] == "'self' data:"


@pytest.mark.django_db
def test_api_docs_are_served_from_our_origin():
    docs = Client().get("/api/v1/docs")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower() and "/static/ninja/swagger-ui-bundle.js" in html
    assert _policy(docs)["script-src"] == "'self'"


@pytest.mark.urls(__name__)
@pytest.mark.django_db
def test_a_response_with_its_own_policy_keeps_it():
    resp = Client().get("/test-own-csp/")
    assert resp["Content-Security-Policy"] == "sandbox; default-src 'none'"


@pytest.mark.django_db
def test_sso_login_forms_may_be_redirected_to_the_configured_providers_only():
    from allauth.socialaccount.models import SocialApp

    # The SSO buttons post to us and are redirected to the provider: form-action admits the
    # configured providers' origins (Chromium checks the redirect too), nothing else.
    SocialApp.objects.create(provider="dingtalk", name="钉钉", client_id="id", secret="s",
                             settings={"login_base_url": "http://127.0.0.1:9911/dingtalk"})
    page = Client().get("/login/")
    form_action = _policy(page)["form-action"].split()
    assert form_action == ["'self'", "http://127.0.0.1:9911", "https://login.dingtalk.com"]
    assert _policy(page)["script-src"] == "'self'"
