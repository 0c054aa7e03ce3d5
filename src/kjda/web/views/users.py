"""Users, roles and scopes: the security administrator's page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.shortcuts import redirect, render

from kjda.accounts.requests import AuthedRequest
from kjda.accounts.roles import Perm, Role
from kjda.accounts.selectors import (
    admin_trio_missing,
    separation_conflicts,
    user_list_with_profiles,
)
from kjda.accounts.services import user_create, user_roles_split, user_unlock, user_update
from kjda.archives.selectors import fonds_list
from kjda.errors import DomainError
from kjda.web.permissions import perm_required


def _user_named(username: str) -> User:
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise DomainError("user_not_found", "用户不存在", "no such user", status=404)
    return user


def _split(value: str) -> list[str]:
    return [p.strip() for p in value.replace("，", ",").split(",") if p.strip()]


@perm_required(Perm.USER_MANAGE)
def user_list(request: AuthedRequest) -> HttpResponse:
    error = ""
    if request.method == "POST":
        data = request.POST
        try:
            action = data.get("action")
            if action in ("update", "unlock", "split"):
                user = _user_named(data.get("username", ""))
            if action == "update":
                user_update(actor=request.user, user=user, request=request,
                            roles=data.getlist("roles"),
                            departments=_split(data.get("departments", "")),
                            fonds=data.getlist("fonds"), is_active=bool(data.get("is_active")))
            elif action == "unlock":
                user_unlock(actor=request.user, user=user, request=request)
                messages.success(request, f"已解除 {user.get_username()} 的登录锁定 / "
                                          f"{user.get_username()} unlocked")
            elif action == "split":
                user_roles_split(actor=request.user, user=user, request=request)
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
        "conflicts": separation_conflicts(),
        "post": request.POST if error else None,
    })


