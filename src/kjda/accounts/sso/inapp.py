"""In-app login (免登) of the OA SSO providers: what the entry page inside DingTalk, WeCom or
Feishu needs, and the code it brings back turned into an allauth `SocialLogin`.

- DingTalk (H5 micro-app): the page loads DingTalk's JSAPI and calls `dd.getAuthCode` with the
  corpId; the code is resolved with the app's token (`topapi/v2/user/getuserinfo`).
- WeCom: a redirect to `open.weixin.qq.com/connect/oauth2/authorize?…scope=snsapi_base
  #wechat_redirect`, silent inside the WeCom client; the code goes to `cgi-bin/auth/getuserinfo`.
- Feishu (网页应用免登): the page loads the Feishu H5 JSSDK and calls `tt.requestAccess`
  (`tt.requestAuthCode` on clients before 6.9); the code goes to the OAuth token endpoint.
Each provider's OAuth2 adapter does its exchange (`inapp_login`), then the same directory
look-ups as its web login; the matching rule is the same (kjda.accounts.sso.services)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit

from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialApp

from kjda.accounts.sso.http import base_url

if TYPE_CHECKING:
    from allauth.socialaccount.models import SocialLogin
    from django.http import HttpRequest

# The vendors' official JSSDK scripts (an app setting `jsapi_url` may name another copy).
DINGTALK_JSAPI = "https://g.alicdn.com/dingding/dingtalk-jsapi/3.0.25/dingtalk.open.js"
FEISHU_JSAPI = "https://lf1-cdn-tos.bytegoofy.com/goofy/lark/op/h5-js-sdk-1.5.26.js"
WECOM_OPEN = "https://open.weixin.qq.com"

# platform → how its client hands out the code: a JS API on our page, or a silent redirect
INAPP_FLOWS = {"dingtalk": "jsapi", "wecom": "redirect", "feishu": "jsapi"}


@dataclass(frozen=True)
class InAppEntry:
    """What the entry page of one platform needs (nothing secret)."""

    platform: str
    flow: str  # "jsapi" | "redirect"
    jsapi_url: str = ""
    client_id: str = ""  # DingTalk: the corpId; Feishu: the App ID
    authorize_url: str = ""  # WeCom: the OAuth2 authorize endpoint

    @property
    def jsapi_origin(self) -> str:
        parts = urlsplit(self.jsapi_url)
        ok = parts.scheme in ("https", "http") and parts.netloc
        return f"{parts.scheme}://{parts.netloc}" if ok else ""


def _app(request: HttpRequest, platform: str) -> SocialApp | None:
    try:
        return get_adapter().get_app(request, provider=platform)
    except (SocialApp.DoesNotExist, SocialApp.MultipleObjectsReturned):
        return None


def inapp_entry(request: HttpRequest, platform: str) -> InAppEntry | None:
    """The entry page's configuration, or None when the platform has no in-app login here or
    its SSO app is not configured."""
    flow = INAPP_FLOWS.get(platform)
    app = _app(request, platform) if flow else None
    if app is None or flow is None:
        return None
    settings = app.settings or {}
    if platform in ("dingtalk", "feishu"):
        # dd.getAuthCode needs the corpId (the web login does not); tt.requestAccess the App ID
        client_id = str(settings.get("corp_id") or "") if platform == "dingtalk" \
            else app.client_id
        default = DINGTALK_JSAPI if platform == "dingtalk" else FEISHU_JSAPI
        entry = InAppEntry(platform, flow, client_id=client_id,
                           jsapi_url=str(settings.get("jsapi_url") or default))
        # a script URL that is not http(s) with a host would be no source CSP can name
        return entry if client_id and entry.jsapi_origin else None
    return InAppEntry(platform, flow, client_id=app.client_id,
                      authorize_url=base_url(app, "open_base_url", WECOM_OPEN)
                      + "/connect/oauth2/authorize")


def wecom_authorize_url(request: HttpRequest, entry: InAppEntry, *, redirect_uri: str,
                        state: str) -> str:
    """WeCom's in-app authorize URL (oa-protocols.md §2.6): silent with snsapi_base."""
    app = _app(request, "wecom")
    agent = str((app.settings or {}).get("agent_id") or "") if app else ""
    params = {"appid": entry.client_id, "redirect_uri": redirect_uri, "response_type": "code",
              "scope": "snsapi_base", "state": state, "agentid": agent}
    return f"{entry.authorize_url}?{urlencode(params)}#wechat_redirect"


def inapp_sociallogin(request: HttpRequest, *, platform: str, code: str) -> SocialLogin:
    """The code from the OA client resolved (server side, with the app's credentials) to the
    person, as allauth's social login. Raises OAuth2Error / requests errors when refused,
    SocialApp.DoesNotExist when the provider is not configured."""
    if platform not in INAPP_FLOWS:
        raise SocialApp.DoesNotExist(platform)
    provider = get_adapter().get_provider(request, platform)
    adapter = provider.get_oauth2_adapter(request)
    return adapter.inapp_login(request, provider.app, code)
