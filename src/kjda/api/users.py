"""Users, roles and data scopes (the security administrator's work), and who am I."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.http import HttpRequest
from ninja import Router, Schema, Status

from kjda.accounts.models import Profile
from kjda.accounts.requests import AuthedRequest
from kjda.accounts.roles import Perm, Role
from kjda.accounts.selectors import actor_profile, user_list_with_profiles
from kjda.accounts.services import user_create, user_unlock, user_update
from kjda.errors import NotFound

from .permissions import require

router = Router(tags=["users"])


class UserIn(Schema):
    username: str
    password: str
    roles: list[str]
    departments: list[str] = []
    fonds: list[str] = []
    person_name: str = ""
    department: str = ""


class UserPatch(Schema):
    roles: list[str] | None = None
    departments: list[str] | None = None
    fonds: list[str] | None = None
    is_active: bool | None = None
    person_name: str | None = None


class UserOut(Schema):
    username: str
    is_active: bool
    roles: list[str]
    role_labels: list[str]
    departments: list[str]
    fonds: list[str]
    person_name: str
    department: str
    must_change_password: bool


def _out(user, profile: Profile | None = None) -> dict:
    profile = profile or Profile.objects.filter(user=user).first() or Profile(roles=[])
    return {"username": user.get_username(), "is_active": user.is_active,
            "roles": list(profile.roles), "role_labels": [Role(r).label for r in profile.roles],
            "departments": list(profile.departments), "fonds": list(profile.fonds),
            "person_name": profile.person_name, "department": profile.department,
            "must_change_password": profile.must_change_password}


@router.get("/me", response=UserOut, summary="The acting user, with roles and scope")
def me(request: HttpRequest):
    return _out(request.user, actor_profile(request.user))


@router.post("/users", response={201: UserOut}, summary="Create a user (security administrator)")
def users_create(request: AuthedRequest, payload: UserIn):
    """Roles: `sysadmin`, `secadmin`, `auditadmin` (at most one of these three per person),
    `archivist`, `accountant`, `auditor`, `employee`. `fonds` and `departments` limit what the
    content roles see (empty: all). The new user must change the password at first login."""
    require(request, Perm.USER_MANAGE)
    user = user_create(actor=request.user, request=request, **payload.dict())
    return Status(201, _out(user))


@router.get("/users", response=list[UserOut], summary="Users with their roles and scopes")
def users_list(request: HttpRequest):
    require(request, Perm.USER_MANAGE)
    return [_out(u, p or Profile(roles=[])) for u, p in user_list_with_profiles()]


def _user(username: str):
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound("user_not_found", f"用户 {username} 不存在", f"user {username} not found")
    return user


@router.patch("/users/{username}", response=UserOut, summary="Change roles, scope, active flag")
def users_patch(request: AuthedRequest, username: str, payload: UserPatch):
    """Takes effect at the user's next request; audited with the before and after. Nobody
    changes their own roles, scope or active flag, and a security administrator never also
    holds a content role (403, audited)."""
    require(request, Perm.USER_MANAGE)
    user = user_update(actor=request.user, user=_user(username), request=request,
                       **payload.dict(exclude_none=True))
    return _out(user)


@router.post("/users/{username}/unlock", response={204: None},
             summary="Lift a login lockout (security administrator)")
def users_unlock(request: AuthedRequest, username: str):
    """Clears the account's failed-login count at once (it would otherwise lift after
    `KJDA_LOCKOUT_MINUTES`); audited as `user.unlock`."""
    require(request, Perm.USER_MANAGE)
    user_unlock(actor=request.user, user=_user(username), request=request)
    return Status(204, None)
