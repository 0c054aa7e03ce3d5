from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from kjda.accounts.models import ApiToken
from kjda.audit.services import audit_log
from kjda.db_rows import row_get
from kjda.errors import Conflict, DomainError, Forbidden
from kjda.inputs import username_check

TOKEN_PREFIX = "kjda_"


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_issue(*, user: AbstractBaseUser, name: str, scopes: list[str] | None = None,
                ttl_hours: int | None = None,
                parent: ApiToken | None = None) -> tuple[ApiToken, str]:
    """A new token (the raw value is returned once). Issued by another token (`parent`), it
    takes the parent's scopes by default and can never have wider ones."""
    if parent is not None:
        scopes = list(parent.scopes) if scopes is None else scopes
        if not set(scopes) <= set(parent.scopes):
            raise Forbidden("token_scope", "不能签发比当前令牌权限更大的令牌",
                            "a token cannot issue a token with wider scopes")
    if ttl_hours is not None and not 1 <= ttl_hours <= 24 * 366:
        raise DomainError("token_ttl_invalid", "有效期须在 1 小时到 366 天之间",
                          "ttl_hours must be between 1 and 8784")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    hours = ttl_hours if ttl_hours is not None else settings.KJDA_TOKEN_TTL_HOURS
    token = ApiToken.objects.create(
        user=user, name=name[:100], key_hash=_hash(raw), prefix=raw[:12],
        scopes=_scopes_validate(scopes),
        expires_at=timezone.now() + timedelta(hours=hours),
    )
    return token, raw


def _scopes_validate(scopes: list[str] | None) -> list[str]:
    """A token acts as its user; without scopes it may do all the user's roles allow."""
    from kjda.accounts.roles import TOKEN_SCOPES

    if not scopes:
        return list(TOKEN_SCOPES)
    unknown = sorted(set(scopes) - set(TOKEN_SCOPES))
    if unknown:
        raise DomainError("token_scope_unknown", f"未知的令牌权限：{', '.join(unknown)}",
                          f"unknown token scope: {', '.join(unknown)} "
                          f"(use {', '.join(TOKEN_SCOPES)})")
    return [s for s in TOKEN_SCOPES if s in scopes]


def token_for_credentials(*, username: str, password: str, name: str = "api",
                          scopes: list[str] | None = None, ttl_hours: int | None = None,
                          request=None) -> tuple[ApiToken, str] | None:
    user = _authenticate_counted(request, username=username, password=password)
    if user is None or not user.is_active:
        return None
    from allauth.mfa.models import Authenticator

    if Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists():
        # A password alone must not stand in for the second factor.
        raise DomainError("mfa_required", "该账号启用了双因素认证，不能仅凭密码换取令牌",
                          "this account uses two-factor authentication: a password alone "
                          "cannot obtain a token", status=403)
    return token_issue(user=user, name=name, scopes=scopes, ttl_hours=ttl_hours)


def _authenticate_counted(request, *, username: str, password: str):
    """Password check through django-allauth, so failures here count toward the same lockout
    as failed web logins (and a locked account is refused with 429)."""
    from allauth.account.adapter import get_adapter
    from django.core.exceptions import ValidationError

    if request is None:
        return authenticate(None, username=username, password=password)
    try:
        return get_adapter(request).authenticate(request, username=username, password=password)
    except ValidationError:
        raise DomainError("account_locked", "登录失败次数过多，账号已临时锁定，请稍后再试",
                          "too many failed logins: the account is locked for a while",
                          status=429) from None


def token_authenticate(*, raw: str) -> ApiToken | None:
    if not raw.startswith(TOKEN_PREFIX):
        return None
    # Two narrow lookups without the ORM's query building: this runs on every API call.
    token = row_get(ApiToken, "key_hash = %s", [_hash(raw)])
    if token is not None:
        token.user = row_get(get_user_model(), "id = %s", [token.user_id])
    now = timezone.now()
    if token is None or token.revoked_at or token.expires_at <= now or not token.user.is_active:
        return None
    # Touch at most once a minute: a write per API call would serialise readers on SQLite.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def system_user(*, name: str):
    """The account that OA intake and other automatic steps act as (no password, no login)."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=name[:150],
                                                     defaults={"is_active": True})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


# --- users, roles and scopes (managed by the security administrator) -------------------------

def _roles_validate(roles: list[str]) -> list[str]:
    from kjda.accounts.roles import ADMIN_TRIO, Role

    unknown = [r for r in roles if r not in Role.values]
    if unknown:
        raise DomainError("role_unknown", f"未知角色：{', '.join(unknown)}",
                          f"unknown role: {', '.join(unknown)} (use {', '.join(Role.values)})")
    trio = sorted(set(roles) & ADMIN_TRIO)
    if len(trio) > 1:
        raise DomainError("roles_separation", "三员分立：系统管理员、安全保密管理员、安全审计员不得由同一人兼任",
                          "separation of duties: one person may hold only one of sysadmin, "
                          f"secadmin and auditadmin (asked for {', '.join(trio)})")
    return sorted(set(roles))


def _fonds_validate(codes: list[str]) -> list[str]:
    from kjda.archives.models import Fonds

    codes = sorted({c.upper() for c in codes})
    known = set(Fonds.objects.filter(code__in=codes).values_list("code", flat=True))
    missing = [c for c in codes if c not in known]
    if missing:
        raise DomainError("fonds_unknown", f"全宗不存在：{', '.join(missing)}",
                          f"unknown fonds: {', '.join(missing)}")
    return codes


@transaction.atomic
def user_create(*, actor, username: str, password: str, roles: list[str],
                departments: list[str] | None = None, fonds: list[str] | None = None,
                person_name: str = "", department: str = "", request=None):
    """A local account with its roles and scope; it must change its password at first login."""
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    from kjda.accounts.models import Profile

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


@transaction.atomic
def user_update(*, actor, user, roles: list[str] | None = None,
                departments: list[str] | None = None, fonds: list[str] | None = None,
                is_active: bool | None = None, person_name: str | None = None, request=None):
    """Change roles, scope or the active flag; takes effect on the user's next request."""
    from kjda.accounts.models import Profile

    profile, _ = Profile.objects.select_for_update().get_or_create(user=user)
    before = {"roles": profile.roles, "fonds": profile.fonds,
              "departments": profile.departments, "is_active": user.is_active}
    if roles is not None:
        profile.roles = _roles_validate(roles)
    if fonds is not None:
        profile.fonds = _fonds_validate(fonds)
    if departments is not None:
        profile.departments = sorted(set(departments))
    if person_name is not None:
        profile.person_name = person_name
    profile.save()
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
        user.save(update_fields=["is_active"])
    after = {"roles": profile.roles, "fonds": profile.fonds,
             "departments": profile.departments, "is_active": user.is_active}
    audit_log(action="user.update", actor=actor, request=request, object_type="user",
              object_id=user.get_username(), detail={"before": before, "after": after})
    return user


def user_grant_bootstrap_roles(*, user, generated_password: bool = False) -> None:
    """The account `kjda serve` creates: usable at once (archivist) and able to create the
    three separated administrators (security administrator). A generated password must be
    replaced at the first login."""
    from kjda.accounts.models import Profile
    from kjda.accounts.roles import Role

    Profile.objects.update_or_create(user=user, defaults={
        "roles": [Role.ARCHIVIST.value, Role.SECADMIN.value],
        "must_change_password": generated_password})
