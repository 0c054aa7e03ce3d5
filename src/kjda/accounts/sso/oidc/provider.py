"""OpenID Connect provider `oidc`: allauth's generic one, with PKCE on by default and a nonce
sent with every login (checked in views.OIDCAdapter)."""

from __future__ import annotations

import secrets

from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from django.http import HttpRequest

from kjda.accounts.sso.oidc.views import OIDCAdapter


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


provider_classes = [OIDCProvider]
