"""Who an SSO login is: matching an OA / IdP identity to a KJDA user, or provisioning one; and
taking access away from a person who has left (used by the directory sync).

Matching rule, in this order (README "Single sign-on"):
1. the social account already linked to (provider, OA user id) — allauth looks it up;
2. a KJDA user whose username equals the OA user id — only when the provider speaks for the
   organisation's directory (DingTalk/WeCom userid, Feishu user_id; an OIDC provider only when
   its app setting `directory` is on: `preferred_username` is neither stable nor unique
   per OIDC Core §5.7, so an IdP account named `admin2` must not take the local `admin2`);
3. the one KJDA user whose profile mobile equals the identity's mobile, when the mobile is
   vouched for (the enterprise directory's entry, or OIDC `phone_number_verified` true);
4. the one KJDA user whose e-mail equals the identity's e-mail (case-insensitive), when the
   e-mail is vouched for (directory entry, or OIDC `email_verified` true; absent = not).
Accounts holding one of the three administrator roles (三员) are never matched automatically
(steps 2–4): an OA account must not become an administrator by sharing a name. A user already
linked to another account of the same provider is not matched either. No match: a new user
with `KJDA_SSO_DEFAULT_ROLES` (employee), no password. Name and department (which decide what an
employee may read) are taken from a provider only when it speaks for the directory; a login
that merely matched never renames the account.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from kjda.accounts.models import ApiToken, Profile
from kjda.accounts.roles import ADMIN_TRIO
from kjda.accounts.sso.config import token_auth_method_check
from kjda.audit.services import audit_log
from kjda.errors import DomainError
from kjda.platforms import sso_provider_ids

if TYPE_CHECKING:
    from allauth.socialaccount.models import SocialApp
    from django.contrib.auth.models import User
    from django.http import HttpRequest, HttpResponse


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
    # Vouched for: the enterprise directory says so, or the IdP says it verified the claim.
    mobile_verified: bool = False
    email_verified: bool = False
    # The provider speaks for the organisation's directory (DingTalk, WeCom, Feishu, or an
    # OIDC IdP configured so): its user id may equal a username, its name/department are true.
    directory: bool = False


def claim_true(value: object) -> bool:
    """An OIDC `*_verified` claim: boolean true, or the string "true" some IdPs send (e.g.
    AWS Cognito, older ADFS); anything else, absence included, is not verified."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def setting_true(value: object) -> bool:
    """A yes/no provider setting, from JSON (true) or the environment ("1", "true", "yes")."""
    return value is True or str(value).strip().lower() in {"1", "true", "yes", "on"}


def _matchable(users: QuerySet[User], provider: str) -> QuerySet[User]:
    from allauth.socialaccount.models import SocialAccount

    linked = SocialAccount.objects.filter(provider=provider).values("user_id")
    trio = [uid for uid, roles in Profile.objects.exclude(roles=[]).values_list("user_id", "roles")
            if set(roles) & ADMIN_TRIO]
    # Only people's accounts (with a profile): never the OA intake's system accounts.
    return users.filter(kjda_profile__isnull=False).exclude(pk__in=linked).exclude(pk__in=trio)


def sso_match(identity: OAIdentity) -> tuple[User | None, str]:
    """The existing KJDA user this identity is (steps 2–4 of the rule), and how it matched."""
    users = _matchable(get_user_model().objects.all(), identity.provider)
    if identity.directory:
        for login in (identity.user_id, identity.username):
            if login and (user := users.filter(username=login).first()):
                return user, "username"
    if identity.mobile and identity.mobile_verified:
        found = list(users.filter(kjda_profile__mobile=identity.mobile)[:2])
        if len(found) == 1:
            return found[0], "mobile"
    if identity.email and identity.email_verified:
        found = list(users.filter(email__iexact=identity.email)[:2])
        if len(found) == 1:
            return found[0], "email"
    return None, ""


def sso_unvouched_claims(identity: OAIdentity) -> list[str]:
    """Which claims would have matched an existing account had they been vouched for (for the
    audit detail: why a look-alike got a new account, or was refused)."""
    users = _matchable(get_user_model().objects.all(), identity.provider)
    found = []
    if identity.email and not identity.email_verified and users.filter(
            email__iexact=identity.email).exists():
        found.append("email")
    if identity.mobile and not identity.mobile_verified and users.filter(
            kjda_profile__mobile=identity.mobile).exists():
        found.append("mobile")
    if not identity.directory and any(
            login and users.filter(username=login).exists()
            for login in (identity.user_id, identity.username)):
        found.append("username")
    return found


def _safe_username(value: str) -> str:
    """Django's username characters only (an OIDC `sub` may hold `|`, `:` or spaces)."""
    return re.sub(r"[^\w.@+-]", "_", value)[:150]


@transaction.atomic
def sso_provision(identity: OAIdentity, *, request: HttpRequest | None = None) -> User:
    """A new KJDA user for an OA person who has no account yet (no usable password)."""
    if not settings.KJDA_SSO_PROVISION:
        raise DomainError("sso_no_account", "该单点登录用户在本系统没有账号，请联系安全保密管理员",
                          "there is no KJDA account for this SSO user; ask the security "
                          "administrator", status=403)
    user_model = get_user_model()
    # An employee reads the records whose applicant is their name or username: from a provider
    # that does not speak for the directory (a user may pick their own `name` and
    # `preferred_username` there) neither is taken; the security administrator sets the name.
    trusted = identity.directory
    fallback = _safe_username(f"{identity.provider}-{identity.user_id}")
    username = _safe_username(identity.username or identity.user_id) if trusted else fallback
    if user_model.objects.filter(username=username).exists():
        username = fallback
    n = 1
    while user_model.objects.filter(username=username).exists():
        n += 1
        username = f"{fallback[:140]}-{n}"
    # An unverified e-mail or mobile is not stored: it would make the real owner's ambiguous
    # (steps 3–4 match only one account) or match later by mistake.
    user = user_model(username=username, email=identity.email if identity.email_verified else "")
    user.set_unusable_password()
    user.save()
    roles = sorted(set(settings.KJDA_SSO_DEFAULT_ROLES) - ADMIN_TRIO)
    # Never `must_change_password`: there is no password to change (README "Single sign-on").
    Profile.objects.create(user=user, roles=roles, must_change_password=False,
                           person_name=identity.name if trusted else "",
                           department=identity.department if trusted else "",
                           mobile=identity.mobile if identity.mobile_verified else "")
    audit_log(action="user.provision", request=request, object_type="user", object_id=username,
              detail={"provider": identity.provider, "oa_user_id": identity.user_id,
                      "roles": roles, "department": identity.department if trusted else "",
                      "directory": trusted})
    return user


def sso_profile_refresh(user: User, identity: OAIdentity, *, actor: User | None = None,
                        request: HttpRequest | None = None) -> None:
    """The OA's directory is the source of the person's name, department and mobile: for an
    account already linked to it. Nothing from a provider that does not speak for the
    directory (the caller also never refreshes on the login that first matched). A change is
    audited (`user.update`, the fields changed and where from) in its transaction."""
    if not identity.directory:
        return
    profile, _ = Profile.objects.get_or_create(user=user)
    changed = []
    for field in ("name", "department", "mobile"):
        value = getattr(identity, field)
        target = "person_name" if field == "name" else field
        if field == "mobile" and not identity.mobile_verified:
            continue
        if value and getattr(profile, target) != value:
            setattr(profile, target, value)
            changed.append(target)
    if changed:
        with transaction.atomic():
            profile.save(update_fields=[*changed, "updated_at"])
            audit_log(action="user.update", actor=actor, request=request, object_type="user",
                      object_id=user.get_username(),
                      detail={"source": identity.provider, "changed": changed})


@transaction.atomic
def users_access_end(*, users: list[User], reason: str, actor: User | None = None,
                     request: HttpRequest | None = None) -> dict[str, int]:
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




def sso_provider_choices() -> list[str]:
    """OIDC and the SSO providers of the registered OA platforms (kjda.platforms)."""
    return ["oidc", *sso_provider_ids()]


@transaction.atomic
def sso_app_save(*, provider: str, client_id: str, secret: str, name: str = "",
                 provider_id: str = "", settings: dict[str, Any] | None = None,
                 actor: User | None = None) -> SocialApp:
    """Add or change an SSO provider (an allauth SocialApp row): takes effect at the next
    login, no restart. OIDC needs a `provider_id` (the URL segment) and `server_url`."""
    from allauth.socialaccount.models import SocialApp

    providers = sso_provider_choices()
    if provider not in providers:
        raise DomainError("sso_provider_unknown", f"未知的单点登录类型：{provider}",
                          f"unknown SSO provider {provider!r} (use {', '.join(providers)})")
    settings = dict(settings or {})
    if provider == "oidc" and (not provider_id or not settings.get("server_url")):
        raise DomainError("sso_oidc_incomplete", "OIDC 需要 provider_id 和 server_url",
                          "OIDC needs a provider_id and a server_url setting")
    try:
        token_auth_method_check(str(settings.get("token_auth_method") or ""))
    except ValueError as exc:
        raise DomainError("sso_token_auth_method", "token_auth_method 只能是 client_secret_basic "
                          "或 client_secret_post", str(exc)) from None
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


def safe_next(url: str | None, *, host: str) -> str:
    """`next` only when it is a path on this site (no scheme, no other host: no open redirect)."""
    from django.utils.http import url_has_allowed_host_and_scheme

    url = (url or "").strip()
    if not url.startswith("/") or url.startswith(("//", "/\\")):
        return ""
    return url if url_has_allowed_host_and_scheme(url, allowed_hosts={host}) else ""


def sso_inapp_login(*, request: HttpRequest, platform: str, code: str, next_url: str,
                    default_next: str = "/") -> HttpResponse:
    """Log the person in from inside the OA (免登): the client's code is resolved server side
    (kjda.accounts.sso.inapp) and the login goes allauth's social login path, so the matching
    rule, the refusals and the `auth.sso` / `auth.login` events are the web login's. A code
    the OA refuses, or a provider not configured, is audited (`auth.failed`, channel
    `sso_inapp`) and raised as a DomainError. Returns allauth's answer: the redirect to `next`
    (a path on this site only) or the refusal page."""
    from allauth.socialaccount.helpers import complete_social_login
    from allauth.socialaccount.models import SocialApp
    from requests import RequestException

    from kjda.accounts.sso.inapp import inapp_sociallogin
    from kjda.audit.models import Outcome

    def refuse(code_: str, zh: str, en: str, reason: str, status: int) -> DomainError:
        audit_log(action="auth.failed", request=request, outcome=Outcome.FAILURE,
                  object_type="sso", object_id=platform[:150],
                  detail={"channel": "sso_inapp", "provider": platform, "reason": reason})
        return DomainError(code_, zh, en, status=status)

    if not code:
        raise refuse("sso_inapp_no_code", "未取得 OA 客户端的免登授权码",
                     "the OA client gave no login code", "no_code", 400)
    try:
        sociallogin = inapp_sociallogin(request, platform=platform, code=code[:512])
    except SocialApp.DoesNotExist:
        raise refuse("sso_inapp_unconfigured", "本系统未配置该 OA 平台的单点登录",
                     "single sign-on is not configured for this OA platform",
                     "not_configured", 404) from None
    except (OAuth2Error, RequestException, KeyError) as exc:
        reason = "idp_unreachable" if isinstance(exc, RequestException) else "code_rejected"
        raise refuse("sso_inapp_refused", "OA 平台未确认您的身份（授权码无效或已过期，或您不在本组织中）",
                     "the OA platform did not confirm who you are (the code is invalid or "
                     "expired, or you are not a member of the organisation)", reason,
                     403) from None
    target = safe_next(next_url, host=request.get_host()) or default_next
    sociallogin.state = {"process": "login", "next": target}
    response: HttpResponse = complete_social_login(request, sociallogin)
    return response
