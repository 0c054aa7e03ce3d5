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
