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
from kjda.accounts.sso.services import OAIdentity


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
        """Standard claims (name, preferred_username, email, phone_number); the department
        from the claim named by the app's `department_claim` setting, if any."""
        claims = {**(data.get("id_token") or {}), **_pick_data(data)}
        dept_claim = (self.app.settings or {}).get("department_claim") or ""
        dept = claims.get(dept_claim, "") if dept_claim else ""
        if isinstance(dept, list):
            dept = dept[0] if dept else ""
        return OAIdentity(provider=self.sub_id, user_id=uid,
                          name=str(claims.get("name") or ""),
                          username=str(claims.get("preferred_username") or ""),
                          mobile=str(claims.get("phone_number") or ""),
                          email=str(claims.get("email") or "") if claims.get(
                              "email_verified", True) else "",
                          department=str(dept or ""))


provider_classes = [OIDCProvider]
