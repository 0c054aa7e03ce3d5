"""Who an SSO login is: matching an OA / IdP identity to a KJDA user, or provisioning one; and
taking access away from a person who has left (used by the directory sync).

Matching rule, in this order (README "Single sign-on"):
1. the social account already linked to (provider, OA user id) — allauth looks it up;
2. a KJDA user whose username equals the OA user id (OIDC: `preferred_username`);
3. the one KJDA user whose profile mobile equals the identity's mobile;
4. the one KJDA user whose e-mail equals the identity's e-mail (case-insensitive).
Accounts holding one of the three administrator roles (三员) are never matched automatically
(steps 2–4): an OA account must not become an administrator by sharing a name. A user already
linked to another account of the same provider is not matched either. No match: a new user
with `KJDA_SSO_DEFAULT_ROLES` (employee), name and department from the OA, no password.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone

from kjda.accounts.models import ApiToken, Profile
from kjda.accounts.roles import ADMIN_TRIO
from kjda.audit.services import audit_log
from kjda.errors import DomainError


@dataclass(frozen=True)
class OAIdentity:
    """What a provider tells about the person, in KJDA's terms."""

    provider: str  # the allauth provider / sub-provider id: dingtalk, wecom, feishu, <oidc id>
    user_id: str  # the OA's user id (DingTalk/WeCom userid, Feishu open_id, OIDC sub)
    name: str = ""
    username: str = ""  # a preferred login name, when the provider has one
    mobile: str = ""
    email: str = ""
    department: str = ""


def _matchable(users, provider: str):
    from allauth.socialaccount.models import SocialAccount

    linked = SocialAccount.objects.filter(provider=provider).values("user_id")
    trio = [uid for uid, roles in Profile.objects.exclude(roles=[]).values_list("user_id", "roles")
            if set(roles) & ADMIN_TRIO]
    # Only people's accounts (with a profile): never the OA intake's system accounts.
    return users.filter(kjda_profile__isnull=False).exclude(pk__in=linked).exclude(pk__in=trio)


def sso_match(identity: OAIdentity):
    """The existing KJDA user this identity is (steps 2–4 of the rule), and how it matched."""
    users = _matchable(get_user_model().objects.all(), identity.provider)
    for login in (identity.user_id, identity.username):
        if login and (user := users.filter(username=login).first()):
            return user, "username"
    if identity.mobile:
        found = list(users.filter(kjda_profile__mobile=identity.mobile)[:2])
        if len(found) == 1:
            return found[0], "mobile"
    if identity.email:
        found = list(users.filter(email__iexact=identity.email)[:2])
        if len(found) == 1:
            return found[0], "email"
    return None, ""


@transaction.atomic
def sso_provision(identity: OAIdentity, *, request=None):
    """A new KJDA user for an OA person who has no account yet (no usable password)."""
    if not settings.KJDA_SSO_PROVISION:
        raise DomainError("sso_no_account", "该单点登录用户在本系统没有账号，请联系安全保密管理员",
                          "there is no KJDA account for this SSO user; ask the security "
                          "administrator", status=403)
    user_model = get_user_model()
    base = (identity.username or identity.user_id)[:150]
    username = base
    if user_model.objects.filter(username=username).exists():
        username = f"{identity.provider}-{identity.user_id}"[:150]
    n = 1
    while user_model.objects.filter(username=username).exists():
        n += 1
        username = f"{identity.provider}-{identity.user_id}-{n}"[:150]
    user = user_model(username=username, email=identity.email or "")
    user.set_unusable_password()
    user.save()
    roles = sorted(set(settings.KJDA_SSO_DEFAULT_ROLES) - ADMIN_TRIO)
    Profile.objects.create(user=user, roles=roles, person_name=identity.name,
                           department=identity.department, mobile=identity.mobile)
    audit_log(action="user.provision", request=request, object_type="user", object_id=username,
              detail={"provider": identity.provider, "oa_user_id": identity.user_id,
                      "roles": roles, "department": identity.department})
    return user


def sso_profile_refresh(user, identity: OAIdentity) -> None:
    """The OA's directory is the source of the person's name, department and mobile."""
    profile, _ = Profile.objects.get_or_create(user=user)
    changed = []
    for field in ("name", "department", "mobile"):
        value = getattr(identity, field)
        target = "person_name" if field == "name" else field
        if value and getattr(profile, target) != value:
            setattr(profile, target, value)
            changed.append(target)
    if changed:
        profile.save(update_fields=[*changed, "updated_at"])


@transaction.atomic
def users_access_end(*, users: list, reason: str, actor=None, request=None) -> dict[str, int]:
    """People who left: each account is deactivated, every API token revoked and every
    session ended, at once. One pass over the live sessions for all of them."""
    if not users:
        return {"tokens_revoked": 0, "sessions_ended": 0}
    ids = {str(u.pk) for u in users}
    get_user_model().objects.filter(pk__in=[u.pk for u in users]).update(is_active=False)
    now = timezone.now()
    tokens = dict.fromkeys(ids, 0)
    for token in ApiToken.objects.filter(user_id__in=[u.pk for u in users],
                                         revoked_at__isnull=True):
        tokens[str(token.user_id)] += 1
    ApiToken.objects.filter(user_id__in=[u.pk for u in users],
                            revoked_at__isnull=True).update(revoked_at=now)
    sessions = dict.fromkeys(ids, 0)
    # Sessions are signed blobs: decode each live one to find whose it is (no index by user).
    for session in Session.objects.filter(expire_date__gt=now).iterator():
        owner = str(session.get_decoded().get("_auth_user_id"))
        if owner in ids:
            session.delete()
            sessions[owner] += 1
    for user in users:
        audit_log(action="user.deactivate", actor=actor, request=request, object_type="user",
                  object_id=user.get_username(),
                  detail={"reason": reason, "tokens_revoked": tokens[str(user.pk)],
                          "sessions_ended": sessions[str(user.pk)]})
    return {"tokens_revoked": sum(tokens.values()), "sessions_ended": sum(sessions.values())}


SSO_PROVIDERS = ("oidc", "dingtalk", "wecom", "feishu")


@transaction.atomic
def sso_app_save(*, provider: str, client_id: str, secret: str, name: str = "",
                 provider_id: str = "", settings: dict | None = None, actor=None):
    """Add or change an SSO provider (an allauth SocialApp row): takes effect at the next
    login, no restart. OIDC needs a `provider_id` (the URL segment) and `server_url`."""
    from allauth.socialaccount.models import SocialApp

    if provider not in SSO_PROVIDERS:
        raise DomainError("sso_provider_unknown", f"未知的单点登录类型：{provider}",
                          f"unknown SSO provider {provider!r} (use {', '.join(SSO_PROVIDERS)})")
    settings = dict(settings or {})
    if provider == "oidc" and (not provider_id or not settings.get("server_url")):
        raise DomainError("sso_oidc_incomplete", "OIDC 需要 provider_id 和 server_url",
                          "OIDC needs a provider_id and a server_url setting")
    if not client_id or not secret:
        raise DomainError("sso_credentials_missing", "缺少 client_id 或 secret",
                          "client_id and secret are required")
    app, created = SocialApp.objects.update_or_create(
        provider=provider, provider_id=provider_id,
        defaults={"client_id": client_id, "secret": secret, "settings": settings,
                  "name": name or provider})
    audit_log(action="sso.configure", actor=actor, object_type="sso_provider",
              object_id=provider_id or provider,
              detail={"provider": provider, "created": created, "settings": sorted(settings)})
    return app
