"""Users, roles and scopes: the security administrator's page."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from kjda.accounts.roles import Perm, Role
from kjda.accounts.selectors import admin_trio_missing, user_list_with_profiles
from kjda.accounts.services import user_create, user_update
from kjda.archives.selectors import fonds_list
from kjda.errors import DomainError
from kjda.web.permissions import perm_required


def _split(value: str) -> list[str]:
    return [p.strip() for p in value.replace("，", ",").split(",") if p.strip()]


@perm_required(Perm.USER_MANAGE)
def user_list(request: HttpRequest) -> HttpResponse:
    error = ""
    if request.method == "POST":
        data = request.POST
        try:
            if data.get("action") == "update":
                user = get_user_model().objects.get(username=data.get("username", ""))
                user_update(actor=request.user, user=user, request=request,
                            roles=data.getlist("roles"),
                            departments=_split(data.get("departments", "")),
                            fonds=data.getlist("fonds"), is_active=bool(data.get("is_active")))
            else:
                user_create(actor=request.user, request=request,
                            username=data.get("username", ""),
                            password=data.get("password", ""), roles=data.getlist("roles"),
                            departments=_split(data.get("departments", "")),
                            fonds=data.getlist("fonds"),
                            person_name=data.get("person_name", "").strip())
            return redirect("web:user_list")
        except DomainError as exc:
            error = exc.message
    return render(request, "web/user_list.html", {
        "users": user_list_with_profiles(), "roles": Role.choices,
        "fonds_list": fonds_list(actor=request.user).order_by("code"), "error": error,
        "missing_trio": [Role(r).label for r in admin_trio_missing()],
        "post": request.POST if error else None,
    })

