"""Small helpers shared by the OA login providers (allauth makes its calls with `requests`)."""

from __future__ import annotations

from typing import Any

from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.providers.oauth2.client import OAuth2Error


def base_url(app, key: str, default: str) -> str:
    """A vendor endpoint's base URL from the provider's settings (so tests and private
    deployments can point elsewhere), else the vendor's public one."""
    return str((app.settings or {}).get(key) or default).rstrip("/")


def call(method: str, url: str, *, what: str, ok=None, **kwargs: Any) -> dict[str, Any]:
    """One JSON call; a transport error, non-JSON answer or a vendor error code is an
    OAuth2Error (allauth then shows its error page and our adapter audits the refusal)."""
    with get_adapter().get_requests_session() as sess:
        resp = sess.request(method, url, timeout=15, **kwargs)
    try:
        data = resp.json()
    except ValueError:
        raise OAuth2Error(f"{what}: HTTP {resp.status_code}, not JSON") from None
    good = ok(data) if ok else resp.status_code < 400
    if resp.status_code >= 400 or not good:
        raise OAuth2Error(f"{what} refused: HTTP {resp.status_code} {str(data)[:300]}")
    return data
