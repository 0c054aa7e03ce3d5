"""Why an SSO login was refused, as a short code for the audit log (`auth.failed`, channel
`sso`, `detail.reason`). allauth hands its adapter only an error kind and an exception whose
text is often just "Invalid id_token" (jwtkit wraps every PyJWT error so): the cause is read
from the exception chain here so the security administrator can tell a replay from an expired
token or a wrong audience."""

from __future__ import annotations

import jwt
from allauth.socialaccount.providers.base import AuthError
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from django.http import HttpRequest
from requests import RequestException


class SSORefused(OAuth2Error):
    """An OAuth2Error that carries its reason code (raised by our own id_token checks)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


# Most specific first: PyJWT's exceptions subclass one another.
_JWT_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidAudienceError, "wrong_audience"),
    (jwt.InvalidIssuerError, "wrong_issuer"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.InvalidAlgorithmError, "algorithm_refused"),
    (jwt.DecodeError, "malformed_token"),
    (jwt.PyJWKClientError, "unknown_key"),
    (jwt.PyJWTError, "invalid_token"),
)


def _chain(exc: BaseException | None):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__  # `raise … from`, as jwtkit does; not unrelated handled ones


def refusal_reason(*, error=None, exception=None, extra_context=None,
                   request: HttpRequest | None = None) -> str:
    """The reason code for one refused SSO callback (see README "Single sign-on")."""
    extra_context = extra_context or {}
    if error == AuthError.CANCELLED:
        return "cancelled"
    if exception is None:
        if "state_id" in extra_context:  # allauth found no login of this browser for `state`
            return "state_missing" if extra_context.get("state_id") else "state_absent"
        idp_error = str(request.GET.get("error", "")) if request is not None else ""
        return f"idp_error:{idp_error[:60]}" if idp_error else "no_code"
    for exc in _chain(exception):
        if isinstance(exc, SSORefused):
            return exc.reason
        for kind, reason in _JWT_REASONS:
            if isinstance(exc, kind):
                return reason
        text = str(exc)
        if "token already used" in text:  # jwtkit's jti replay cache
            return "replay"
        if text.startswith("Invalid 'kid'"):
            return "unknown_key"
        if text.startswith("Error retrieving access token"):
            # The token endpoint refused the code: replayed, expired, PKCE or client secret.
            for code in ("invalid_grant", "invalid_client", "unauthorized_client"):
                if code in text:
                    return f"code_rejected:{code}"
            return "code_rejected"
        if isinstance(exc, RequestException):
            return "idp_unreachable"
    if isinstance(exception, OAuth2Error):
        return "provider_refused"
    return type(exception).__name__[:60]
