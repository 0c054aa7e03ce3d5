"""Weaver e-cology 8/9 (泛微), oa-protocols.md §4.

Inbound: a workflow-node Action (Java, written by the customer's e-cology admin from our
published contract, docs/integration/weaver-action.md) POSTs the request as JSON, signed
Standard-Webhooks style with `signing_secret`. The push carries the whole instance
(ApprovalEvent.instance); the idempotency key is requestId + nodeId + src.

Outbound: the e-cology REST API with app registration ("异构系统认证"): regist (appid + cpk) →
spk/secrit; applytoken (secret = base64 RSA-PKCS#1 v1.5(spk, secrit)) → token; business calls
with the headers appid / token / userid (RSA-encrypted). Attachments by
/weaver/weaver.file.FileDownload?fileid= with the same headers; to-dos and notices through the
unified to-do centre (OFS) /rest/ofs/ReceiveRequestInfoByJson. e-cology's REST API has no
"requests finished in a time window" call, so `list_finished` returns [] (no sweep).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import threading
import uuid
from datetime import datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any, BinaryIO, ClassVar
from urllib.parse import quote

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kjda.connectors import signing
from kjda.connectors.base import (
    ApprovalEvent,
    ApprovalInstance,
    AttachmentRef,
    CallbackOutcome,
    CallbackRejected,
    CallbackReply,
    CallbackRequest,
    ConnectorError,
    EventAction,
    OAConnector,
    SettingSpec,
)
from kjda.connectors.http import ApiClient, TokenCache
from kjda.connectors.weaver_parse import (
    ARCHIVE_NODE,
    instance_from_action,
    instance_from_rest,
    lean_payload,
)
from kjda.connectors.webhook import (
    CHINA,
    JsonAnswer,
    filename_from,
    load_json,
    parse_time,
    rejected,
    stream_download,
    write_base64,
)
from kjda.outbound import same_origin

SYSCODE = "KJDA"
TOKEN_TTL = 1800  # seconds asked of applytoken ("time" header)
FILE_DOWNLOAD = "/weaver/weaver.file.FileDownload?fileid="


# --- RSA (Hutool "RSA/ECB/PKCS1Padding", keys as base64 X.509 SubjectPublicKeyInfo) ---------

def _public_key(spk: str) -> rsa.RSAPublicKey:
    text = spk.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode("".join(text.split())))
    except ValueError as exc:
        raise ConnectorError("weaver_bad_spk", "泛微服务端公钥 spk 无法解析",
                             "cannot parse the e-cology server public key (spk)") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConnectorError("weaver_bad_spk", "spk 不是 RSA 公钥", "spk is not an RSA key")
    return key


def rsa_encrypt(spk: str, text: str) -> str:
    """base64(RSA-PKCS#1 v1.5(spk, text)), as e-cology's Hutool RSA expects."""
    return base64.b64encode(_public_key(spk).encrypt(text.encode(), padding.PKCS1v15())).decode()


def _load_private(text: str) -> rsa.RSAPrivateKey:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
    else:
        der = base64.b64decode("".join(text.split()))
        key = serialization.load_der_private_key(der, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConnectorError("weaver_bad_key", "rsa_private_key 不是 RSA 私钥",
                             "rsa_private_key is not an RSA private key")
    return key


def _private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def public_spki_b64(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def _token_expired(data: Any) -> bool:
    if not isinstance(data, dict) or data.get("status") not in (False, "false"):
        return False
    msg = str(data.get("msg") or "")
    return "token不存在或者超时" in msg or "登录信息超时" in msg or data.get("errorCode") == "002"


def _raise_ec_error(data: Any, what: str) -> None:
    if isinstance(data, dict) and data.get("status") in (False, "false"):
        code, msg = data.get("code", data.get("errorCode", "")), data.get("msg", "")
        raise ConnectorError("weaver_error", f"泛微{what}失败（code {code}）：{msg}",
                             f"e-cology {what} failed (code {code}): {msg}")


class WeaverConnector(OAConnector):
    kind = "weaver"
    label = "泛微 e-cology"
    settings_spec = [
        SettingSpec("base_url", help="OA 地址，如 http://oa.example.com", destination=True),
        SettingSpec("app_id", help="ECOLOGY_BIZ_EC 中登记的 APPID（许可证号码）"),
        SettingSpec("signing_secret", secret=True, help="Action 推送签名密钥（whsec_…）"),
        SettingSpec("spk", required=False, help="OA 服务端 RSA 公钥（注册后自动填入）"),
        SettingSpec("rsa_private_key", secret=True, required=False,
                    help="本系统 RSA 私钥（首次使用时生成）"),
        SettingSpec("user_id", required=False, default="1", help="调用接口所用的 OA 用户 id"),
        SettingSpec("allowed_ips", required=False,
                    help="可选：允许推送的 OA 服务器 IP/网段，逗号分隔；留空不限"),
    ]
    timeout = 15.0
    retries = 3
    backoff = 0.5
    transport: httpx.BaseTransport | None = None
    _lock: ClassVar[threading.Lock] = threading.Lock()
    _keys: ClassVar[dict[str, rsa.RSAPrivateKey]] = {}
    _registrations: ClassVar[dict[str, tuple[str, str]]] = {}  # → (spk, secrit)

    def __init__(self, settings: dict[str, Any], *, connector_id: str = "") -> None:
        super().__init__(settings, connector_id=connector_id)
        self.settings["user_id"] = str(self.settings.get("user_id") or "1")
        # Settings learnt at run time (generated RSA key, spk): the caller persists these.
        self.updated_settings: dict[str, str] = {}
        self._api: ApiClient | None = None

    @property
    def cache_key(self) -> str:
        return f"weaver:{self.settings['base_url'].rstrip('/')}:{self.settings['app_id']}"

    @property
    def api(self) -> ApiClient:
        if self._api is None:
            self._api = ApiClient(base_url=self.settings["base_url"], vendor="weaver",
                                  timeout=self.timeout, retries=self.retries,
                                  backoff=self.backoff, transport=self.transport)
            # e-cology lets a session cookie override the userid header: never send cookies.
            self._api.client.cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
        return self._api

    # --- inbound: the Action push --------------------------------------------------------
    def _check_ip(self, remote: str) -> None:
        allowed = [s for s in re.split(r"[\s,]+", self.settings.get("allowed_ips") or "") if s]
        if not allowed:
            return
        try:
            addr = ipaddress.ip_address(remote)
            ok = any(addr in ipaddress.ip_network(net, strict=False) for net in allowed)
        except ValueError:
            ok = False
        if not ok:
            raise CallbackRejected("ip_not_allowed", "推送来源 IP 不在白名单内",
                                   "push source IP is not allowed", status=403)

    def handle_callback(self, request: CallbackRequest) -> CallbackOutcome:
        if request.method.upper() != "POST":
            raise rejected("只接受 POST", "only POST is accepted")
        self._check_ip(request.remote_addr)
        msg_id = signing.verify(self.settings["signing_secret"], request.headers, request.body)
        event = self._event(load_json(request.body))
        reply = json.dumps({"code": 0, "msg": "ok", "eventId": event.event_id}).encode()
        return CallbackOutcome(reply=CallbackReply(200, reply), events=[event], replay_key=msg_id)

    def _event(self, data: dict[str, Any]) -> ApprovalEvent:
        request_id = str(data.get("requestId") or "").strip()
        if not request_id:
            raise rejected("缺少 requestId", "missing requestId")
        src = str(data.get("src") or "").strip().lower()
        node_types = {str(data[k]) for k in ("nodeType", "nextNodeType")
                      if data.get(k) not in (None, "")}
        action: EventAction
        if str(data.get("action") or "").lower() == "revoke" or src == "revoke":
            action, src = "revoked", "revoke"
        elif src == "submit" and (not node_types or ARCHIVE_NODE in node_types):
            action = "approved"
        else:  # reject, withdraw, or a submit that does not reach the archive node
            action = "ignored"
        instance = (instance_from_action(data, status="approved", result="agree")
                    if action == "approved" else None)
        payload = lean_payload(data)
        creator = found if isinstance(found := data.get("creator"), dict) else {}
        if creator.get("id"):
            payload["_originator_id"] = str(creator["id"])
        return ApprovalEvent(
            event_id=f"{request_id}:{data.get('nodeId') or ''}:{src}", instance_id=request_id,
            action=action, process_code=str(data.get("workflowId") or ""),
            event_type=f"ecology.{src or 'unknown'}",
            occurred_at=parse_time(data.get("finishTime")),
            reason=str(data.get("reason") or data.get("remark") or ""),
            payload=payload, instance=instance)

    # --- outbound: the REST API ----------------------------------------------------------
    def _client_key(self) -> rsa.RSAPrivateKey:
        if self.settings.get("rsa_private_key"):
            try:
                return _load_private(self.settings["rsa_private_key"])
            except ValueError as exc:
                raise ConnectorError("weaver_bad_key", "rsa_private_key 无法解析",
                                     "cannot parse rsa_private_key") from exc
        with self._lock:
            key = self._keys.get(self.cache_key)
            if key is None:
                key = self._keys[self.cache_key] = rsa.generate_private_key(65537, 2048)
        self.settings["rsa_private_key"] = self.updated_settings["rsa_private_key"] = \
            _private_pem(key)
        return key

    def _registration(self) -> tuple[str, str]:
        with self._lock:
            cached = self._registrations.get(self.cache_key)
        if cached:
            return cached
        data = self.api.json("POST", "/api/ec/dev/auth/regist",
                             headers={"appid": self.settings["app_id"],
                                      "cpk": public_spki_b64(self._client_key())})
        _raise_ec_error(data, "应用注册（regist）")
        secrit = str(data.get("secrit") or data.get("secret") or "")
        spk = str(data.get("spk") or "")
        if not (secrit and spk):
            raise ConnectorError("weaver_error", "泛微 regist 未返回 secrit/spk",
                                 "e-cology regist returned no secrit/spk")
        if spk != self.settings.get("spk"):
            self.settings["spk"] = self.updated_settings["spk"] = spk
        with self._lock:
            self._registrations[self.cache_key] = (spk, secrit)
        return spk, secrit

    def _fetch_token(self) -> tuple[str, int]:
        for attempt in (0, 1):
            spk, secrit = self._registration()
            data = self.api.json("POST", "/api/ec/dev/auth/applytoken",
                                 headers={"appid": self.settings["app_id"],
                                          "secret": rsa_encrypt(spk, secrit),
                                          "time": str(TOKEN_TTL)})
            if isinstance(data, dict) and data.get("token"):
                return str(data["token"]), TOKEN_TTL
            with self._lock:  # the OA may have been re-set-up: register again, once
                self._registrations.pop(self.cache_key, None)
            if attempt == 1:
                _raise_ec_error(data, "获取 token（applytoken）")
        raise ConnectorError("weaver_error", "泛微 applytoken 未返回 token",
                             "e-cology applytoken returned no token")

    def _headers(self) -> dict[str, str]:
        token = TokenCache.get(self.cache_key, self._fetch_token)
        spk, _ = self._registration()
        return {"appid": self.settings["app_id"], "token": token,
                "userid": rsa_encrypt(spk, self.settings["user_id"])}

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        data = TokenCache.send_refreshing(
            self.cache_key, lambda: self.api.json(method, path, headers=self._headers(), **kwargs),
            refused=_token_expired)
        _raise_ec_error(data, "接口调用")
        return data

    def fetch_instance(self, instance_id: str) -> ApprovalInstance:
        data = self._call("GET", "/api/workflow/paService/getWorkflowRequest",
                          params={"requestId": instance_id})
        if data.get("code") != "SUCCESS" or not isinstance(data.get("data"), dict):
            code, msg = data.get("code", ""), json.dumps(data.get("errMsg", ""), ensure_ascii=False)
            raise ConnectorError(f"weaver_{str(code).lower() or 'error'}",
                                 f"泛微获取流程失败（{code}）：{msg}",
                                 f"e-cology getWorkflowRequest failed ({code}): {msg}")
        return instance_from_rest(data["data"])

    def download_attachment(self, instance: ApprovalInstance, ref: AttachmentRef,
                            dest: BinaryIO) -> str:
        sha256 = str(ref.extra.get("sha256") or "")
        if ref.extra.get("content_base64"):
            write_base64(str(ref.extra["content_base64"]), dest, sha256=sha256)
            return ref.filename
        url = str(ref.extra.get("url") or "")
        if not url:
            file_id = str(ref.extra.get("imageFileId") or ref.file_id)
            url = FILE_DOWNLOAD + quote(file_id)
        # The token headers go to the configured OA only: a path, or a URL on its origin.
        own = (url.startswith("/") and not url.startswith("//")) or same_origin(
            url, self.settings["base_url"])
        if not (own or url.startswith(("http://", "https://"))):
            raise ConnectorError("attachment_unavailable", f"附件地址不可用：{url}",
                                 f"attachment URL not usable: {url}")
        def send() -> httpx.Headers | JsonAnswer:
            try:  # never to a foreign host, nor along a redirect off the OA (kjda.outbound)
                return stream_download(self.api.client, url, dest, vendor="weaver",
                                       headers=self._headers() if own else None,
                                       sha256=sha256, retries=self.retries,
                                       backoff=self.backoff, json_is_error=True)
            except JsonAnswer as answer:  # raised before any byte is written
                return answer

        result = TokenCache.send_refreshing(
            self.cache_key, send,
            refused=lambda r: isinstance(r, JsonAnswer) and _token_expired(r.data))
        if isinstance(result, JsonAnswer):
            _raise_ec_error(result.data, "附件下载")
            raise ConnectorError("weaver_error", "泛微附件下载返回了 JSON 而不是文件",
                                 "e-cology file download answered JSON, not the file")
        return ref.filename or filename_from(result, ref.file_id)

    def notify(self, *, user_ids: list[str], title: str, text: str, url: str,
               todo: bool = False, key: str = "") -> str:
        """A to-do (isremark 0) or a plain notice (isremark 2) in e-cology's unified to-do
        centre (OFS); one call per receiver. Returns the flowid."""
        flowid = key or f"kjda-{uuid.uuid4().hex}"
        now = datetime.now(CHINA)
        stamp = now.strftime("%Y-%m-%d %H:%M:%S")
        for user in user_ids:
            body = {"syscode": SYSCODE, "flowid": flowid, "requestname": title,
                    "workflowname": "电子会计档案", "nodename": "待处理" if todo else "通知",
                    "pcurl": url, "appurl": url, "creator": str(user),
                    "createdatetime": stamp, "receiver": str(user), "receivedatetime": stamp,
                    "receivets": str(int(now.timestamp() * 1000)),
                    "isremark": "0" if todo else "2", "viewtype": "0"}
            data = self.api.json("POST", "/rest/ofs/ReceiveRequestInfoByJson",
                                 content=json.dumps(body, ensure_ascii=False).encode(),
                                 headers={"content-type": "application/json; charset=utf-8"})
            if str(data.get("operResult")) != "1":
                msg = data.get("message") or data.get("msg") or ""
                raise ConnectorError("weaver_ofs_error",
                                     f"泛微统一待办推送失败（operResult {data.get('operResult')}）：{msg}",
                                     f"e-cology OFS to-do failed (operResult "
                                     f"{data.get('operResult')}): {msg}")
        return flowid

    def list_finished(self, *, since: datetime, until: datetime,
                      process_codes: list[str]) -> list[str]:
        """e-cology's REST API has no "finished in a time window" query: no sweep (the Action
        push is the only intake; it retries and can block the flow, see the Action doc)."""
        return []
