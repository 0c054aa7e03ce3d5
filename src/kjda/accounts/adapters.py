"""django-allauth adapters: accounts are created by the security administrator (or by SSO
provisioning), never by self sign-up."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return False
