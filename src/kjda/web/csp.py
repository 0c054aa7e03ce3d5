"""The Content-Security-Policy of our pages (django-csp), with the single sign-on providers'
origins admitted as form targets.

The policy itself is `CONTENT_SECURITY_POLICY` in settings. One thing a static policy cannot
say: the SSO buttons on the login page (and an RP-initiated logout) are forms posted to us that
answer with a redirect to the identity provider, and Chromium applies `form-action` to that
redirect too. So the origins of the configured providers (their settings' URLs, else the
vendor's public login host) are added to `form-action` of HTML answers — nothing else is
widened. A response that already carries a policy (file downloads: `sandbox`) keeps its own.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from allauth.socialaccount.adapter import get_adapter
from csp.middleware import CSPMiddleware as _CSPMiddleware
from csp.middleware import PolicyParts
from django.http import HttpRequest, HttpResponseBase

from kjda.platforms import platforms


def public_login_origins(provider: str) -> list[str]:
    """Where a platform's SSO sends the browser when its settings name no other host."""
    return [origin for p in platforms().values() if p.sso_provider == provider
            for origin in p.sso_login_origins]


def _origin(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def sso_form_origins(request: HttpRequest) -> list[str]:
    """Origins a login or logout form of ours may be redirected to: the configured SSO apps'."""
    origins: dict[str, None] = {}
    for app in get_adapter().list_apps(request):
        settings = app.settings or {}
        # A vendor's hosts may be overridden one by one (tests, private deployments): the
        # settings' URLs and the public login hosts both.
        # (The in-app login's JSSDK script is no form target: admitted as a script on /m/.)
        urls = [v for k, v in settings.items() if k != "jsapi_url"]
        for origin in [*map(_origin, urls), *public_login_origins(app.provider)]:
            if origin:
                origins[origin] = None
    return list(origins)


class CSPMiddleware(_CSPMiddleware):
    def get_policy_parts(self, request: HttpRequest, response: HttpResponseBase,
                         report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only=report_only)
        is_page = response.get("Content-Type", "").startswith("text/html")
        if is_page and "Content-Security-Policy" not in response:
            origins = sso_form_origins(request)
            if origins:
                update = dict(parts.update or {})
                update["form-action"] = [*update.get("form-action", []), *origins]
                parts.update = update
        return parts
