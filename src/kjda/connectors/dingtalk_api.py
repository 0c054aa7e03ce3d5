"""DingTalk API plumbing: both access tokens (api.dingtalk.com's `x-acs-dingtalk-access-token`
and oapi.dingtalk.com's legacy `?access_token=`), their error shapes, refresh once on an invalid
token, back off on QPS limits; and user look-ups, cached."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx

from kjda.connectors.base import ConnectorError
from kjda.connectors.http import ApiClient, TokenCache, unreachable
from kjda.outbound import log_failure

log = logging.getLogger(__name__)
TOKEN_HEADER = "x-acs-dingtalk-access-token"
LEGACY_TOKEN_ERRORS = frozenset({"40014", "41001", "42001"})


def _body(resp: httpx.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        return data
    log_failure("DingTalk API", resp.url, f"HTTP {resp.status_code}, not JSON")
    raise unreachable("DingTalk")


def _vendor_error(code: Any, message: Any) -> ConnectorError:
    return ConnectorError("dingtalk_error", f"钉钉接口错误 {code}：{message or ''}",
                          f"DingTalk API error {code}: {message or ''}",
                          detail={"vendor_code": str(code)})


class DingTalkApi:
    """The API calls of `DingTalkConnector`, which sets the clients, keys and caches used here."""

    settings: dict[str, Any]
    api: ApiClient
    oapi: ApiClient
    retries: int
    backoff: float
    _token_key: str
    _legacy_key: str
    _users: dict[str, tuple[float, dict[str, Any]]]
    _cache_lock: threading.Lock

    def _fetch_token(self) -> tuple[str, int]:
        s = self.settings
        resp = self.api.request("POST", "/v1.0/oauth2/accessToken",
                                json={"appKey": s["app_key"], "appSecret": s["app_secret"]})
        data = _body(resp)
        if resp.status_code >= 400 or not data.get("accessToken"):
            raise _vendor_error(data.get("code") or f"HTTP {resp.status_code}", data.get("message"))
        return str(data["accessToken"]), int(data.get("expireIn") or 7200)

    def _fetch_legacy_token(self) -> tuple[str, int]:
        s = self.settings
        resp = self.oapi.request("GET", "/gettoken",
                                 params={"appkey": s["app_key"], "appsecret": s["app_secret"]})
        data = _body(resp)
        if str(data.get("errcode", "")) != "0" or not data.get("access_token"):
            raise _vendor_error(data.get("errcode", f"HTTP {resp.status_code}"), data.get("errmsg"))
        return str(data["access_token"]), int(data.get("expires_in") or 7200)

    def _api(self, method: str, path: str, *, params: dict | None = None,
             body: dict | None = None) -> dict[str, Any]:
        """api.dingtalk.com call: `{code, message}` errors; an invalid or expired token is
        fetched again once; QPS limits are retried with backoff."""
        refreshed, throttled = False, 0
        while True:
            token = TokenCache.get(self._token_key, self._fetch_token)
            resp = self.api.request(method, path, params=params, json=body,
                                    headers={TOKEN_HEADER: token})
            data = _body(resp)
            if resp.status_code < 400 and data.get("success", True) is not False:
                return data
            code = str(data.get("code") or f"HTTP {resp.status_code}")
            lowered = code.lower()
            if not refreshed and (lowered == "invalidauthentication" or (
                    "token" in lowered and ("invalid" in lowered or "expire" in lowered))):
                TokenCache.invalidate(self._token_key)
                refreshed = True
                continue
            if ("qpslimit" in lowered or lowered.startswith("throttling")) and \
                    throttled < self.retries:
                time.sleep(self.backoff * 2 ** throttled)
                throttled += 1
                continue
            raise _vendor_error(code, data.get("message"))

    def _oapi(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """oapi.dingtalk.com call: `{errcode, errmsg}` errors, `?access_token=`."""
        refreshed = False
        while True:
            token = TokenCache.get(self._legacy_key, self._fetch_legacy_token)
            resp = self.oapi.request("POST", path, params={"access_token": token}, json=body)
            data = _body(resp)
            errcode = str(data.get("errcode", "0" if resp.status_code < 400 else resp.status_code))
            if errcode == "0" and resp.status_code < 400:
                return data
            if not refreshed and (errcode in LEGACY_TOKEN_ERRORS
                                  or str(data.get("sub_code", "")) in LEGACY_TOKEN_ERRORS):
                TokenCache.invalidate(self._legacy_key)
                refreshed = True
                continue
            raise _vendor_error(errcode, data.get("errmsg") or data.get("sub_msg"))

    def user(self, user_id: str) -> dict[str, Any]:
        """`topapi/v2/user/get` (name, unionid), cached for an hour."""
        key = f"{self._legacy_key}:{user_id}"
        with self._cache_lock:
            hit = self._users.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        data = self._oapi("/topapi/v2/user/get", {"userid": user_id, "language": "zh_CN"})
        result = found if isinstance(found := data.get("result"), dict) else {}
        with self._cache_lock:
            if len(self._users) > 10000:
                self._users.clear()
            self._users[key] = (time.monotonic() + 3600, result)
        return result

    def _names(self, user_ids: set[str]) -> dict[str, str]:
        names = {}
        for uid in sorted(u for u in user_ids if u):
            try:
                names[uid] = str(self.user(uid).get("name") or "")
            except ConnectorError as exc:  # a name is nice to have; the approval is not lost
                log.info("DingTalk user %s not resolved: %s", uid, exc.en)
        return names
