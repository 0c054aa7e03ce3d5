"""Standard OpenID Connect login (authorization code + PKCE) on django-allauth, with the
id_token checks allauth's generic provider leaves out (65.x): the signature is verified by the
JWKS even though the token came straight from the token endpoint (allauth skips it then), the
algorithm must be an asymmetric one the provider announced, `nonce` must equal the one sent
with this login, and `azp` must be us when the token names several audiences."""

from __future__ import annotations

import time

from allauth.account.internal.decorators import login_not_required
from allauth.core.internal.deferred import jwt
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.models import SocialApp
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from allauth.utils import build_absolute_uri
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from requests import RequestException

from kjda.accounts.sso.oidc.logout import oidc_logout_remember
from kjda.accounts.sso.reasons import SSORefused
from kjda.audit.models import Action, Outcome
from kjda.audit.services import audit_log

# Never "none" and never HMAC (a client secret known to both sides proves nothing).
ALLOWED_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                                "ES256", "ES384", "ES512", "EdDSA"})
MAX_SKEW = 120  # seconds an `iat` may lie in the future


class OIDCAdapter(OpenIDConnectOAuth2Adapter):
    state: dict | None = None  # set by the callback view before complete_login

    def _decode_id_token(self, app: SocialApp, id_token: str) -> dict:
        try:
            alg = jwt.get_unverified_header(id_token).get("alg")
        except jwt.PyJWTError as exc:
            raise SSORefused("malformed_token", "id_token is not a JWS") from exc
        announced = self.openid_config.get("id_token_signing_alg_values_supported") or ["RS256"]
        if alg not in ALLOWED_ALGORITHMS or alg not in announced:
            raise SSORefused("algorithm_refused", f"id_token algorithm {alg!r} refused")
        claims = jwtkit.verify_and_decode(
            credential=id_token, keys_url=self.openid_config["jwks_uri"],
            issuer=self.openid_config["issuer"], audience=app.client_id,
            lookup_kid=jwtkit.lookup_kid_jwk, verify_signature=True)
        expected = (self.state or {}).get("nonce")
        if not expected or claims.get("nonce") != expected:
            raise SSORefused("nonce_mismatch", "id_token nonce does not match this login")
        audiences = claims.get("aud")
        if isinstance(audiences, list) and len(audiences) > 1 and claims.get("azp") != app.client_id:
            raise SSORefused("wrong_azp", "id_token azp is not this client")
        if "iat" in claims and float(claims["iat"]) > time.time() + MAX_SKEW:
            raise SSORefused("issued_in_future", "id_token issued in the future")
        return claims

    def complete_login(self, request: HttpRequest, app, token, **kwargs):
        login = super().complete_login(request, app, token, **kwargs)
        id_token = (kwargs.get("response") or {}).get("id_token")
        endpoint = self.openid_config.get("end_session_endpoint")
        if id_token and endpoint:  # for RP-initiated logout (oidc/logout.py)
            oidc_logout_remember(request, provider=login.account.provider,
                                 uid=login.account.uid, id_token=id_token,
                                 end_session_endpoint=endpoint, client_id=app.client_id)
        return login

    def get_callback_url(self, request: HttpRequest, app) -> str:
        url = reverse("oidc_callback", kwargs={"provider_id": self.provider_id})
        return build_absolute_uri(request, url, self.redirect_uri_protocol)


class OIDCCallbackView(OAuth2CallbackView):
    def _get_state(self, request: HttpRequest, provider):
        state, resp = super()._get_state(request, provider)
        self.adapter.state = state  # the nonce sent with this login travels in the state
        return state, resp


def _idp_unreachable(request: HttpRequest, provider_id: str) -> HttpResponse:
    """Discovery or JWKS failed (the IdP is down, or the outbound guard refused its address):
    a page that says so, never a 500; the cause is in the server log (kjda.outbound)."""
    audit_log(action=Action.AUTH_FAILED, request=request, outcome=Outcome.FAILURE,
              object_type="user", actor_name=f"oidc:{provider_id}"[:150],
              detail={"channel": "sso", "provider": provider_id, "reason": "idp_unreachable"})
    return render(request, "web/sso_error.html", {
        "code": "idp_unreachable", "zh": "身份提供方不可达，请稍后再试或联系管理员",
        "en": "the identity provider is unreachable; try again later or ask the administrator",
    }, status=502)


@login_not_required
def login(request: HttpRequest, provider_id: str):
    try:
        return OAuth2LoginView.adapter_view(OIDCAdapter(request, provider_id))(request)
    except SocialApp.DoesNotExist:
        raise Http404 from None
    except RequestException:
        return _idp_unreachable(request, provider_id)


@login_not_required
def callback(request: HttpRequest, provider_id: str):
    try:
        return OIDCCallbackView.adapter_view(OIDCAdapter(request, provider_id))(request)
    except SocialApp.DoesNotExist:
        raise Http404 from None
    except RequestException:
        return _idp_unreachable(request, provider_id)
