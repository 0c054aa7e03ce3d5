"""DingTalk login (oa-protocols.md §1.7): `login.dingtalk.com/oauth2/auth` → callback with
`authCode` → `POST /v1.0/oauth2/userAccessToken` → `GET /v1.0/contact/users/me`; then, with the
app's own token, the enterprise userid (`topapi/user/getbyunionid`) and the directory entry
(`topapi/v2/user/get`, `topapi/v2/department/get`) so the person's department is known. A
DingTalk user who is not a member of the organisation is refused.

allauth's DingTalk adapter has the endpoints fixed; here they come from the app's settings
(`login_base_url`, `api_base_url`, `oapi_base_url`)."""

from __future__ import annotations

from allauth.socialaccount.providers.dingtalk.views import DingTalkOAuth2Adapter
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from django.http import HttpRequest

from kjda.accounts.sso.http import base_url, call

LOGIN = "https://login.dingtalk.com"
API = "https://api.dingtalk.com"
OAPI = "https://oapi.dingtalk.com"


def _ok(data) -> bool:
    return str(data.get("errcode", "0")) == "0"


class DingTalkAdapter(DingTalkOAuth2Adapter):
    provider_id = "dingtalk"

    @property
    def _app(self):
        return self.get_provider().app

    @property
    def authorize_url(self) -> str:
        return base_url(self._app, "login_base_url", LOGIN) + "/oauth2/auth"

    @property
    def access_token_url(self) -> str:
        return base_url(self._app, "api_base_url", API) + "/v1.0/oauth2/userAccessToken"

    @property
    def profile_url(self) -> str:
        return base_url(self._app, "api_base_url", API) + "/v1.0/contact/users/me"

    def complete_login(self, request: HttpRequest, app, token, **kwargs):
        me = call("GET", self.profile_url, what="DingTalk users/me",
                  headers={"x-acs-dingtalk-access-token": token.token})
        oapi, auth = self._app_auth(app)
        found = call("POST", oapi + "/topapi/user/getbyunionid", params=auth, ok=_ok,
                     json={"unionid": me.get("unionId")},
                     what="DingTalk getbyunionid (not a member of the organisation?)")
        userid = str((found.get("result") or {}).get("userid") or "")
        entry, dept_name = self._directory(oapi, auth, userid)
        extra = {**me, "userid": userid, "directory": entry, "department_name": dept_name}
        return self.get_provider().sociallogin_from_response(request, extra)

    def inapp_login(self, request: HttpRequest, app, code: str):
        """H5 micro-app 免登: the code from `dd.getAuthCode` / `dd.runtime.permission.
        requestAuthCode`, resolved with the app's own token (`topapi/v2/user/getuserinfo`,
        a code lives 5 min and is single use) to the enterprise userid; then the same
        directory look-ups as the web login. Only a member of the organisation gets a userid."""
        oapi, auth = self._app_auth(app)
        info = call("POST", oapi + "/topapi/v2/user/getuserinfo", params=auth, ok=_ok,
                    json={"code": code},
                    what="DingTalk getuserinfo (code refused, or not a member?)")
        userid = str((info.get("result") or {}).get("userid") or "")
        if not userid:
            raise OAuth2Error("DingTalk getuserinfo: no userid (not a member of the organisation)")
        entry, dept_name = self._directory(oapi, auth, userid)
        extra = {"nick": entry.get("name") or "", "unionId": entry.get("unionid") or "",
                 "userid": userid, "directory": entry, "department_name": dept_name}
        return self.get_provider().sociallogin_from_response(request, extra)

    @staticmethod
    def _app_auth(app) -> tuple[str, dict[str, str]]:
        oapi = base_url(app, "oapi_base_url", OAPI)
        app_token = call("GET", oapi + "/gettoken", what="DingTalk gettoken", ok=_ok,
                         params={"appkey": app.client_id, "appsecret": app.secret})
        return oapi, {"access_token": app_token["access_token"]}

    @staticmethod
    def _directory(oapi: str, auth: dict[str, str], userid: str) -> tuple[dict, str]:
        """The person's directory entry (`topapi/v2/user/get`) and first department's name."""
        entry = call("POST", oapi + "/topapi/v2/user/get", params=auth, ok=_ok,
                     json={"userid": userid, "language": "zh_CN"},
                     what="DingTalk user/get").get("result") or {}
        dept_name = ""
        if depts := entry.get("dept_id_list"):
            dept = call("POST", oapi + "/topapi/v2/department/get", params=auth, ok=_ok,
                        json={"dept_id": depts[0], "language": "zh_CN"},
                        what="DingTalk department/get").get("result") or {}
            dept_name = str(dept.get("name") or "")
        return entry, dept_name


oauth2_login = OAuth2LoginView.adapter_view(DingTalkAdapter)
oauth2_callback = OAuth2CallbackView.adapter_view(DingTalkAdapter)
