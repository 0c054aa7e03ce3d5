"""The API's permission check: roles decide what may be done; scopes (in the selectors) decide
which records may be seen."""

from __future__ import annotations

from django.http import HttpRequest

from kjda.accounts.selectors import actor_can
from kjda.audit.services import audit_log
from kjda.errors import Forbidden


def require(request: HttpRequest, perm: str) -> None:
    """403 (audited) unless the acting user's roles allow `perm`."""
    if actor_can(request.user, perm):
        return
    audit_log(action="access.denied", request=request, outcome="denied", object_type="api",
              object_id=request.path, detail={"reason": "forbidden", "permission": perm,
                                              "method": request.method})
    raise Forbidden("forbidden", "当前角色无权执行此操作", f"your roles do not allow this ({perm})")
