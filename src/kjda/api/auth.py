from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema, Status

from kjda.accounts.selectors import token_get_own, token_list
from kjda.accounts.services import token_for_credentials, token_issue, token_revoke
from kjda.audit.services import audit_log
from kjda.errors import DomainError, NotFound

router = Router(tags=["auth"])


class TokenIn(Schema):
    username: str
    password: str
    name: str = "api"
    scopes: list[str] | None = None  # read | ingest | admin; default: all
    ttl_hours: int | None = None


class NewTokenIn(Schema):
    name: str
    scopes: list[str] | None = None
    ttl_hours: int | None = None


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
    """Exchange a username and password for a bearer token (shown once, stored hashed)."""
    issued = token_for_credentials(username=payload.username, password=payload.password,
                                   name=payload.name, scopes=payload.scopes,
                                   ttl_hours=payload.ttl_hours, request=request)
    if issued is None:
        audit_log(action="auth.failed", request=request, outcome="failure",
                  object_type="user", actor_name=payload.username[:150])
        raise DomainError("invalid_credentials", "用户名或密码错误", "wrong username or password",
                          status=401)
    token, raw = issued
    audit_log(action="auth.token", actor=token.user, request=request, object_type="api_token",
              object_id=str(token.pk), detail={"name": token.name})
    return TokenOut(token=raw, expires_at=token.expires_at, scopes=token.scopes)


@router.post("/tokens", response={201: TokenOut}, summary="Issue a named, scoped token")
def token_new(request: HttpRequest, payload: NewTokenIn):
    """For integrations: a token of the logged-in user (a browser session, so two-factor
    accounts can have tokens too, or another token), shown once. A token can only issue
    tokens with scopes it has itself."""
    token, raw = token_issue(user=request.user, name=payload.name, scopes=payload.scopes,
                             ttl_hours=payload.ttl_hours,
                             parent=getattr(request, "api_token", None))
    audit_log(action="auth.token", request=request, object_type="api_token",
              object_id=str(token.pk), detail={"name": token.name, "scopes": token.scopes})
    return Status(201, TokenOut(token=raw, expires_at=token.expires_at, scopes=token.scopes))


@router.get("/tokens", response=list[TokenInfo], summary="My tokens (never their values)")
def token_mine(request: HttpRequest):
    return token_list(user=request.user)


@router.delete("/tokens/{token_id}", response={204: None}, summary="Revoke one of my tokens")
def token_delete(request: HttpRequest, token_id: int):
    token = token_get_own(user=request.user, token_id=token_id)
    if token is None:
        raise NotFound("token_not_found", f"令牌 {token_id} 不存在", f"token {token_id} not found")
    token_revoke(token=token)
    audit_log(action="auth.token_revoke", request=request, object_type="api_token",
              object_id=str(token.pk), detail={"name": token.name})
    return Status(204, None)
