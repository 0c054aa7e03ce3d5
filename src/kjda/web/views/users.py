"""Users, roles and scopes: the security administrator's page."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from kjda.accounts.models import Profile
from kjda.accounts.roles import ADMIN_TRIO, Perm, Role
from kjda.accounts.services import user_create, user_update
from kjda.archives.models import Fonds
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
    profiles = {p.user_id: p for p in Profile.objects.all()}
    users = [(u, profiles.get(u.pk)) for u in get_user_model().objects.order_by("username")
             if u.has_usable_password() or u.pk in profiles]
    held = {r for p in profiles.values() for r in p.roles}
    missing_trio = [Role(r).label for r in (Role.SYSADMIN, Role.SECADMIN, Role.AUDITADMIN)
                    if r not in held or (r == Role.SECADMIN and _only_bootstrap_holds(profiles))]
    return render(request, "web/user_list.html", {
        "users": users, "roles": Role.choices, "trio": sorted(ADMIN_TRIO),
        "fonds_list": Fonds.objects.order_by("code"), "error": error,
        "missing_trio": missing_trio, "post": request.POST if error else None,
    })


def _only_bootstrap_holds(profiles: dict) -> bool:
    """The bootstrap admin holds secadmin to get started; a real one should be named."""
    holders = [p for p in profiles.values() if Role.SECADMIN in p.roles]
    return all(p.user.get_username() == "admin" for p in holders)
