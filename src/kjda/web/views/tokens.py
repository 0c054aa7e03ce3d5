"""API tokens of the logged-in user: named, scoped, expiring, revocable; the value is shown
once, right after it is made (only its hash is stored)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from kjda.accounts.requests import AuthedRequest
from kjda.accounts.roles import TOKEN_SCOPES
from kjda.accounts.selectors import (
    session_mfa_verified,
    token_get_own,
    token_list,
    totp_enabled,
)
from kjda.accounts.services import token_mint, token_revoke
from kjda.errors import DomainError


@login_required
def token_page(request: AuthedRequest) -> HttpResponse:
    error, created, raw, status = "", None, "", 200
    if request.method == "POST":
        try:
            if request.POST.get("action") == "revoke":
                token = token_get_own(user=request.user,
                                      token_id=int(request.POST.get("token_id") or 0))
                if token is None:
                    raise DomainError("token_not_found", "令牌不存在", "token not found",
                                      status=404)
                token_revoke(token=token, request=request)  # and the tokens made with it
            else:
                days = request.POST.get("ttl_days", "").strip()
                created, raw = token_mint(
                    user=request.user, name=request.POST.get("name", ""),
                    scopes=request.POST.getlist("scopes"),
                    ttl_hours=int(days) * 24 if days.isdigit() else None,
                    mfa_verified=session_mfa_verified(request, request.user),
                    totp=request.POST.get("totp"), request=request)
        except DomainError as exc:
            error, status = exc.message, exc.status
    return render(request, "web/tokens.html", {
        "tokens": token_list(user=request.user), "scopes": TOKEN_SCOPES, "error": error,
        "created": created, "raw": raw, "now": timezone.now(),
        # a session that did not pass the second factor at login confirms it with a code
        "ask_totp": totp_enabled(request.user)
        and not session_mfa_verified(request, request.user),
    }, status=status)
