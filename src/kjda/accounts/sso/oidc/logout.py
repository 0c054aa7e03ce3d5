"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): when the IdP announces an
`end_session_endpoint`, logging out of KJDA also ends the IdP session, with the login's
id_token as `id_token_hint` and our login page as `post_logout_redirect_uri` (register it with
the IdP). The id_token is kept in the session only, never in the database."""

from __future__ import annotations

from urllib.parse import urlencode

from allauth.utils import build_absolute_uri
from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import resolve_url

_PENDING = "kjda_oidc_logout_pending"  # set by the callback, before we know the login succeeds
_KEY = "kjda_oidc_logout"


def oidc_logout_remember(request: HttpRequest, *, provider: str, uid: str, id_token: str,
                         end_session_endpoint: str, client_id: str) -> None:
    request.session[_PENDING] = {"provider": provider, "uid": uid, "id_token": id_token,
                                 "endpoint": end_session_endpoint, "client_id": client_id}


def on_user_logged_in(sender, request: HttpRequest, user, sociallogin=None, **kwargs) -> None:
    """allauth's `user_logged_in`: keep the id_token only for the SSO login it came with (a
    refused SSO attempt followed by a password login leaves nothing behind)."""
    pending = request.session.pop(_PENDING, None)
    account = getattr(sociallogin, "account", None)
    if pending and account is not None and (pending["provider"], pending["uid"]) == (
            account.provider, account.uid):
        request.session[_KEY] = pending
    else:
        request.session.pop(_KEY, None)


def oidc_end_session_url(request: HttpRequest) -> str | None:
    """Where to send the browser after our logout to end the IdP session too (None: the
    login did not come from an IdP that supports it). Read before the session is flushed."""
    info = request.session.get(_KEY)
    if not info:
        return None
    back = build_absolute_uri(request, resolve_url(settings.LOGOUT_REDIRECT_URL))
    query = urlencode({"id_token_hint": info["id_token"], "post_logout_redirect_uri": back,
                       "client_id": info["client_id"]})
    endpoint = info["endpoint"]
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"
