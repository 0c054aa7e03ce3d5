"""Feishu (飞书) login (oa-protocols.md §3.6) on the current endpoints, with PKCE:
`accounts.feishu.cn/open-apis/authen/v1/authorize` → callback `code` → the standard OAuth2
token endpoint `POST /open-apis/authen/v2/oauth/token` (client id + secret + code_verifier in
a JSON body) → `GET /open-apis/authen/v1/user_info`; the department from the contact API
with the app's tenant token. allauth's Feishu adapter still uses the legacy
`authen/v1/index` and `authen/v1/access_token` (app_access_token) endpoints."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from allauth.socialaccount.models import SocialToken
from allauth.socialaccount.providers.feishu.views import FeishuOAuth2Adapter
from allauth.socialaccount.providers.oauth2.client import OAuth2Client
from allauth.socialaccount.providers.oauth2.views import (
    OAuth2Adapter,
    OAuth2CallbackView,
    OAuth2LoginView,
)
from django.http import HttpRequest

from kjda.accounts.sso.http import base_url, call

ACCOUNTS = "https://accounts.feishu.cn"
API = "https://open.feishu.cn"


def _ok(data) -> bool:
    return data.get("code", 0) == 0


class FeishuClient(OAuth2Client):
    def get_redirect_url(self, authorization_url, scope, extra_params) -> str:
        params = {"client_id": self.consumer_key, "redirect_uri": self.callback_url,
                  "response_type": "code", "state": self.state, **extra_params}
        if scope:
            params["scope"] = " ".join(scope)
        return f"{authorization_url}?{urlencode(params)}"

    def get_access_token(self, code, pkce_code_verifier=None, extra_data=None) -> dict:
        body = {"grant_type": "authorization_code", "client_id": self.consumer_key,
                "client_secret": self.consumer_secret, "code": code,
                "redirect_uri": self.callback_url}
        if pkce_code_verifier:
            body["code_verifier"] = pkce_code_verifier
        return call("POST", self.access_token_url, json=body, ok=_ok,
                    what="Feishu oauth/token")


class FeishuAdapter(FeishuOAuth2Adapter):
    client_class = FeishuClient

    @property
    def _app(self):
        return self.get_provider().app

    @property
    def authorize_url(self) -> str:
        return base_url(self._app, "accounts_base_url", ACCOUNTS) + "/open-apis/authen/v1/authorize"

    @property
    def access_token_url(self) -> str:
        return base_url(self._app, "api_base_url", API) + "/open-apis/authen/v2/oauth/token"

    def get_client(self, request: HttpRequest, app):
        # allauth's Feishu adapter builds its legacy client here, whatever client_class says.
        return OAuth2Adapter.get_client(self, request, app)

    def complete_login(self, request: HttpRequest, app, token, **kwargs):
        api = base_url(app, "api_base_url", API)
        info = call("GET", api + "/open-apis/authen/v1/user_info", ok=_ok,
                    headers={"Authorization": f"Bearer {token.token}"},
                    what="Feishu user_info").get("data") or {}
        tenant = call("POST", api + "/open-apis/auth/v3/tenant_access_token/internal", ok=_ok,
                      json={"app_id": app.client_id, "app_secret": app.secret},
                      what="Feishu tenant_access_token")["tenant_access_token"]
        bearer = {"Authorization": f"Bearer {tenant}"}
        user = call("GET", f"{api}/open-apis/contact/v3/users/{quote(info['open_id'], safe='')}",
                    params={"user_id_type": "open_id"}, headers=bearer, ok=_ok,
                    what="Feishu contact user").get("data", {}).get("user") or {}
        dept_name = ""
        if depts := user.get("department_ids"):
            dept = call("GET", f"{api}/open-apis/contact/v3/departments/{quote(depts[0], safe='')}",
                        params={"department_id_type": "open_department_id"}, headers=bearer,
                        ok=_ok, what="Feishu contact department")
            dept_name = str((dept.get("data", {}).get("department") or {}).get("name") or "")
        extra = {**info, "directory": user, "department_name": dept_name}
        return self.get_provider().sociallogin_from_response(request, extra)


    def inapp_login(self, request: HttpRequest, app, code: str):
        """网页应用免登: the code from the Feishu JSSDK's `tt.requestAccess` (or the older
        `tt.requestAuthCode`) goes to the same token endpoint as a redirect's code, without a
        redirect_uri (none was sent) or PKCE verifier; then the same user_info and contact
        look-ups as the web login."""
        data = call("POST", self.access_token_url, ok=_ok, what="Feishu oauth/token (in-app)",
                    json={"grant_type": "authorization_code", "client_id": app.client_id,
                          "client_secret": app.secret, "code": code})
        return self.complete_login(request, app, SocialToken(token=data["access_token"]))


oauth2_login = OAuth2LoginView.adapter_view(FeishuAdapter)
oauth2_callback = OAuth2CallbackView.adapter_view(FeishuAdapter)
