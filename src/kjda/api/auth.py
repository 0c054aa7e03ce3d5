from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema, Status

from kjda.accounts.requests import AuthedRequest
from kjda.accounts.selectors import session_mfa_verified, token_get_own, token_list
from kjda.accounts.services import token_for_credentials, token_mint, token_revoke
from kjda.errors import NotFound

router = Router(tags=["auth"])


class TokenIn(Schema):
    username: str
    password: str
    totp: str | None = None  # the current code, for an account with two-factor authentication
    name: str = "api"
    scopes: list[str] | None = None  # read | ingest | admin; default: all
    ttl_hours: int | None = None


class NewTokenIn(Schema):
    name: str
    scopes: list[str] | None = None  # default (or []): all, or the issuing token's scopes
    ttl_hours: int | None = None
    totp: str | None = None  # a session that did not pass two-factor login sends the code


class TokenInfo(Schema):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenOut(Schema):
    token: str
    token_type: str = "Bearer"
    expires_at: datetime
    scopes: list[str]


@router.post("/token", auth=None, response={200: TokenOut})
def token_create(request: HttpRequest, payload: TokenIn):
    """Exchange a username and password (and, for an account with two-factor authentication,
    the current `totp` code) for a bearer token (shown once, stored hashed). An account that
    must change its password or set up two-factor authentication first gets 403
    `password_change_required` / `mfa_required`. Throttled per address and locked per
    account like the web login (429)."""
    token, raw = token_for_credentials(username=payload.username, password=payload.password,
                                       totp=payload.totp, name=payload.name,
                                       scopes=payload.scopes, ttl_hours=payload.ttl_hours,
                                       request=request)
    return TokenOut(token=raw, expires_at=token.expires_at, scopes=token.scopes)


@router.post("/tokens", response={201: TokenOut}, summary="Issue a named, scoped token")
def token_new(request: AuthedRequest, payload: NewTokenIn):
    """For integrations: a token of the logged-in user (a browser session, or another token),
    shown once. A token issues only tokens that never grow: its own scopes or fewer (none
    given: its own), expiring no later than itself, revoked with it. An account with
    two-factor authentication needs a session that passed it at login, or the `totp` code."""
    parent = getattr(request, "api_token", None)
    token, raw = token_mint(user=request.user, name=payload.name, scopes=payload.scopes,
                            ttl_hours=payload.ttl_hours, parent=parent, totp=payload.totp,
                            mfa_verified=parent is None
                            and session_mfa_verified(request, request.user),
                            request=request)
    return Status(201, TokenOut(token=raw, expires_at=token.expires_at, scopes=token.scopes))


@router.get("/tokens", response=list[TokenInfo], summary="My tokens (never their values)")
def token_mine(request: AuthedRequest):
    return token_list(user=request.user)


@router.delete("/tokens/{token_id}", response={204: None},
               summary="Revoke one of my tokens (and every token made with it)")
def token_delete(request: AuthedRequest, token_id: int):
    token = token_get_own(user=request.user, token_id=token_id)
    if token is None:
        raise NotFound("token_not_found", f"令牌 {token_id} 不存在", f"token {token_id} not found")
    token_revoke(token=token, request=request)  # and the tokens made with it
    return Status(204, None)
