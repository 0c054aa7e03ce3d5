"""Issue 15 item 14: with an https public URL (or a proxy that says the request came over
https) cookies are Secure, HSTS is sent and plain http is redirected; the http default is not."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.test import Client, override_settings

PASSWORD = "Archive-Pass-2024"


def _settings_under(env: dict[str, str]) -> dict:
    """The transport settings kjda.settings computes from this environment (a fresh process:
    settings are read once at start-up)."""
    code = (
        "import json, kjda.settings as s; print(json.dumps({k: getattr(s, k, None) for k in ("
        "'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_SSL_REDIRECT', "
        "'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_PROXY_SSL_HEADER', "
        "'SECURE_REDIRECT_EXEMPT', 'SECURE_REFERRER_POLICY', "
        "'SECURE_CROSS_ORIGIN_OPENER_POLICY')}))"
    )
    full = {k: v for k, v in os.environ.items() if not k.startswith(("KJDA_PUBLIC_URL",
                                                                      "KJDA_TRUST_PROXY",
                                                                      "KJDA_HSTS"))}
    full.update(env)
    out = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_https_public_url_turns_transport_security_on():
    s = _settings_under({"KJDA_PUBLIC_URL": "https://archive.example.com"})
    assert s["SESSION_COOKIE_SECURE"] and s["CSRF_COOKIE_SECURE"] and s["SECURE_SSL_REDIRECT"]
    assert s["SECURE_HSTS_SECONDS"] == 365 * 24 * 3600
    assert s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert s["SECURE_PROXY_SSL_HEADER"] is None  # a client's header is not trusted by default
    assert s["SECURE_REFERRER_POLICY"] == "same-origin"
    assert s["SECURE_CROSS_ORIGIN_OPENER_POLICY"] == "same-origin"


def test_proxy_header_and_hsts_options_come_from_the_environment():
    s = _settings_under({"KJDA_PUBLIC_URL": "https://archive.example.com",
                         "KJDA_TRUST_PROXY": "1", "KJDA_HSTS_SECONDS": "600",
                         "KJDA_HSTS_INCLUDE_SUBDOMAINS": "1"})
    assert s["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert s["SECURE_HSTS_SECONDS"] == 600
    assert s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True


def test_http_default_changes_nothing():
    s = _settings_under({"KJDA_PUBLIC_URL": "http://127.0.0.1:8000"})
    assert not s["SESSION_COOKIE_SECURE"] and not s["CSRF_COOKIE_SECURE"]
    assert not s["SECURE_SSL_REDIRECT"] and s["SECURE_HSTS_SECONDS"] == 0


HTTPS = dict(SESSION_COOKIE_SECURE=True, CSRF_COOKIE_SECURE=True, SECURE_SSL_REDIRECT=True,
             SECURE_HSTS_SECONDS=31536000, SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO",
                                                                    "https"))


@pytest.fixture
def user(db):
    from django.contrib.auth import get_user_model

    from kjda.accounts.models import Profile

    u = get_user_model().objects.create_user("archivist", password=PASSWORD)
    Profile.objects.create(user=u, roles=["archivist"])
    return u


@override_settings(**HTTPS)
def test_plain_http_is_redirected_to_https():
    resp = Client().get("/login/?next=/records/", HTTP_HOST="archive.example.com")
    assert resp.status_code == 301
    assert resp["Location"] == "https://archive.example.com/login/?next=/records/"
    api = Client().get("/api/v1/me", HTTP_HOST="archive.example.com")
    assert api.status_code == 301 and api["Location"].startswith("https://")


@override_settings(**HTTPS)
def test_https_behind_proxy_sends_hsts_and_secure_cookies(user):
    c = Client(HTTP_X_FORWARDED_PROTO="https")
    page = c.get("/login/")
    assert page.status_code == 200
    assert page["Strict-Transport-Security"] == "max-age=31536000"
    assert page.cookies["csrftoken"]["secure"]
    resp = c.post("/login/", {"login": "archivist", "password": PASSWORD})
    assert resp.status_code == 302
    assert resp.cookies["sessionid"]["secure"]
    assert resp["Referrer-Policy"] == "same-origin"
    assert resp["Cross-Origin-Opener-Policy"] == "same-origin"


@override_settings(**HTTPS)
def test_oa_callbacks_are_not_redirected(db):
    # An unknown connector: the callback view answers (404), it is not sent elsewhere with a
    # 301 that would drop the POST body.
    resp = Client().post("/oa/00000000-0000-0000-0000-000000000000/callback", b"{}",
                         content_type="application/json")
    assert resp.status_code != 301


def test_http_default_has_no_redirect_hsts_or_secure_cookie(user):
    c = Client()
    page = c.get("/login/")
    assert page.status_code == 200
    assert "Strict-Transport-Security" not in page
    assert not page.cookies["csrftoken"]["secure"]
    resp = c.post("/login/", {"login": "archivist", "password": PASSWORD})
    assert resp.status_code == 302 and not resp.cookies["sessionid"]["secure"]
