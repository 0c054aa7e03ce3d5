"""Feishu (飞书) login provider `feishu`: allauth's, moved to the current endpoints."""

from __future__ import annotations

from allauth.socialaccount.providers.feishu.provider import FeishuProvider as _Base

from kjda.accounts.sso.feishu.views import FeishuAdapter
from kjda.accounts.sso.services import OAIdentity


class FeishuProvider(_Base):
    name = "飞书"
    oauth2_adapter_class = FeishuAdapter
    pkce_enabled_default = True

    def get_default_scope(self) -> list[str]:
        return ["contact:user.base:readonly"]

    def oa_identity(self, data: dict, *, uid: str) -> OAIdentity:
        """The contact API's entry (`contact/v3/users/:open_id` with the tenant's token) is the
        enterprise directory and vouches for mobile and e-mail; `authen/v1/user_info` values
        are only fallbacks. The username is the tenant's `user_id` (the open_id is per app)."""
        entry = data.get("directory") or {}
        mobile = str(entry.get("mobile") or "")
        email = str(entry.get("enterprise_email") or entry.get("email") or "")
        return OAIdentity(provider=self.id, user_id=uid,
                          username=str(entry.get("user_id") or ""),
                          name=str(entry.get("name") or data.get("name") or ""),
                          mobile=mobile or str(data.get("mobile") or ""),
                          mobile_verified=bool(mobile),
                          email=email or str(data.get("enterprise_email") or data.get("email")
                                             or ""),
                          email_verified=bool(email),
                          department=str(data.get("department_name") or ""),
                          directory=bool(entry))


provider_classes = [FeishuProvider]
