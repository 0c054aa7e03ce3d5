"""OpenID Connect provider `oidc`: allauth's generic one, with PKCE on by default and a nonce
sent with every login (checked in views.OIDCAdapter)."""

from __future__ import annotations

import secrets

from allauth.socialaccount.providers.openid_connect.provider import (
    OpenIDConnectProvider,
    _pick_data,
)
from django.http import HttpRequest

from kjda.accounts.sso.oidc.views import OIDCAdapter
from kjda.accounts.sso.services import OAIdentity, claim_true, setting_true


class OIDCProvider(OpenIDConnectProvider):
    id = "oidc"
    name = "OpenID Connect"
    oauth2_adapter_class = OIDCAdapter
    pkce_enabled_default = True

    def redirect(self, request: HttpRequest, process, next_url=None, data=None, **kwargs):
        nonce = secrets.token_urlsafe(32)
        auth_params = kwargs.pop("auth_params", None)
        auth_params = dict(self.get_auth_params() if auth_params is None else auth_params)
        auth_params["nonce"] = nonce
        # Extra keyword arguments are kept in the login's state (in the session).
        return super().redirect(request, process, next_url, data, auth_params=auth_params,
                                nonce=nonce, **kwargs)

    def oa_identity(self, data: dict, *, uid: str) -> OAIdentity:
        """Standard claims (name, preferred_username, email, phone_number and their
        `*_verified` flags: absent means not verified); the department from the claim named by
        the app's `department_claim` setting, if any. The app setting `directory` (true when
        this IdP is the organisation's managed directory, e.g. Keycloak on AD, where people
        cannot choose their own name or username) lets `preferred_username` match a local
        username and name/department refresh a linked account."""
        claims = {**(data.get("id_token") or {}), **_pick_data(data)}
        app_settings = self.app.settings or {}
        dept_claim = app_settings.get("department_claim") or ""
        dept = claims.get(dept_claim, "") if dept_claim else ""
        if isinstance(dept, list):
            dept = dept[0] if dept else ""
        return OAIdentity(provider=self.sub_id, user_id=uid,
                          name=str(claims.get("name") or ""),
                          username=str(claims.get("preferred_username") or ""),
                          mobile=str(claims.get("phone_number") or ""),
                          mobile_verified=claim_true(claims.get("phone_number_verified")),
                          email=str(claims.get("email") or ""),
                          email_verified=claim_true(claims.get("email_verified")),
                          department=str(dept or ""),
                          directory=setting_true(app_settings.get("directory")))


provider_classes = [OIDCProvider]
