"""WeCom (企业微信) login provider `wecom` (allauth has none for WeCom's corp login)."""

from __future__ import annotations

from allauth.socialaccount.providers.base import ProviderAccount
from allauth.socialaccount.providers.oauth2.provider import OAuth2Provider

from kjda.accounts.sso.services import OAIdentity
from kjda.accounts.sso.wecom.views import WeComAdapter


class WeComAccount(ProviderAccount):
    def to_str(self) -> str:
        return str((self.account.extra_data.get("directory") or {}).get("name")
                   or super().to_str())


class WeComProvider(OAuth2Provider):
    id = "wecom"
    name = "企业微信"
    account_class = WeComAccount
    oauth2_adapter_class = WeComAdapter

    def extract_uid(self, data) -> str:
        return str(data["userid"])

    def extract_common_fields(self, data) -> dict:
        entry = data.get("directory") or {}
        return {"username": data["userid"], "name": entry.get("name"),
                "email": entry.get("email") or entry.get("biz_mail")}

    def oa_identity(self, data: dict, *, uid: str) -> OAIdentity:
        entry = data.get("directory") or {}
        return OAIdentity(provider=self.id, user_id=uid, name=str(entry.get("name") or ""),
                          mobile=str(entry.get("mobile") or ""),
                          email=str(entry.get("email") or entry.get("biz_mail") or ""),
                          department=str(data.get("department_name") or ""))


provider_classes = [WeComProvider]
