"""The key of an account's failed-login counter, shared by the allauth adapter (which counts)
and the services (which read and clear it): here so that neither imports the other."""

from __future__ import annotations


def login_lockout_key(username: str) -> str:
    """The key of an account's failed-login counter in allauth's rate limits (`login_failed`
    per key). allauth's own key starts with the request's host name (we have no sites
    framework), so varying the Host header would reset the count; ours is the username."""
    return f"kjda-login:{username.strip().lower()}"
