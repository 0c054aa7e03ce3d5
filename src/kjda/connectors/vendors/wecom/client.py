"""WeCom API plumbing: the access token (refreshed once on a token errcode), errcode handling
with backoff on busy codes, cached user and department names, and media/get streaming (which
answers either the file or a JSON errcode)."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from typing import Any
from urllib.parse import unquote

import httpx

from kjda.connectors.base import (
    AttachmentRef,
    ConnectorError,
)
from kjda.connectors.http import RETRY_STATUS, ApiClient, TokenCache, unreachable
from kjda.connectors.vendors.wecom.parse import to_int
from kjda.outbound import OUTBOUND_ERRORS, is_retryable, log_failure

log = logging.getLogger(__name__)
TOKEN_ERRORS = {40014, 41001, 42001}  # invalid / missing / expired access_token
BUSY_ERRORS = {-1, 45009, 45033}  # system busy, frequency limits: back off and retry


def _errcode(data: dict[str, Any]) -> int:
    return to_int(data.get("errcode", 0), -1) if isinstance(data, dict) else -1


def _api_error(what: str, data: Any) -> ConnectorError:
    code = _errcode(data)
    msg = str(data.get("errmsg", "")) if isinstance(data, dict) else ""
    return ConnectorError("wecom_api_error", f"企业微信接口 {what} 返回错误 {code}：{msg}",
                          f"WeCom API {what} answered errcode {code}: {msg}",
                          detail={"errcode": code})


def _is_json_reply(resp: httpx.Response) -> bool:
    if "content-disposition" in resp.headers:
        return False
    ctype = resp.headers.get("content-type", "").lower()
    return "json" in ctype or ctype.startswith("text/")


def _read_json(resp: httpx.Response) -> dict[str, Any]:
    try:
        raw = resp.read()
    finally:
        resp.close()
    try:
        data = json.loads(raw[:65536])
    except ValueError:
        log_failure("WeCom media/get", resp.url, "neither a file nor JSON")
        raise unreachable("WeCom", "附件下载", "media download") from None
    return data if isinstance(data, dict) else {"errcode": -1, "errmsg": "bad reply"}


def disposition_filename(headers: httpx.Headers) -> str:
    disposition = headers.get("content-disposition", "")
    star = re.search(r"filename\*\s*=\s*([\w-]*)'[^']*'([^;]+)", disposition, re.I)
    if star:
        name = unquote(star.group(2).strip().strip('"'), encoding=star.group(1) or "utf-8",
                       errors="replace")
    else:
        plain = (re.search(r'filename\s*=\s*"([^"]*)"', disposition, re.I)
                 or re.search(r"filename\s*=\s*([^;]+)", disposition, re.I))
        name = plain.group(1).strip() if plain else ""
        if "%" in name:
            name = unquote(name)
    name = re.split(r"[\\/]", name)[-1]
    return "".join(ch for ch in name if ch.isprintable()).strip()[:255]


def _total_size(headers: httpx.Headers) -> int | None:
    match = re.search(r"/(\d+)\s*$", headers.get("content-range", ""))
    if match:
        return int(match.group(1))
    length = headers.get("content-length", "")
    return int(length) if length.isdigit() and "content-range" not in headers else None


class WeComApi:
    """The API calls of `WeComConnector`, which sets the settings, token key and tunables."""

    settings: dict[str, Any]
    timeout: float
    retries: int
    backoff: float
    _api: ApiClient | None
    _base: str
    _token_key: str
    _names: dict[tuple[str, str], str]

    @property
    def api(self) -> ApiClient:
        if self._api is None:
            self._api = ApiClient(base_url=self._base, vendor="WeCom", timeout=self.timeout,
                                  retries=self.retries, backoff=self.backoff)
        return self._api

    def _fetch_token(self) -> tuple[str, int]:
        data = self.api.json("GET", "/cgi-bin/gettoken",
                             params={"corpid": self.settings["corp_id"],
                                     "corpsecret": self.settings["corp_secret"]})
        if _errcode(data) != 0 or not data.get("access_token"):
            raise _api_error("gettoken", data)
        return str(data["access_token"]), to_int(data.get("expires_in"), 7200)

    def _token(self) -> str:
        return TokenCache.get(self._token_key, self._fetch_token)

    def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
              body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One API call with the access token; refresh once on token errors, back off on
        busy/limit codes, raise ConnectorError with the vendor's errcode otherwise."""
        refreshed, busy = False, 0
        while True:
            query = {**(params or {}), "access_token": self._token()}
            data = self.api.json(method, path, params=query, json=body)
            code = _errcode(data)
            if code == 0:
                return data
            if code in TOKEN_ERRORS and not refreshed:
                TokenCache.invalidate(self._token_key)
                refreshed = True
                continue
            if code in BUSY_ERRORS and busy < self.retries:
                time.sleep(self.backoff * (2 ** busy))
                busy += 1
                continue
            raise _api_error(path, data)

    def _lookup(self, kind: str, key: str, path: str, params: dict[str, str],
                pick: Any) -> str:
        """Name of a user or department, cached; falls back to the id when WeCom refuses
        (no privilege, unknown id, no such API) but not when the platform is unreachable."""
        if not key:
            return ""
        if (kind, key) not in self._names:
            try:
                self._names[(kind, key)] = str(pick(self._call("GET", path, params=params))
                                               or key)
            except ConnectorError as exc:
                if exc.code == "platform_unavailable":
                    raise
                self._names[(kind, key)] = key
        return self._names[(kind, key)]

    def _user_name(self, user_id: str) -> str:
        return self._lookup("user", user_id, "/cgi-bin/user/get", {"userid": user_id},
                            lambda d: d.get("name"))

    def _department_name(self, party_id: str) -> str:
        return self._lookup("dept", party_id, "/cgi-bin/department/get", {"id": party_id},
                            lambda d: (d.get("department") or {}).get("name"))

    def _named(self, ref: AttachmentRef) -> AttachmentRef:
        """WeCom's detail has only media ids: a ranged media/get (1 byte) gives name and size."""
        try:
            resp = self._open_media(ref.file_id, probe=True)
        except ConnectorError as exc:
            log.warning("WeCom media %s: name lookup failed: %s", ref.file_id[:24], exc.code)
            return ref
        try:
            size = _total_size(resp.headers)
            return dataclasses.replace(ref, filename=disposition_filename(resp.headers) or ref.filename,
                                       size=size if size is not None else ref.size)
        finally:
            resp.close()

    def _open_media(self, media_id: str, *, probe: bool = False) -> httpx.Response:
        """GET media/get as an open streamed response holding the file's bytes; retries on
        5xx/network errors and busy codes, refreshes the token once, raises on errcodes."""
        refreshed, attempt, last = False, 0, ""
        while attempt <= self.retries:
            request = self.api.client.build_request(
                "GET", "/cgi-bin/media/get",
                params={"access_token": self._token(), "media_id": media_id},
                headers={"Range": "bytes=0-0"} if probe else {})
            try:
                resp = self.api.client.send(request, stream=True)
            except OUTBOUND_ERRORS as exc:
                last = f"{type(exc).__name__}: {exc}"
                if not is_retryable(exc):
                    break
            else:
                if resp.status_code in RETRY_STATUS:
                    last = f"HTTP {resp.status_code}"
                    resp.close()
                elif _is_json_reply(resp):
                    data = _read_json(resp)
                    code = _errcode(data)
                    if code in TOKEN_ERRORS and not refreshed:
                        TokenCache.invalidate(self._token_key)
                        refreshed = True
                        continue
                    if code not in BUSY_ERRORS:
                        raise _api_error("media/get", data)
                    last = f"errcode {code}"
                elif resp.status_code >= 400:
                    resp.close()
                    log_failure("WeCom media/get", request.url, f"HTTP {resp.status_code}")
                    raise unreachable("WeCom", "附件下载", "media download")
                else:
                    return resp
            attempt += 1
            if attempt <= self.retries:
                time.sleep(self.backoff * (2 ** (attempt - 1)))
        log_failure("WeCom media/get", request.url, last)
        raise unreachable("WeCom")
