"""django-allauth socialaccount adapter: SSO users are matched or provisioned by our rule
(sso/services.py) before allauth logs them in; every SSO login and every refusal is audited."""

from __future__ import annotations

from typing import Any

from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.providers.base import AuthError
from django.http import HttpRequest
from django.shortcuts import render

from kjda.accounts.sso.reasons import refusal_reason
from kjda.accounts.sso.services import (
    OAIdentity,
    sso_match,
    sso_profile_refresh,
    sso_provision,
    sso_unvouched_claims,
)
from kjda.audit.models import Action, Outcome
from kjda.audit.services import audit_log
from kjda.errors import DomainError


def identity_of(sociallogin) -> OAIdentity:
    provider = sociallogin.provider
    data = sociallogin.account.extra_data
    if hasattr(provider, "oa_identity"):
        return provider.oa_identity(data, uid=sociallogin.account.uid)
    common = provider.extract_common_fields(data) or {}
    return OAIdentity(provider=sociallogin.account.provider, user_id=sociallogin.account.uid,
                      name=common.get("name") or "", username=common.get("username") or "",
                      email=common.get("email") or "")


# Why a look-alike was not matched to the account it resembles (the audit reason when
# provisioning is off); the person only sees `sso_no_account`, so nobody learns from the
# answer that an account with that e-mail exists.
_UNVOUCHED_REASONS = {"email": "unverified_email", "mobile": "unverified_phone",
                      "username": "username_not_trusted"}


def _refuse(request: HttpRequest, *, provider: str, uid: str, code: str, zh: str, en: str,
            reason: str = "", extra: dict | None = None):
    audit_log(action=Action.AUTH_FAILED, request=request, outcome=Outcome.FAILURE,
              object_type="user", object_id=uid[:150], actor_name=f"{provider}:{uid}"[:150],
              detail={"channel": "sso", "provider": provider, "reason": reason or code,
                      **(extra or {})})
    response = render(request, "web/sso_error.html", {"code": code, "zh": zh, "en": en},
                      status=403)
    raise ImmediateHttpResponse(response)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def pre_social_login(self, request: HttpRequest, sociallogin) -> None:
        identity = identity_of(sociallogin)
        matched_by, unvouched = "linked", []
        if sociallogin.is_existing:
            user = sociallogin.user
        else:
            user, matched_by = sso_match(identity)
            if user is None:
                unvouched = sso_unvouched_claims(identity)
                user = self._provision_or_refuse(request, identity, unvouched)
                matched_by = "provisioned"
            sociallogin.connect(request, user)
        if not user.is_active:
            _refuse(request, provider=identity.provider, uid=identity.user_id,
                    code="account_inactive", zh="该账号已停用（离职或被停用）",
                    en="this account is deactivated (left the organisation or disabled)")
        if matched_by == "linked":
            # Only an account already linked to this provider takes its name and department
            # (and only from a directory): a login that merely matched renames nobody.
            sso_profile_refresh(user, identity, actor=user, request=request)
        detail: dict[str, Any] = {"provider": identity.provider, "oa_user_id": identity.user_id,
                  "matched_by": matched_by}
        if unvouched:
            detail["unvouched"] = unvouched
        audit_log(action="auth.sso", actor=user, request=request, object_type="user",
                  object_id=str(user.pk), detail=detail)

    def _provision_or_refuse(self, request: HttpRequest, identity: OAIdentity, unvouched: list[str]):
        try:
            return sso_provision(identity, request=request)
        except DomainError as exc:
            reason = next((_UNVOUCHED_REASONS[c] for c in unvouched), exc.code)
            _refuse(request, provider=identity.provider, uid=identity.user_id, code=exc.code,
                    zh=exc.zh, en=exc.en, reason=reason,
                    extra={"unvouched": unvouched} if unvouched else None)

    def on_authentication_error(self, request: HttpRequest, provider, error=None, exception=None,
                                extra_context=None) -> None:
        reason = refusal_reason(error=error, exception=exception, extra_context=extra_context,
                                request=request)
        detail = {"channel": "sso", "provider": getattr(provider, "sub_id", ""),
                  "reason": reason, "message": str(exception or "")[:300]}
        if error and error != AuthError.UNKNOWN:  # allauth's kind says nothing more otherwise
            detail["error"] = str(error)
        audit_log(action=Action.AUTH_FAILED, request=request, outcome=Outcome.FAILURE,
                  object_type="sso", object_id=getattr(provider, "sub_id", "")[:150],
                  detail=detail)
        super().on_authentication_error(request, provider, error=error, exception=exception,
                                        extra_context=extra_context)

    def is_open_for_signup(self, request: HttpRequest, sociallogin) -> bool:
        return False  # accounts come from pre_social_login (matched or provisioned), not a form

    def get_requests_session(self):
        """Every call allauth and our OA logins make (OIDC discovery, JWKS, token, userinfo;
        DingTalk/WeCom/Feishu) goes through the guarded outbound transport: no loopback,
        private or metadata address unless KJDA_OUTBOUND_ALLOW admits it, checked per hop."""
        from allauth.socialaccount import app_settings

        from kjda.outbound import guarded_requests_session

        return guarded_requests_session(timeout=app_settings.REQUESTS_TIMEOUT)
