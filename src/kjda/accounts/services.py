from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar, cast

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from kjda.accounts.fonds import fonds_codes_known
from kjda.accounts.lockout import login_lockout_key
from kjda.accounts.models import ApiToken, Profile
from kjda.accounts.roles import ADMIN_TRIO, CONTENT_ROLES, TOKEN_SCOPES, Role
from kjda.accounts.selectors import (
    access_block_error,
    access_block_reason,
    actor_roles,
    totp_enabled,
)
from kjda.audit.services import audit_log
from kjda.db.rows import row_get
from kjda.errors import Conflict, DomainError, Forbidden
from kjda.inputs import username_check

TOKEN_PREFIX = "kjda_"
_P = ParamSpec("_P")
_R = TypeVar("_R")
logger = logging.getLogger(__name__)


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_issue(*, user: User, name: str, scopes: list[str] | None = None,
                ttl_hours: int | None = None,
                parent: ApiToken | None = None) -> tuple[ApiToken, str]:
    """A new token (the raw value is returned once).

    Made by another token (`parent`), it never grows: no scopes (None or []) means the parent's
    scopes, named scopes must be among the parent's, and it expires no later than the parent
    (without `ttl_hours` it gets the default lifetime cut at the parent's expiry). Made by a
    login or a password, no scopes means every scope (the roles still decide)."""
    name = _name_check(name)
    scopes = _scopes_validate(scopes)
    if ttl_hours is not None and not 1 <= ttl_hours <= 24 * 366:
        raise DomainError("token_ttl_invalid", "有效期须在 1 小时到 366 天之间",
                          "ttl_hours must be between 1 and 8784")
    now = timezone.now()
    hours = ttl_hours if ttl_hours is not None else settings.KJDA_TOKEN_TTL_HOURS
    expires_at = now + timedelta(hours=hours)
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        if parent is not None:
            # Locked, so a revocation running now either sees this child or refuses it.
            parent = ApiToken.objects.select_for_update().get(pk=parent.pk)
            if parent.user_id != user.pk or parent.revoked_at or parent.expires_at <= now:
                raise Forbidden("token_revoked", "当前令牌已吊销或过期",
                                "the issuing token is revoked or expired")
            if not scopes:
                scopes = list(parent.scopes)
            elif not set(scopes) <= set(parent.scopes):
                raise Forbidden("token_scope", "不能签发比当前令牌权限更大的令牌",
                                "a token cannot issue a token with wider scopes")
            if expires_at > parent.expires_at:
                if ttl_hours is not None:
                    raise Forbidden("token_expiry", "不能签发比当前令牌有效期更长的令牌",
                                    "a token cannot issue a token that expires after it does")
                expires_at = parent.expires_at
        elif not scopes:
            scopes = list(TOKEN_SCOPES)
        token = ApiToken.objects.create(
            user=user, name=name, key_hash=_hash(raw), prefix=raw[:12],
            scopes=scopes, expires_at=expires_at, parent=parent,
        )
    return token, raw


def _name_check(name: str) -> str:
    """A token needs a name its owner recognises it by (the tokens page lists them)."""
    name = (name or "").strip()
    if not name:
        raise DomainError("token_name_required", "请填写令牌名称", "a token needs a name")
    return name[:100]


def _scopes_validate(scopes: list[str] | None) -> list[str]:
    """Known scopes in their canonical order; [] for none (the caller decides what that
    means). An unknown scope is refused with 422, before any other check."""
    if not scopes:
        return []
    unknown = sorted({str(s) for s in scopes} - set(TOKEN_SCOPES))
    if unknown:
        raise DomainError("token_scope_unknown", f"未知的令牌权限：{', '.join(unknown)}",
                          f"unknown token scope: {', '.join(unknown)} "
                          f"(use {', '.join(TOKEN_SCOPES)})", status=422)
    return [s for s in TOKEN_SCOPES if s in scopes]


def token_mint(*, user: User, name: str, scopes: list[str] | None = None,
               ttl_hours: int | None = None, parent: ApiToken | None = None,
               mfa_verified: bool = False, totp: str | None = None,
               request: HttpRequest | None = None) -> tuple[ApiToken, str]:
    """A token made by a logged-in user (the tokens page, `POST /api/v1/auth/tokens`).

    An account with TOTP proves the second factor: a browser session that passed it at login
    (`mfa_verified`), a current code (`totp`), or a parent token (only obtainable so)."""
    _name_check(name)  # a malformed request is refused before a second-factor code is spent
    reason = access_block_reason(user)
    if reason:  # the web and API layers refuse earlier; a service holds the rule anyway
        _deny(request, reason=reason, object_type="api_token")
        raise access_block_error(reason)
    if parent is None and not mfa_verified and totp_enabled(user):
        totp_check(user=user, code=totp, request=request)
    with transaction.atomic():
        token, raw = token_issue(user=user, name=name, scopes=scopes, ttl_hours=ttl_hours,
                                 parent=parent)
        _token_audit(token, actor=user, request=request,
                     channel="token" if parent is not None else "session")
    return token, raw


def _token_audit(token: ApiToken, *, actor: User,
                 request: HttpRequest | None, channel: str) -> None:
    """`auth.token`, the same event whichever way the token was asked for."""
    audit_log(action="auth.token", actor=actor, request=request, object_type="api_token",
              object_id=str(token.pk),
              detail={"name": token.name, "scopes": token.scopes, "channel": channel,
                      "parent": token.parent_id,
                      "expires_at": token.expires_at.isoformat()})


def totp_check(*, user: User, code: str | None, request: HttpRequest | None = None) -> None:
    """403 unless `code` is a current, unused TOTP code of `user` (django-allauth's TOTP, so a
    code is accepted once). Wrong codes count toward the same lockout as at the web login."""
    from allauth.core import ratelimit
    from allauth.mfa.models import Authenticator

    code = (code or "").strip()
    if not code:
        _deny(request, reason="mfa_required", object_type="user",
              object_id=user.get_username())
        raise DomainError("mfa_required", "该账号启用了双因素认证：请同时提供动态验证码（totp）",
                          "this account uses two-factor authentication: send the current "
                          "code (totp) as well", status=403)
    # allauth's key for second-factor failures (allauth.mfa), so both count together.
    key = f"mfa-auth-user-{user.pk}"
    if request is not None and not ratelimit.consume(request, action="login_failed", key=key):
        raise _locked()
    authenticator = Authenticator.objects.filter(user=user,
                                                 type=Authenticator.Type.TOTP).first()
    if authenticator is not None and authenticator.wrap().validate_code(code):
        authenticator.record_usage()
        if request is not None:
            ratelimit.clear(request, action="login_failed", key=key)
        return
    audit_log(action="auth.failed", request=request, outcome="failure", object_type="user",
              object_id=user.get_username(), actor_name=user.get_username(),
              detail={"channel": "api", "reason": "wrong two-factor code"})
    raise DomainError("totp_invalid", "动态验证码错误或已使用", "wrong or already used code",
                      status=403)


def _locked() -> DomainError:
    return DomainError("account_locked", "登录失败次数过多，账号已临时锁定，请稍后再试",
                       "too many failed logins: the account is locked for a while", status=429)


def _deny(request: HttpRequest | None, *, reason: str, object_type: str = "api",
          object_id: str = "", **detail: Any) -> None:
    """Audit a refusal (outside the refused write's transaction, so it stays)."""
    audit_log(action="access.denied", request=request, outcome="denied",
              object_type=object_type,
              object_id=object_id or (request.path if request is not None else ""),
              detail={"reason": reason, **detail})


def token_for_credentials(*, username: str, password: str, name: str = "api",
                          scopes: list[str] | None = None, ttl_hours: int | None = None,
                          totp: str | None = None,
                          request: HttpRequest | None = None) -> tuple[ApiToken, str]:
    """A token for a username and password (`POST /api/v1/auth/token`), audited
    (`auth.token`, in the token's transaction). Wrong credentials: `auth.failed` is audited and
    401 `invalid_credentials` raised. The same per-address throttle and per-account lockout as
    the web login; an account that must change its password or set up a second factor gets
    none; an account with TOTP sends the current code too."""
    _name_check(name)  # a malformed request is refused before the password is tried
    _scopes_validate(scopes)
    if request is not None:
        from allauth.core import ratelimit

        if not ratelimit.consume(request, action="login", key=username.strip().lower()):
            raise DomainError("rate_limited", "登录尝试过于频繁，请稍后再试",
                              "too many login attempts from this address: try again later",
                              status=429)
    user = _authenticate_counted(request, username=username, password=password)
    if user is None or not user.is_active:
        audit_log(action="auth.failed", request=request, outcome="failure", object_type="user",
                  actor_name=username[:150], detail={"channel": "api"})
        raise DomainError("invalid_credentials", "用户名或密码错误", "wrong username or password",
                          status=401)
    reason = access_block_reason(user)
    if reason:
        _deny(request, reason=reason, object_type="user", object_id=user.get_username())
        raise access_block_error(reason)
    if totp_enabled(user):
        # A password alone must not stand in for the second factor.
        totp_check(user=user, code=totp, request=request)
    with transaction.atomic():
        token, raw = token_issue(user=user, name=name, scopes=scopes, ttl_hours=ttl_hours)
        _token_audit(token, actor=user, request=request, channel="password")
    return token, raw


def _authenticate_counted(request: HttpRequest | None, *, username: str,
                          password: str) -> User | None:
    """Password check through django-allauth, so failures here count toward the same lockout
    as failed web logins (and a locked account is refused with 429)."""
    from allauth.account.adapter import get_adapter
    from django.core.exceptions import ValidationError

    if request is None:
        return authenticate(None, username=username, password=password)
    try:
        user: User | None = get_adapter(request).authenticate(request, username=username,
                                                              password=password)
        return user
    except ValidationError:
        raise _locked() from None


def token_authenticate(*, raw: str) -> ApiToken | None:
    if not raw.startswith(TOKEN_PREFIX):
        return None
    # Two narrow lookups without the ORM's query building: this runs on every API call.
    token = row_get(ApiToken, "key_hash = %s", [_hash(raw)])
    if token is not None:
        user = row_get(get_user_model(), "id = %s", [token.user_id])
        if user is None:  # deleted meanwhile (its tokens go with it)
            return None
        token.user = user
    now = timezone.now()
    if token is None or token.revoked_at or token.expires_at <= now or not token.user.is_active:
        return None
    # Touch at most once a minute: a write per API call would serialise readers on SQLite.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


@transaction.atomic
def token_revoke(*, token: ApiToken, request: HttpRequest | None = None) -> list[int]:
    """Revoke `token` and every token made with it, transitively; returns the ids of the
    descendants revoked with it. Audited (one event, naming them)."""
    now = timezone.now()
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
    descendants: list[int] = []
    frontier = [token.pk]
    while frontier:
        frontier = list(ApiToken.objects.filter(parent_id__in=frontier)
                        .values_list("pk", flat=True))
        descendants.extend(frontier)
    if descendants:
        ApiToken.objects.filter(pk__in=descendants, revoked_at__isnull=True).update(
            revoked_at=now)
    audit_log(action="auth.token_revoke", request=request, object_type="api_token",
              object_id=str(token.pk), detail={"name": token.name, "descendants": descendants})
    return descendants


def system_user(*, name: str, roles: list[str] | None = None) -> User:
    """The account that OA intake and other automatic steps act as (no password, no login).
    `roles` (content roles only) are given to a new account, e.g. the demo's OA simulator."""
    from django.contrib.auth import get_user_model

    if roles and not set(roles) <= CONTENT_ROLES:  # never an administrator without a person
        raise DomainError("role_unknown", "系统账号只能拥有档案内容角色",
                          "a system account holds content roles only")
    user_model = get_user_model()
    with transaction.atomic():
        user, created = user_model.objects.get_or_create(username=name[:150],
                                                         defaults={"is_active": True})
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
            if roles:
                Profile.objects.create(user=user, roles=sorted(set(roles)))
            # A new account is an account, even one nobody logs in with: auditors see it.
            audit_log(action="user.create", object_type="user", object_id=user.get_username(),
                      detail={"system": True, "roles": sorted(set(roles or []))})
    return user


# --- users, roles and scopes (managed by the security administrator) -------------------------

class SeparationRefused(DomainError):
    """A change refused by the separation of duties (三员分立); always audited."""

    status = 403


def _roles_validate(roles: list[str], *, before: list[str] | None = None) -> list[str]:
    """Known roles, at most one of the three administrators, and a security administrator
    never also holding a content role or auditadmin: whoever grants roles must not be able to
    grant themselves (or a fellow security administrator) the archive or the audit log. The
    bootstrap `admin` starts as archivist + secadmin; such an account may only lose roles
    until it is split (`before`: the roles held now)."""
    unknown = [r for r in roles if r not in Role.values]
    if unknown:
        raise DomainError("role_unknown", f"未知角色：{', '.join(unknown)}",
                          f"unknown role: {', '.join(unknown)} (use {', '.join(Role.values)})")
    wanted = set(roles)
    trio = sorted(wanted & ADMIN_TRIO)
    if len(trio) > 1:
        raise SeparationRefused(
            "roles_separation", "三员分立：系统管理员、安全保密管理员、安全审计员不得由同一人兼任",
            "separation of duties: one person may hold only one of sysadmin, "
            f"secadmin and auditadmin (asked for {', '.join(trio)})", status=400)
    if (Role.SECADMIN in wanted and wanted & CONTENT_ROLES
            and not (before is not None and wanted <= set(before))):
        content = ", ".join(sorted(wanted & CONTENT_ROLES))
        raise SeparationRefused(
            "roles_separation_secadmin", "三员分立：安全保密管理员不得同时拥有档案内容角色（"
            f"{content}）", "separation of duties: a security administrator may not also "
            f"hold a content role ({content})")
    if {Role.CASHIER, Role.ARCHIVIST} <= wanted or {Role.CASHIER, Role.ARCHIVES_HEAD} <= wanted:
        # 79号令 Art.11: the cashier never looks after the accounting archives.
        raise SeparationRefused(
            "roles_cashier_custodian", "出纳人员不得兼管会计档案：不能同时授予出纳与档案管理角色",
            "a cashier may not look after the accounting archives: cashier cannot be granted "
            "together with archivist or archives_head (79号令 Art.11)")
    return sorted(wanted)


def _fonds_validate(codes: list[str]) -> list[str]:
    codes = sorted({c.upper() for c in codes})
    known = fonds_codes_known(codes)
    missing = [c for c in codes if c not in known]
    if missing:
        raise DomainError("fonds_unknown", f"全宗不存在：{', '.join(missing)}",
                          f"unknown fonds: {', '.join(missing)}")
    return codes


def _audited_refusal(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run a user-management write; a separation-of-duties refusal rolls the write back and is
    then audited (`access.denied` with the reason), so the event survives the rollback."""
    from functools import wraps

    @wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return func(*args, **kwargs)
        except SeparationRefused as exc:
            # the keywords every decorated write takes
            actor = cast("User | None", kwargs.get("actor"))
            request = cast("HttpRequest | None", kwargs.get("request"))
            target = cast("User | None", kwargs.get("user"))
            name = target.get_username() if target is not None else kwargs.get("username", "")
            audit_log(action="access.denied", actor=actor, request=request, outcome="denied",
                      object_type="user", object_id=str(name)[:150],
                      detail={"reason": exc.code, "message": exc.en,
                              "operation": func.__name__})
            raise

    return wrapper


@_audited_refusal
@transaction.atomic
def user_create(*, actor: User | None, username: str, password: str, roles: list[str],
                departments: list[str] | None = None, fonds: list[str] | None = None,
                person_name: str = "", department: str = "",
                request: HttpRequest | None = None) -> User:
    """A local account with its roles and scope; it must change its password at first login."""
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    user_model = get_user_model()
    username = username_check(username.strip())  # Django's characters, 1–150
    if user_model.objects.filter(username=username).exists():
        raise Conflict("username_taken", f"用户名已存在：{username}", f"username taken: {username}")
    roles = _roles_validate(roles)
    user = user_model(username=username)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise DomainError("password_weak", "密码不符合要求：" + "；".join(exc.messages),
                          "password rejected: " + "; ".join(exc.messages)) from None
    user.set_password(password)
    user.save()
    profile = Profile.objects.create(user=user, roles=roles, fonds=_fonds_validate(fonds or []),
                                     departments=sorted(set(departments or [])),
                                     person_name=person_name, department=department,
                                     must_change_password=True)
    audit_log(action="user.create", actor=actor, request=request, object_type="user",
              object_id=username, detail={"roles": roles, "fonds": profile.fonds,
                                          "departments": profile.departments})
    return user


@_audited_refusal
@transaction.atomic
def user_update(*, actor: User | None, user: User, roles: list[str] | None = None,
                departments: list[str] | None = None, fonds: list[str] | None = None,
                is_active: bool | None = None, person_name: str | None = None,
                request: HttpRequest | None = None) -> User:
    """Change roles, scope or the active flag; takes effect on the user's next request.
    Nobody changes their own roles, scope or active flag (another security administrator
    does)."""
    profile, _ = Profile.objects.select_for_update().get_or_create(user=user)
    before = {"roles": profile.roles, "fonds": profile.fonds,
              "departments": profile.departments, "is_active": user.is_active}
    if actor is not None and getattr(actor, "pk", None) == user.pk:
        asked = {"roles": roles, "is_active": is_active, "departments": departments,
                 "fonds": [c.upper() for c in fonds] if fonds is not None else None}
        changed = [k for k, v in asked.items() if v is not None
                   and _normal(v) != _normal(before[k])]
        if changed:
            raise SeparationRefused("self_change", "不能修改自己的角色、范围或启用状态",
                                    "nobody changes their own roles, scope or active flag "
                                    f"({', '.join(changed)})")
    if roles is not None:
        profile.roles = _roles_validate(roles, before=profile.roles)
    if fonds is not None:
        profile.fonds = _fonds_validate(fonds)
    if departments is not None:
        profile.departments = sorted(set(departments))
    if person_name is not None:
        profile.person_name = person_name
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
    after = {"roles": profile.roles, "fonds": profile.fonds,
             "departments": profile.departments, "is_active": user.is_active}
    profile.save()
    if before["is_active"] != user.is_active:
        user.save(update_fields=["is_active"])
    audit_log(action="user.update", actor=actor, request=request, object_type="user",
              object_id=user.get_username(), detail={"before": before, "after": after})
    return user


def user_roles_split(*, actor: User | None, user: User, request: HttpRequest | None = None) -> User:
    """Split an account holding security administration together with content roles (the
    bootstrap `admin`): it keeps the content roles and loses secadmin. Done by another
    security administrator (nobody changes their own roles)."""
    roles = Profile.objects.filter(user=user).values_list("roles", flat=True).first() or []
    if Role.SECADMIN not in roles or not set(roles) & CONTENT_ROLES:
        raise DomainError("nothing_to_split", "该账号没有需要拆分的角色",
                          "this account holds no roles to split")
    return user_update(actor=actor, user=user, request=request,
                       roles=[r for r in roles if r != Role.SECADMIN])


@transaction.atomic
def user_password_change(*, user: User, password: str,
                         actor: User | None = None,
                         request: HttpRequest | None = None) -> None:
    """Set `user`'s password and lift `must_change_password`, audited (`auth.password_change`)
    in the same transaction. The caller has checked the old password (a form); the new one is
    checked here against the password validators, whoever calls."""
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise DomainError("password_weak", "密码不符合要求：" + "；".join(exc.messages),
                          "password rejected: " + "; ".join(exc.messages)) from None
    first = not user.has_usable_password()
    user.set_password(password)
    user.save(update_fields=["password"])
    Profile.objects.filter(user=user).update(must_change_password=False)
    audit_log(action="auth.password_change", actor=actor if actor is not None else user,
              request=request, object_type="user", object_id=str(user.pk),
              detail={"first_password": first})


def _normal(value: Any) -> Any:  # a profile field (JSON) or the active flag
    return sorted(set(value)) if isinstance(value, list) else value


def user_unlock(*, actor: User | None, user: User, request: HttpRequest) -> None:
    """Lift the lockout of `user`'s account now: clears allauth's failed-login counters for the
    account (password and second factor), through allauth's rate-limit API. Audited."""
    from allauth.core import ratelimit

    # allauth's clear() also resets the per-address counter of the address making this
    # request (the unlocking administrator's); the attacker's address stays throttled.
    ratelimit.clear(request, action="login_failed", key=login_lockout_key(user.get_username()))
    ratelimit.clear(request, action="login_failed", key=f"mfa-auth-user-{user.pk}")
    audit_log(action="user.unlock", actor=actor, request=request, object_type="user",
              object_id=user.get_username())


def login_failure_record(*, request: HttpRequest | None, username: str) -> None:
    """After a failed password (allauth's adapter hook): if that failure locked the account,
    audit `auth.lockout`; for an administrator account (the three, or the bootstrap admin)
    with `alert: true` and an ERROR in the log, since locking administrators out is an attack
    on the system itself."""
    from allauth.core import ratelimit

    username = (username or "").strip()[:150]
    if request is None or not username or ratelimit.consume(
            request, action="login_failed", key=login_lockout_key(username), dry_run=True):
        return  # further attempts are still allowed: no lockout yet
    user = get_user_model().objects.filter(username=username).first()
    admin = user is not None and bool(actor_roles(user) & ADMIN_TRIO)
    audit_log(action="auth.lockout", request=request, outcome="failure", object_type="user",
              object_id=username, actor_name=username,
              detail={"alert": admin, "administrator": admin,
                      "failures": settings.KJDA_LOGIN_FAILURES,
                      "minutes": settings.KJDA_LOCKOUT_MINUTES})
    log = logger.error if admin else logger.warning
    log("login locked after repeated failures: account %r%s (unlock: the users page or "
        "POST /api/v1/users/<username>/unlock)", username,
        " — an ADMINISTRATOR account" if admin else "")


@transaction.atomic
def user_bootstrap(*, password: str, generated_password: bool = False,
                   username: str = "admin") -> User | None:
    """The first account (`kjda serve` on an empty database), audited (`user.create`, by the
    system); None when it exists already."""
    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        return None
    user = user_model.objects.create_user(username, "", password)
    user_grant_bootstrap_roles(user=user, generated_password=generated_password)
    roles = Profile.objects.filter(user=user).values_list("roles", flat=True).first() or []
    audit_log(action="user.create", object_type="user", object_id=username,
              detail={"bootstrap": True, "roles": roles,
                      "generated_password": generated_password})
    return user


def user_grant_bootstrap_roles(*, user: User, generated_password: bool = False) -> None:
    """The account `kjda serve` creates: usable at once (archivist) and able to create the
    three separated administrators (security administrator). A generated password must be
    replaced at the first login."""
    Profile.objects.update_or_create(user=user, defaults={
        "roles": [Role.ARCHIVIST.value, Role.SECADMIN.value],
        "must_change_password": generated_password})
