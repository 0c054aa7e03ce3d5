"""WeCom (企业微信) login (oa-protocols.md §2.6), a provider of our own on allauth's OAuth2
framework. Browser / QR: `login.work.weixin.qq.com/wwlogin/sso/login?login_type=CorpApp`;
inside the WeCom client (`mode: inapp`): `open.weixin.qq.com/connect/oauth2/authorize
?scope=snsapi_base…#wechat_redirect`. The redirect carries `code`; with the app's token
(`cgi-bin/gettoken`) `cgi-bin/auth/getuserinfo` gives the userid (a non-member gets only an
openid and is refused), `cgi-bin/user/get` and `cgi-bin/department/get` the directory entry.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from allauth.socialaccount.models import SocialToken
from allauth.socialaccount.providers.oauth2.client import OAuth2Client, OAuth2Error
from allauth.socialaccount.providers.oauth2.views import (
    OAuth2Adapter,
    OAuth2CallbackView,
    OAuth2LoginView,
)
from django.http import HttpRequest

from kjda.accounts.sso.http import base_url, call
from kjda.connectors.vendors.wecom import LOGIN, OPEN

API = "https://qyapi.weixin.qq.com"


def _ok(data) -> bool:
    return str(data.get("errcode", "0")) == "0"


class WeComClient(OAuth2Client):
    app: Any = None  # the SocialApp (allauth has no type hints), set by the adapter

    def get_redirect_url(self, authorization_url, scope, extra_params) -> str:
        s = self.app.settings or {}
        agent = str(s.get("agent_id") or "")
        if s.get("mode") == "inapp":
            params = {"appid": self.consumer_key, "redirect_uri": self.callback_url,
                      "response_type": "code", "scope": "snsapi_base", "state": self.state,
                      "agentid": agent}
            return f"{authorization_url}?{urlencode(params)}#wechat_redirect"
        params = {"login_type": "CorpApp", "appid": self.consumer_key, "agentid": agent,
                  "redirect_uri": self.callback_url, "state": self.state}
        return f"{authorization_url}?{urlencode(params)}"

    def get_access_token(self, code, pkce_code_verifier=None, extra_data=None) -> dict:
        api = base_url(self.app, "api_base_url", API)
        token = call("GET", api + "/cgi-bin/gettoken", what="WeCom gettoken", ok=_ok,
                     params={"corpid": self.consumer_key, "corpsecret": self.consumer_secret})
        info = call("GET", api + "/cgi-bin/auth/getuserinfo", what="WeCom getuserinfo", ok=_ok,
                    params={"access_token": token["access_token"], "code": code})
        userid = info.get("userid") or info.get("UserId")  # legacy API capitalises it
        if not userid:
            raise OAuth2Error("WeCom: not a member of the organisation (no userid)")
        return {"access_token": token["access_token"], "userid": str(userid),
                "expires_in": token.get("expires_in")}


class WeComAdapter(OAuth2Adapter):
    provider_id = "wecom"
    client_class = WeComClient

    @property
    def _app(self):
        return self.get_provider().app

    @property
    def authorize_url(self) -> str:
        if (self._app.settings or {}).get("mode") == "inapp":
            return base_url(self._app, "open_base_url", OPEN) + "/connect/oauth2/authorize"
        return base_url(self._app, "login_base_url", LOGIN) + "/wwlogin/sso/login"

    @property
    def access_token_url(self) -> str:
        return base_url(self._app, "api_base_url", API) + "/cgi-bin/gettoken"

    def get_client(self, request: HttpRequest, app):
        client = super().get_client(request, app)
        client.app = app
        return client

    def parse_token(self, data) -> SocialToken:
        token = super().parse_token(data)
        token.token_secret = data["userid"]  # carried to complete_login
        return token

    def complete_login(self, request: HttpRequest, app, token, **kwargs):
        api = base_url(app, "api_base_url", API)
        userid = kwargs["response"]["userid"]
        auth = {"access_token": token.token}
        entry = call("GET", api + "/cgi-bin/user/get", what="WeCom user/get", ok=_ok,
                     params={**auth, "userid": userid})
        dept_name = ""
        depts = entry.get("main_department") or (entry.get("department") or [None])[0]
        if depts:
            dept = call("GET", api + "/cgi-bin/department/get", what="WeCom department/get",
                        ok=_ok, params={**auth, "id": depts}).get("department") or {}
            dept_name = str(dept.get("name") or "")
        extra = {"userid": userid, "directory": {k: v for k, v in entry.items()
                                                 if k not in ("errcode", "errmsg")},
                 "department_name": dept_name}
        return self.get_provider().sociallogin_from_response(request, extra)


    def inapp_login(self, request: HttpRequest, app, code: str):
        """In-app (snsapi_base) login: the code our own /m/wecom/ redirect brought back goes
        the way of a callback's code (getuserinfo → userid, user/get, department/get)."""
        data = self.get_client(request, app).get_access_token(code)
        token = self.parse_token(data)
        token.app = app
        return self.complete_login(request, app, token, response=data)


oauth2_login = OAuth2LoginView.adapter_view(WeComAdapter)
oauth2_callback = OAuth2CallbackView.adapter_view(WeComAdapter)
