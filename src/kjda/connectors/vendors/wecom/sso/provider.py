"""WeCom (企业微信) login provider `wecom` (allauth has none for WeCom's corp login)."""

from __future__ import annotations

from allauth.socialaccount.providers.base import ProviderAccount
from allauth.socialaccount.providers.oauth2.provider import OAuth2Provider

from kjda.accounts.sso.services import OAIdentity
from kjda.connectors.vendors.wecom.sso.views import WeComAdapter


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
        """Everything here is the enterprise directory's entry (`cgi-bin/user/get` with the
        corp app's token): it vouches for the mobile and e-mail."""
        entry = data.get("directory") or {}
        mobile = str(entry.get("mobile") or "")
        email = str(entry.get("biz_mail") or entry.get("email") or "")
        return OAIdentity(provider=self.id, user_id=uid, name=str(entry.get("name") or ""),
                          mobile=mobile, mobile_verified=bool(mobile),
                          email=email, email_verified=bool(email),
                          department=str(data.get("department_name") or ""),
                          directory=bool(entry))


provider_classes = [WeComProvider]
