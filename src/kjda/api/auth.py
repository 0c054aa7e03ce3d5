from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema, Status

from kjda.accounts.services import token_for_credentials, token_issue, token_list, token_revoke
from kjda.audit.services import audit_log
from kjda.errors import DomainError, Forbidden, NotFound

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
    parent = getattr(request, "api_token", None)
    if parent is not None and payload.scopes is None:
        payload.scopes = list(parent.scopes)
    if parent is not None and not set(payload.scopes or []) <= set(parent.scopes):
        raise Forbidden("token_scope", "不能签发比当前令牌权限更大的令牌",
                        "a token cannot issue a token with wider scopes")
    ttl = payload.ttl_hours
    if ttl is not None and not 1 <= ttl <= 24 * 366:
        raise DomainError("token_ttl_invalid", "有效期须在 1 小时到 366 天之间",
                          "ttl_hours must be between 1 and 8784")
    token, raw = token_issue(user=request.user, name=payload.name[:100], scopes=payload.scopes,
                             ttl_hours=ttl)
    audit_log(action="auth.token", request=request, object_type="api_token",
              object_id=str(token.pk), detail={"name": token.name, "scopes": token.scopes})
    return Status(201, TokenOut(token=raw, expires_at=token.expires_at, scopes=token.scopes))


@router.get("/tokens", response=list[TokenInfo], summary="My tokens (never their values)")
def token_mine(request: HttpRequest):
    return token_list(user=request.user)


@router.delete("/tokens/{token_id}", response={204: None}, summary="Revoke one of my tokens")
def token_delete(request: HttpRequest, token_id: int):
    token = next((t for t in token_list(user=request.user) if t.pk == token_id), None)
    if token is None:
        raise NotFound("token_not_found", f"令牌 {token_id} 不存在", f"token {token_id} not found")
    token_revoke(token=token)
    audit_log(action="auth.token_revoke", request=request, object_type="api_token",
              object_id=str(token.pk), detail={"name": token.name})
    return Status(204, None)
