"""Before anything else, a generated account sets its own password, then an account whose
roles need a second factor sets one up. The rule is `access_block_reason` (accounts), the same
one the API applies to sessions and tokens (kjda.api.api); here it leads the browser to the
page that lifts the block."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

from kjda.accounts.selectors import BLOCK_MFA, BLOCK_PASSWORD_CHANGE, access_block_reason

# The API answers for itself (403 JSON); OA callbacks carry no user.
_EXEMPT_PREFIXES = ("/static/", "/api/", "/oa/", "/i18n/")


def _block(request: HttpRequest) -> str | None:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or request.path.startswith(_EXEMPT_PREFIXES):
        return None
    if request.path in (reverse("web:logout"), reverse("web:password_change")):
        return None
    if not hasattr(request, "_kjda_block"):  # asked by both middlewares: one look-up
        request._kjda_block = access_block_reason(user)  # type: ignore[attr-defined]
    return request._kjda_block  # type: ignore[attr-defined]


class ForcePasswordChangeMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if _block(request) == BLOCK_PASSWORD_CHANGE:
            return redirect("web:password_change")
        return self.get_response(request)


class RequireMfaMiddleware:
    """Administrators (settings.KJDA_MFA_REQUIRED_ROLES; the bootstrap `admin` too, as it
    holds secadmin) set up TOTP before anything else; allauth's pages (/accounts/: the
    TOTP set-up and the password check before it) stay open."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith("/accounts/") and _block(request) == BLOCK_MFA:
            return redirect("mfa_activate_totp")
        return self.get_response(request)
