"""Who may do what, and which records a user may read (roles and data scopes, issue #4).

Every read of records goes through `record_scope_q`; every action at the API and web layers
through `actor_can`. The profile is read once per request and kept on the user object, so a
change of roles applies from the next request on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeAlias

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db.models import Q

from kjda.accounts.grants import actor_grants
from kjda.accounts.models import ApiToken, Profile
from kjda.accounts.roles import CONTENT_ROLES, PERMISSIONS, Role
from kjda.db.rows import row_get
from kjda.errors import Forbidden

if TYPE_CHECKING:
    from django.http import HttpRequest

    from kjda.errors import Forbidden

# Whoever a read is for: request.user (anonymous included: it reads nothing) or None (no one).
Actor: TypeAlias = AbstractBaseUser | AnonymousUser | None

_EMPTY = Profile(roles=[], fonds=[], departments=[])


def actor_profile(actor: Actor) -> Profile:
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return _EMPTY
    cached: Profile | None = getattr(actor, "_kjda_profile_cache", None)
    if cached is None:
        # Without the ORM's query building: this runs on every request (it cost 4× the query).
        cached = row_get(Profile, "user_id = %s", [actor.pk]) or _EMPTY
        actor.__dict__["_kjda_profile_cache"] = cached  # the user object lives for one request
    return cached


def actor_roles(actor: Actor) -> frozenset[str]:
    return frozenset(actor_profile(actor).roles)


def actor_can(actor: Actor, perm: str) -> bool:
    return bool(actor_roles(actor) & PERMISSIONS[perm])


@dataclass(frozen=True)
class ScopePart:
    """One part of a data scope: records whose fonds code is in `fonds` and department in
    `departments`, or (an employee's part) whose applicant is in `applicants`, or (a borrower's
    part: records lent to them, kjda.accounts.grants) whose id is in `record_ids`; None means
    any."""

    fonds: tuple[str, ...] | None = None
    departments: tuple[str, ...] | None = None
    applicants: tuple[str, ...] | None = None
    record_ids: tuple[int, ...] | None = None

    def q(self) -> Q:
        out = Q()
        if self.record_ids is not None:
            out &= Q(pk__in=self.record_ids)
        if self.fonds is not None:
            out &= Q(fonds__code__in=self.fonds)
        if self.departments is not None:
            out &= Q(department__in=self.departments)
        if self.applicants is not None:
            out &= Q(applicant__in=self.applicants)
        return out


def record_scope_parts(*, actor: Actor) -> list[ScopePart] | None:
    """What `actor` may read, as an OR of parts (structured, for the search index: see
    kjda.archives.search.Facets); None means nothing, a part with no condition everything.

    The content roles' scopes are OR-ed: archivists and accountants read their fonds and
    departments, auditors their fonds (every department), employees what they applied for, and
    anyone the records lent to them now (an active loan whose period has not ended: a loan
    that ran out is never a grant, so it ends even before the daily job marks it expired)."""
    profile = actor_profile(actor)
    roles = set(profile.roles)
    parts: list[ScopePart] = []
    fonds = tuple(profile.fonds) if profile.fonds else None
    if roles & {Role.ARCHIVIST, Role.ACCOUNTANT}:
        parts.append(ScopePart(fonds=fonds, departments=tuple(profile.departments)
                               if profile.departments else None))
    if Role.AUDITOR in roles:
        parts.append(ScopePart(fonds=fonds))
    if Role.EMPLOYEE in roles and actor is not None:
        names = {n for n in (profile.person_name, actor.get_full_name()
                             if hasattr(actor, "get_full_name") else "", actor.get_username())
                 if n}
        parts.append(ScopePart(applicants=tuple(sorted(names))))
    if any(p == ScopePart() for p in parts):  # one unrestricted part: the whole archive
        return [ScopePart()]
    lent = actor_grants(actor) if actor is not None else {}
    if lent:
        parts.append(ScopePart(record_ids=tuple(sorted(lent))))
    if not parts:
        return None
    return parts


def record_scope_q(*, actor: Actor) -> Q | None:
    """A filter on `archives.Record` for what `actor` may read (the OR of
    `record_scope_parts`); None means nothing, an empty Q everything."""
    return scope_parts_q(record_scope_parts(actor=actor))


def scope_parts_q(parts: list[ScopePart] | None) -> Q | None:
    """The filter on `archives.Record` for an OR of scope parts (None: nothing)."""
    if parts is None:
        return None
    scope = parts[0].q()
    for p in parts[1:]:
        scope |= p.q()
    return scope


def actor_may_file(actor: Actor, *, fonds_code: str, department: str) -> bool:
    """Whether a record of this fonds and department is inside the actor's data scope for
    filing (a scope that names no fonds / departments covers all of them)."""
    profile = actor_profile(actor)
    if profile.fonds and fonds_code not in profile.fonds:
        return False
    return not profile.departments or department in profile.departments


def users_with_roles(*, roles: Iterable[str], fonds_code: str | None = None,
                     excluding: Iterable[str] = ()) -> list[User]:
    """Active users holding any of `roles` (and none of `excluding`) whose fonds scope covers
    `fonds_code` (an empty scope covers every fonds; None: any scope): who a workflow step waits
    on, for its to-dos."""
    wanted, unwanted = set(roles), set(excluding)
    return [p.user for p in Profile.objects.select_related("user").filter(user__is_active=True)
            if wanted & set(p.roles or []) and not unwanted & set(p.roles or [])
            and (fonds_code is None or not p.fonds or fonds_code in p.fonds)]


def token_list(*, user: User) -> list[ApiToken]:
    """The user's own tokens, newest first."""
    return list(ApiToken.objects.filter(user=user).order_by("-created_at"))


def token_get_own(*, user: User, token_id: int) -> ApiToken | None:
    return ApiToken.objects.filter(user=user, pk=token_id).first()


def user_list_with_profiles() -> list[tuple[User, Profile | None]]:
    """People's accounts (not the OA intake system accounts) with their profiles, by name."""
    profiles = {p.user_id: p for p in Profile.objects.all()}
    return [(u, profiles.get(u.pk)) for u in User.objects.order_by("username")
            if u.has_usable_password() or u.pk in profiles]


def mfa_required_for(user: Actor) -> bool:
    """Whether `user`'s roles need a second factor (settings.KJDA_MFA_REQUIRED_ROLES; the
    bootstrap `admin` too, as it holds secadmin)."""
    from django.conf import settings

    return bool(actor_roles(user) & set(settings.KJDA_MFA_REQUIRED_ROLES))


def totp_enabled(user: AbstractBaseUser) -> bool:
    """Whether `user` has set up a TOTP authenticator (django-allauth's)."""
    from allauth.mfa.models import Authenticator

    return bool(Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists())


BLOCK_PASSWORD_CHANGE = "password_change_required"
BLOCK_MFA = "mfa_required"


def access_block_reason(user: Actor, *, token: ApiToken | None = None) -> str | None:
    """Why an authenticated `user` may do nothing yet but fix it, on every channel (web pages,
    API sessions, API tokens, the password-token endpoint): a generated password must be
    changed first, then the roles that need a second factor must have one. With `token` (a
    bearer request), a token issued before that second factor existed was issued on a
    password alone and stays refused. None: no block."""
    if user is None or not user.is_authenticated:
        return None
    if actor_profile(user).must_change_password:
        return BLOCK_PASSWORD_CHANGE
    if mfa_required_for(user):
        since = _totp_since(user)
        if since is None or (token is not None and token.created_at < since):
            return BLOCK_MFA
    return None


def _totp_since(user: AbstractBaseUser) -> datetime | None:
    """When `user`'s TOTP authenticator was set up (None: it has none)."""
    from allauth.mfa.models import Authenticator

    since: datetime | None = (Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP)
                              .values_list("created_at", flat=True).first())
    return since


def access_block_error(reason: str) -> Forbidden:
    """The 403 the API answers for a block reason (Chinese and English)."""
    if reason == BLOCK_PASSWORD_CHANGE:
        return Forbidden(BLOCK_PASSWORD_CHANGE, "请先在网页上修改初始密码，再使用接口",
                         "change the initial password on the web first, then use the API")
    return Forbidden(BLOCK_MFA, "您的角色须启用双因素认证（TOTP）：请先在网页上设置，再使用接口"
                     "（设置之前签发的令牌不再有效）",
                     "your roles require two-factor authentication (TOTP): set it up on the "
                     "web first, then use the API (tokens issued before it are no longer "
                     "valid)")


def session_mfa_verified(request: HttpRequest, user: AbstractBaseUser) -> bool:
    """Whether this browser session passed a second factor (django-allauth records each
    authentication step of the session; TOTP at login is method "mfa")."""
    from allauth.account.authentication import get_authentication_records

    if not hasattr(request, "session"):
        return False
    return any(r.get("method") == "mfa" for r in get_authentication_records(request, user))


def separation_conflicts() -> list[str]:
    """Usernames of the security administrators who also hold a content role — the bootstrap
    `admin` (archivist + secadmin) until a real security administrator splits its roles."""
    return sorted(name for name, roles in Profile.objects.values_list("user__username", "roles")
                  if Role.SECADMIN in roles and set(roles) & CONTENT_ROLES)


def admin_trio_missing() -> list[str]:
    """Which of the three separated administrators no one is named as yet (the bootstrap
    `admin`'s security-administrator role, held to get started, doesn't count)."""
    held = {r for p in Profile.objects.exclude(user__username="admin") for r in p.roles}
    return [r for r in (Role.SYSADMIN, Role.SECADMIN, Role.AUDITADMIN) if r not in held]
