from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from kjda.accounts.services import token_for_credentials
from kjda.audit.services import audit_log
from kjda.errors import DomainError

router = Router(tags=["auth"])


class TokenIn(Schema):
    username: str
    password: str
    name: str = "api"


class TokenOut(Schema):
    token: str
    token_type: str = "Bearer"
    expires_at: datetime
    scopes: list[str]


@router.post("/token", auth=None, response={200: TokenOut})
def token_create(request: HttpRequest, payload: TokenIn):
    """Exchange a username and password for a bearer token (shown once, stored hashed)."""
    issued = token_for_credentials(username=payload.username, password=payload.password,
                                   name=payload.name, request=request)
    if issued is None:
        audit_log(action="auth.failed", request=request, outcome="failure",
                  object_type="user", actor_name=payload.username[:150])
        raise DomainError("invalid_credentials", "用户名或密码错误", "wrong username or password",
                          status=401)
    token, raw = issued
    audit_log(action="auth.token", actor=token.user, request=request, object_type="api_token",
              object_id=str(token.pk), detail={"name": token.name})
    return TokenOut(token=raw, expires_at=token.expires_at, scopes=token.scopes)
