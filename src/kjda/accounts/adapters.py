"""django-allauth adapters: accounts are created by the security administrator (or by SSO
provisioning), never by self sign-up; a lockout is keyed by the username alone and raised as an
alert when it hits an administrator."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest

from kjda.accounts.lockout import login_lockout_key
from kjda.accounts.services import login_failure_record


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return False

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials) -> str:
        # allauth's hook for the per-account key (see login_lockout_key).
        return login_lockout_key(credentials.get("email", credentials.get("username", "")))

    def authentication_failed(self, request: HttpRequest, **credentials) -> None:
        login_failure_record(request=request, username=credentials.get("username", ""))
