"""A generated account must set its own password before it does anything else."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

_EXEMPT_PREFIXES = ("/static/", "/api/", "/oa/", "/i18n/")


class ForcePasswordChangeMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not request.path.startswith(
                _EXEMPT_PREFIXES):
            from kjda.accounts.selectors import actor_profile

            allowed = {reverse("web:password_change"), reverse("web:logout")}
            if actor_profile(user).must_change_password and request.path not in allowed:
                return redirect("web:password_change")
        return self.get_response(request)


class RequireMfaMiddleware:
    """Administrators (settings.KJDA_MFA_REQUIRED_ROLES) set up TOTP before anything else."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated
                and not request.path.startswith((*_EXEMPT_PREFIXES, "/accounts/"))
                and request.path not in (reverse("web:logout"), reverse("web:password_change"))
                and _mfa_required(user) and not _has_totp(user)):
            return redirect("mfa_activate_totp")
        return self.get_response(request)


def _mfa_required(user) -> bool:
    """The bootstrap account `admin` is exempt, so a new install is usable at once; the users
    page leads it to name the three administrators, who are not."""
    from django.conf import settings

    from kjda.accounts.selectors import actor_roles

    if user.get_username() == "admin":
        return False
    return bool(actor_roles(user) & set(settings.KJDA_MFA_REQUIRED_ROLES))


def _has_totp(user) -> bool:
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
