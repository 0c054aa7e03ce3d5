"""DingTalk (钉钉) login provider `dingtalk`: allauth's, with configurable endpoints, the
enterprise userid as the account's uid and the person's department from the directory."""

from __future__ import annotations

from allauth.socialaccount.providers.dingtalk.provider import DingTalkProvider as _Base

from kjda.accounts.sso.dingtalk.views import DingTalkAdapter
from kjda.accounts.sso.services import OAIdentity


class DingTalkProvider(_Base):
    name = "钉钉"
    oauth2_adapter_class = DingTalkAdapter

    def get_auth_params(self) -> dict:
        return {"prompt": "consent", **super().get_auth_params()}

    def extract_uid(self, data) -> str:
        # The userid is what approvals and the directory carry (openId is per app).
        return str(data.get("userid") or data["unionId"])

    def extract_common_fields(self, data) -> dict:
        entry = data.get("directory") or {}
        return {"username": data.get("userid"), "name": entry.get("name") or data.get("nick"),
                "email": entry.get("email") or data.get("email")}

    def oa_identity(self, data: dict, *, uid: str) -> OAIdentity:
        """The enterprise directory's entry (`topapi/v2/user/get`, read with the app's own
        token) vouches for the person's mobile and e-mail; `users/me` (the personal DingTalk
        account) is only a fallback and vouches for nothing."""
        entry = data.get("directory") or {}
        mobile = str(entry.get("mobile") or "")
        email = str(entry.get("org_email") or entry.get("email") or "")
        return OAIdentity(provider=self.id, user_id=uid,
                          name=str(entry.get("name") or data.get("nick") or ""),
                          mobile=mobile or str(data.get("mobile") or ""),
                          mobile_verified=bool(mobile),
                          email=email or str(data.get("email") or ""),
                          email_verified=bool(email),
                          department=str(data.get("department_name") or ""),
                          directory=bool(entry))


provider_classes = [DingTalkProvider]
