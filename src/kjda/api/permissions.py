"""The API's permission check: roles decide what may be done; scopes (in the selectors) decide
which records may be seen."""

from __future__ import annotations

from django.http import HttpRequest

from kjda.accounts.roles import TOKEN_SCOPE_FOR_PERM
from kjda.accounts.selectors import actor_can
from kjda.audit.services import audit_log
from kjda.errors import Forbidden


def require(request: HttpRequest, perm: str) -> None:
    """403 (audited) unless the acting user's roles allow `perm` (and, called with an API
    token, the token's scopes)."""
    if actor_can(request.user, perm) and _token_allows(request, TOKEN_SCOPE_FOR_PERM[perm]):
        return
    audit_log(action="access.denied", request=request, outcome="denied", object_type="api",
              object_id=request.path, detail={"reason": "forbidden", "permission": perm,
                                              "method": request.method})
    raise Forbidden("forbidden", "当前角色无权执行此操作", f"your roles do not allow this ({perm})")


def require_token_scope(request: HttpRequest, scope: str) -> None:
    """For endpoints whose objects are scoped by the selectors: the token must be allowed to
    `scope` at all (a session always is)."""
    if _token_allows(request, scope):
        return
    audit_log(action="access.denied", request=request, outcome="denied", object_type="api",
              object_id=request.path, detail={"reason": "token scope", "scope": scope})
    raise Forbidden("token_scope", f"令牌没有 {scope} 权限", f"the token lacks the {scope} scope")


def _token_allows(request: HttpRequest, scope: str) -> bool:
    token = getattr(request, "api_token", None)
    return token is None or scope in (token.scopes or [])


def require_any(request: HttpRequest, perms: list[str]) -> None:
    """403 (audited) unless one of `perms` is allowed by the roles and, with an API token, by
    the token's scopes."""
    if any(actor_can(request.user, p) and _token_allows(request, TOKEN_SCOPE_FOR_PERM[p])
           for p in perms):
        return
    audit_log(action="access.denied", request=request, outcome="denied", object_type="api",
              object_id=request.path, detail={"reason": "forbidden", "permission": perms,
                                              "method": request.method})
    raise Forbidden("forbidden", "当前角色无权执行此操作",
                    f"your roles do not allow this ({' or '.join(perms)})")
