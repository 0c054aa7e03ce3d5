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
        entry = data.get("directory") or {}
        return OAIdentity(provider=self.id, user_id=uid,
                          name=str(data.get("name") or entry.get("name") or ""),
                          mobile=str(data.get("mobile") or entry.get("mobile") or ""),
                          email=str(data.get("enterprise_email") or data.get("email")
                                    or entry.get("email") or ""),
                          department=str(data.get("department_name") or ""))


provider_classes = [FeishuProvider]
