"""Feishu API plumbing: the tenant_access_token (fetched anew once when refused), `{code, msg}`
errors, and contact look-ups for names (a courtesy: an app without the contact scope falls back
to the ids and stops asking)."""

from __future__ import annotations

import hashlib
import logging
from typing import Any
from urllib.parse import quote

from kjda.connectors.base import ConnectorError
from kjda.connectors.http import ApiClient, TokenCache

log = logging.getLogger(__name__)
TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
TOKEN_ERRORS = {99991661, 99991663, 99991668, 99991677}  # missing / invalid / expired token
NO_SCOPE = {99991672, 99991679, 40004, 41050}  # the app may not read the contact directory


def _api_error(path: str, data: dict[str, Any]) -> ConnectorError:
    code, msg = data.get("code"), data.get("msg") or data.get("errmsg") or ""
    return ConnectorError("platform_error", f"飞书接口 {path} 返回错误 {code}：{msg}",
                          f"Feishu API {path} answered error {code}: {msg}",
                          detail={"vendor_code": code})


class FeishuApi:
    """The API calls of `FeishuConnector`, which sets the settings, base URL and tunables."""

    settings: dict[str, Any]
    base_url: str
    timeout: float
    retries: int
    backoff: float
    _api: ApiClient | None
    _names: dict[str, str]
    _contact_ok: bool

    @property
    def api(self) -> ApiClient:
        if self._api is None:
            self._api = ApiClient(base_url=self.base_url, vendor="feishu", timeout=self.timeout,
                                  retries=self.retries, backoff=self.backoff)
        return self._api

    @property
    def _token_key(self) -> str:
        secret = hashlib.sha256(str(self.settings["app_secret"]).encode()).hexdigest()[:12]
        return f"feishu:{self.base_url}:{self.settings['app_id']}:{secret}"

    def _fetch_token(self) -> tuple[str, int]:
        data = self.api.json("POST", TOKEN_PATH, json={"app_id": self.settings["app_id"],
                                                        "app_secret": self.settings["app_secret"]})
        if data.get("code") != 0 or not data.get("tenant_access_token"):
            raise _api_error(TOKEN_PATH, data)
        return str(data["tenant_access_token"]), int(data.get("expire") or 7200)

    def _call(self, method: str, path: str, *, params: dict | None = None,
              body: dict | None = None) -> dict[str, Any]:
        def send() -> Any:
            token = TokenCache.get(self._token_key, self._fetch_token)
            return self.api.json(method, path, params=params, json=body,
                                 headers={"Authorization": f"Bearer {token}"})

        data = TokenCache.send_refreshing(  # expired or revoked: fetch anew, once
            self._token_key, send,
            refused=lambda d: isinstance(d, dict) and d.get("code") in TOKEN_ERRORS)
        if not isinstance(data, dict):
            raise _api_error(path, {})
        if data.get("code") != 0:
            raise _api_error(path, data)
        return data.get("data") or {}

    def _instance_data(self, instance_id: str) -> dict[str, Any]:
        return self._call("GET", f"/open-apis/approval/v4/instances/{quote(instance_id, safe='')}",
                          params={"locale": "zh-CN", "user_id_type": "open_id"})

    def _contact(self, path: str, params: dict, key: str) -> str:
        if not self._contact_ok:
            return ""
        try:
            data = self._call("GET", path, params=params)
        except ConnectorError as exc:  # names are a courtesy: fall back to the ids
            log.info("feishu contact lookup %s failed: %s", path, exc)
            if exc.code == "platform_unavailable" or exc.detail.get("vendor_code") in NO_SCOPE:
                self._contact_ok = False  # no contact scope, or down: don't ask again
            return ""
        return str((data.get(key) or {}).get("name") or "")

    def _user_name(self, open_id: str) -> str:
        if open_id and open_id not in self._names:
            self._names[open_id] = self._contact(
                f"/open-apis/contact/v3/users/{quote(open_id, safe='')}", {"user_id_type": "open_id"},
                "user")
        return self._names.get(open_id, "")

    def _department_name(self, dept_id: str) -> str:
        if not dept_id or dept_id == "0":
            return ""
        name = self._contact(f"/open-apis/contact/v3/departments/{quote(dept_id, safe='')}",
                             {"department_id_type": "open_department_id"}, "department")
        return name or dept_id
