"""The web UI's permission check, the same roles as the API's."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden

from kjda.accounts.selectors import actor_can
from kjda.audit.services import audit_log


def perm_required(perm: str) -> Callable:
    """Login first; then 403 (audited) unless the user's roles allow `perm`."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not actor_can(request.user, perm):
                audit_log(action="access.denied", request=request, outcome="denied",
                          object_type="page", object_id=request.path,
                          detail={"reason": "forbidden", "permission": perm})
                return HttpResponseForbidden("当前角色无权访问此页面 / your roles do not allow this page",
                                             content_type="text/plain; charset=utf-8")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
