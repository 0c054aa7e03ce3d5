"""Feishu / Lark (飞书) connector, oa-protocols.md §3.

Callbacks: when an Encrypt Key is set, `X-Lark-Signature` = hex(sha256((timestamp + nonce +
encrypt_key).utf8 || raw body)) is checked over the exact bytes first, then the body
`{"encrypt": …}` is decrypted (key = sha256(encrypt_key), iv = first 16 bytes, AES-256-CBC,
PKCS#7/16); the Verification Token (v2 `header.token`, v1 and url_verification top-level
`token`) is compared in constant time. URL verification is not signed by Feishu: it is answered
(plain `{"challenge": …}`) only when it decrypts under our key and carries our token; any other
unsigned message is refused while a key is configured.
Archive trigger: v1 `approval_instance` and v2 `approval.instance.status_changed_v4` with status
APPROVED; REVERTED (undone after approval) → revoked; everything else → ignored.
API: tenant_access_token (Bearer), approval v4 instance detail (`form` is a JSON string),
attachment URLs from `attachmentV2`/`image` widgets (time-limited, plain GET), IM messages and
task v2 to-dos, and the approval-code instance list for the sweep.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
import uuid
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any, BinaryIO
from urllib.parse import quote

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from kjda.connectors.base import (
    DIRECTORY_MAX_PAGES,
    ApprovalInstance,
    AttachmentRef,
    CallbackOutcome,
    CallbackRejected,
    CallbackReply,
    CallbackRequest,
    ConnectorError,
    Directory,
    DirectoryDepartment,
    DirectoryPerson,
    OAConnector,
    SettingSpec,
    form_mismatch,
)
from kjda.connectors.feishu_api import FeishuApi
from kjda.connectors.feishu_parse import (
    RESULTS,
    form_items,
    from_ms,
    parse_event,
    parse_trail,
    parse_widget,
    rejected,
    to_int,
)
from kjda.connectors.http import RETRY_STATUS, ApiClient, unreachable
from kjda.outbound import OUTBOUND_ERRORS, is_retryable, log_failure

TOLERANCE = 300  # seconds either side of X-Lark-Request-Timestamp
TERMINAL = {"APPROVED", "REJECTED", "CANCELED", "DELETED", "REVERTED"}
_SUBSCRIBED: set[tuple[str, str]] = set()  # (app, approval code) subscribed to its events
_FINISHED: OrderedDict[tuple[str, str], tuple[str, int]] = OrderedDict()  # sweep status memo


# --- crypto (oa-protocols.md §3.1) ---------------------------------------------------------

def lark_signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


def lark_decrypt(encrypt_key: str, encrypt: str) -> bytes:
    def bad(why: str) -> CallbackRejected:
        return CallbackRejected("bad_ciphertext", f"飞书密文无法解密（{why}）",
                                f"Feishu ciphertext can't be decrypted ({why})", status=400)

    try:
        raw = base64.b64decode(encrypt, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise bad("base64") from exc
    if len(raw) < 32 or len(raw) % 16:
        raise bad("length")
    key = hashlib.sha256(encrypt_key.encode()).digest()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(raw[:16])).decryptor()
    plain = decryptor.update(raw[16:]) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= 16 or plain[-pad:] != bytes([pad]) * pad:
        raise bad("padding")
    return plain[:-pad]


class FeishuConnector(FeishuApi, OAConnector):
    kind = "feishu"
    label = "飞书"
    settings_spec = [
        SettingSpec("app_id", help="应用凭证 App ID（cli_…）"),
        SettingSpec("app_secret", secret=True, help="应用凭证 App Secret"),
        SettingSpec("verification_token", secret=True, help="事件订阅 Verification Token"),
        SettingSpec("encrypt_key", secret=True, required=False, default="",
                    help="事件订阅 Encrypt Key（可不设置：飞书允许不加密）"),
        SettingSpec("loan_template", required=False,
                    help="借阅审批模板 Approval Code（借阅申请在 OA 中审批时使用；表单须有借阅单上的各字段） / "
                         "the Approval Code of the loan approval template (its form has the loan's fields)"),
        SettingSpec("api_base_url", required=False, default="https://open.feishu.cn",
                    help="开放平台地址", destination=True),
    ]
    timeout = 15.0
    retries = 3
    backoff = 0.5
    page_size = 100  # the instance list's maximum
    sweep_lookback = timedelta(days=30)  # the instance list filters by start time

    def __init__(self, settings: dict[str, Any], *, connector_id: str = "") -> None:
        super().__init__(settings, connector_id=connector_id)
        self.base_url = str(self.settings["api_base_url"] or "https://open.feishu.cn").rstrip("/")
        self._api: ApiClient | None = None
        self._names: dict[str, str] = {}
        self._contact_ok = True

    # --- callbacks -----------------------------------------------------------------------------
    def handle_callback(self, request: CallbackRequest) -> CallbackOutcome:
        if request.method.upper() != "POST":
            raise rejected("method_not_allowed", "飞书回调只接受 POST", "Feishu callbacks are POST",
                            405)
        signature = self._verify_signature(request)  # over the raw bytes, before any parsing
        payload = self._open(request.body)
        is_challenge = payload.get("type") == "url_verification"
        self._check_token(payload)
        if self.settings["encrypt_key"] and not signature and not is_challenge:
            raise rejected("unsigned", "缺少飞书签名（已配置 Encrypt Key）",
                            "missing X-Lark-Signature while an Encrypt Key is configured", 401)
        if is_challenge:
            challenge = payload.get("challenge")
            if not isinstance(challenge, str):
                raise rejected("malformed", "URL 验证缺少 challenge", "url_verification without "
                                "challenge")
            body = json.dumps({"challenge": challenge}, ensure_ascii=False, separators=(",", ":"))
            return CallbackOutcome(reply=CallbackReply(200, body.encode()))
        events = [parse_event(payload)]
        return CallbackOutcome(reply=CallbackReply(200, b'{"msg":"success"}'), events=events,
                               replay_key=f"feishu:{signature}" if signature else "")

    def _verify_signature(self, request: CallbackRequest) -> str:
        key = self.settings["encrypt_key"] or ""
        headers = {k.lower(): v for k, v in request.headers.items()}
        given = headers.get("x-lark-signature", "")
        if not key or not given:
            return ""
        stamp = headers.get("x-lark-request-timestamp", "")
        nonce = headers.get("x-lark-request-nonce", "")
        expected = lark_signature(stamp, nonce, key, request.body)
        if not hmac.compare_digest(expected.encode(), given.strip().lower().encode()):
            raise rejected("bad_signature", "飞书回调签名校验失败", "X-Lark-Signature mismatch", 401)
        if not stamp.isdigit():
            raise rejected("malformed", "缺少或错误的 X-Lark-Request-Timestamp",
                            "missing or malformed X-Lark-Request-Timestamp")
        seconds = int(stamp) / (1000 if len(stamp) > 11 else 1)
        if abs(time.time() - seconds) > TOLERANCE:
            raise rejected("stale", "飞书回调时间戳已过期", "stale X-Lark-Request-Timestamp", 401)
        return given.strip().lower()

    def _open(self, body: bytes) -> dict[str, Any]:
        try:
            outer = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise rejected("malformed", "回调正文不是合法的 JSON", "callback body is not JSON") from exc
        if not isinstance(outer, dict):
            raise rejected("malformed", "回调正文不是 JSON 对象", "callback body is not an object")
        key = self.settings["encrypt_key"] or ""
        if "encrypt" not in outer:
            if key:
                raise rejected("not_encrypted", "已配置 Encrypt Key，但回调未加密",
                                "callback not encrypted although an Encrypt Key is configured")
            return outer
        if not key:
            raise rejected("not_configured", "回调已加密，但未配置 Encrypt Key",
                            "encrypted callback but no Encrypt Key configured")
        if not isinstance(outer["encrypt"], str):
            raise rejected("malformed", "encrypt 不是字符串", "encrypt is not a string")
        try:
            inner = json.loads(lark_decrypt(key, outer["encrypt"]).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise rejected("malformed", "解密后的内容不是合法的 JSON",
                            "decrypted payload is not JSON") from exc
        if not isinstance(inner, dict):
            raise rejected("malformed", "解密后的内容不是 JSON 对象", "decrypted payload is not an "
                            "object")
        return inner

    def _check_token(self, payload: dict[str, Any]) -> None:
        """The Verification Token is Feishu's only proof of origin besides the signature (there
        is no owner id in the envelope to check; the SDK checks just these two)."""
        header = payload.get("header")
        if payload.get("schema") == "2.0" and isinstance(header, dict):
            given = header.get("token")
        else:
            given = payload.get("token")
        expected = str(self.settings["verification_token"])
        if not isinstance(given, str) or not hmac.compare_digest(given.encode(), expected.encode()):
            raise rejected("bad_token", "飞书 Verification Token 不匹配",
                            "Feishu verification token mismatch", 401)

    # --- instances -----------------------------------------------------------------------------
    def fetch_instance(self, instance_id: str) -> ApprovalInstance:
        data = self._instance_data(instance_id)
        attachments: list[AttachmentRef] = []
        fields = [parse_widget(w, attachments, "") for w in form_items(data.get("form"))]
        trail = parse_trail(data, attachments, self._user_name)
        originator = str(data.get("open_id") or data.get("user_id") or "")
        status = str(data.get("status") or "")
        return ApprovalInstance(
            instance_id=str(data.get("instance_code") or instance_id),
            process_code=str(data.get("approval_code") or ""),
            title=str(data.get("title") or data.get("approval_name") or ""), status=status,
            result=RESULTS.get(status, ""), originator_id=originator,
            originator_name=self._user_name(originator),
            department=self._department_name(str(data.get("department_id") or "")),
            created_at=from_ms(data.get("start_time")), finished_at=from_ms(data.get("end_time")),
            fields=fields, attachments=attachments, trail=trail, raw=data)

    # --- attachments -----------------------------------------------------------------------------
    def download_attachment(self, instance: ApprovalInstance, ref: AttachmentRef,
                            dest: BinaryIO) -> str:
        url = str(ref.extra.get("url") or "")
        if not url:
            raise ConnectorError("attachment_no_url", f"附件 {ref.filename} 没有下载地址",
                                 f"attachment {ref.filename} has no download URL")
        try:
            return self._stream(url, ref, dest)
        except _LinkExpired:
            # The URLs carry a time-limited auth code: re-fetch the instance for a fresh one.
            fresh = next((a for a in self.fetch_instance(instance.instance_id).attachments
                          if a.file_id == ref.file_id), None)
            if fresh is None or not fresh.extra.get("url"):
                raise ConnectorError("attachment_gone", f"附件 {ref.filename} 已不在审批实例中",
                                     f"attachment {ref.filename} is no longer in the instance"
                                     ) from None
            try:
                return self._stream(str(fresh.extra["url"]), ref, dest)
            except _LinkExpired as exc:
                log_failure("feishu attachment", str(fresh.extra["url"]), str(exc))
                raise unreachable("feishu", "附件地址", "attachment URL") from None

    def _stream(self, url: str, ref: AttachmentRef, dest: BinaryIO) -> str:
        start = dest.tell() if dest.seekable() else None
        last, written = "", False
        for attempt in range(self.retries + 1):
            try:
                with self.api.client.stream("GET", url) as response:
                    if response.status_code in RETRY_STATUS:
                        last = f"HTTP {response.status_code}"
                    elif response.status_code >= 400:
                        raise _LinkExpired(f"HTTP {response.status_code}")
                    else:
                        for chunk in response.iter_bytes(64 * 1024):
                            written = True
                            dest.write(chunk)
                        return ref.filename or ref.file_id
            except OUTBOUND_ERRORS as exc:
                last = f"{type(exc).__name__}: {exc}"
                if (written and start is None) or not is_retryable(exc):
                    break  # can't take back a partial body: give up rather than corrupt it
                if start is not None:  # drop a partial body before trying again
                    dest.seek(start)
                    dest.truncate()
            if attempt < self.retries:
                time.sleep(self.backoff * (2 ** attempt))
        if start is not None:
            dest.seek(start)
            dest.truncate()
        log_failure("feishu attachment", url, last)
        raise unreachable("feishu", "附件地址", "attachment URL")

    # --- notices and to-dos ------------------------------------------------------------------------
    def notify(self, *, user_ids: list[str], title: str, text: str, url: str,
               todo: bool = False, key: str = "") -> str:
        key = key or uuid.uuid4().hex
        if todo:
            return self._task(user_ids, title, text, url, key)
        ids = []
        for user in user_ids:
            msg_uuid = key if len(user_ids) == 1 and len(key) <= 50 else hashlib.sha256(
                f"{key}:{user}".encode()).hexdigest()[:40]
            data = self._call("POST", "/open-apis/im/v1/messages",
                              params={"receive_id_type": "open_id"},
                              body={"receive_id": user, "msg_type": "interactive",
                                    "content": json.dumps(_card(title, text, url),
                                                          ensure_ascii=False),
                                    "uuid": msg_uuid})
            ids.append(str(data.get("message_id") or ""))
        return ",".join(ids)

    def _task(self, user_ids: list[str], title: str, text: str, url: str, key: str) -> str:
        body: dict[str, Any] = {
            "summary": title[:3000], "description": (f"{text}\n{url}" if url else text)[:3000],
            "members": [{"id": u, "type": "user", "role": "assignee"} for u in user_ids],
            "client_token": key[:100]}
        if url:
            body["origin"] = {"platform_i18n_name": {"zh_cn": "电子会计档案", "en_us": "KJDA"},
                              "href": {"url": url, "title": title[:512]}}
        data = self._call("POST", "/open-apis/task/v2/tasks", params={"user_id_type": "open_id"},
                          body=body)
        return str((data.get("task") or {}).get("guid") or "")

    # --- sweep -----------------------------------------------------------------------------------
    def list_finished(self, *, since: datetime, until: datetime,
                      process_codes: list[str]) -> list[str]:
        """The list filters by start time: look back `sweep_lookback`, then keep instances that
        are APPROVED with end_time in [since, until) (terminal states are memoised)."""
        start = int((since - self.sweep_lookback).timestamp() * 1000)
        lo, hi = int(since.timestamp() * 1000), int(until.timestamp() * 1000)
        found: list[str] = []
        for code in process_codes:
            page = ""
            while True:
                params = {"approval_code": code, "start_time": str(start), "end_time": str(hi),
                          "page_size": self.page_size, **({"page_token": page} if page else {})}
                data = self._call("GET", "/open-apis/approval/v4/instances", params=params)
                for instance_id in data.get("instance_code_list") or []:
                    status, end = self._finish_state(str(instance_id))
                    if status == "APPROVED" and lo <= end < hi:
                        found.append(str(instance_id))
                page = str(data.get("page_token") or "")
                if not data.get("has_more") or not page:
                    break
        return found

    def _finish_state(self, instance_id: str) -> tuple[str, int]:
        memo_key = (self._token_key, instance_id)
        if memo_key in _FINISHED:
            return _FINISHED[memo_key]
        data = self._instance_data(instance_id)
        state = (str(data.get("status") or ""), to_int(data.get("end_time")))
        if state[0] in TERMINAL:
            _FINISHED[memo_key] = state
            while len(_FINISHED) > 20000:
                _FINISHED.popitem(last=False)
        return state

    def approval_create(self, *, template: str, originator_id: str, title: str,
                        fields: list[tuple[str, str]], url: str, key: str) -> str:
        """`POST /open-apis/approval/v4/instances` (创建审批实例) for the user's open_id. The
        form names widgets by id, so the definition (`GET …/approvals/:approval_code`) maps
        our labels to its widgets. `uuid` makes a retry idempotent: Feishu refuses a second
        instance with 60012, and the first one is then read back by that uuid."""
        path = f"/open-apis/approval/v4/approvals/{quote(template, safe='')}"
        definition = self._call("GET", path, params={"locale": "zh-CN"})
        self._subscribe(path, template)
        try:
            widgets = json.loads(str(definition.get("form") or "[]"))
        except ValueError:
            widgets = []
        by_name = {str(w.get("name") or ""): w for w in widgets if isinstance(w, dict)}
        form = []
        for name, value in fields:
            widget = by_name.get(name)
            if widget is None or widget.get("type") not in ("input", "textarea"):
                raise form_mismatch(self.label, template, name)
            form.append({"id": widget["id"], "type": widget["type"], "value": value})
        body = {"approval_code": template, "open_id": originator_id, "uuid": key[:64],
                "form": json.dumps(form, ensure_ascii=False)}
        try:
            data = self._call("POST", "/open-apis/approval/v4/instances", body=body)
        except ConnectorError as exc:
            if str((exc.detail or {}).get("vendor_code")) != "60012":
                raise
            data = self._instance_data(key[:64])  # created before; its answer was lost
        instance_id = str(data.get("instance_code") or "")
        if not instance_id:
            raise ConnectorError("platform_bad_response", "飞书未返回审批实例 Code",
                                 "Feishu returned no instance_code")
        return instance_id

    def _subscribe(self, path: str, template: str) -> None:
        """Feishu sends an approval's instance events only for definitions the app subscribed
        to (`…/approvals/:approval_code/subscribe`, oa-protocols.md §3.3): subscribe the
        template before its first instance; 1390007 means it already is."""
        if (self._token_key, template) in _SUBSCRIBED:
            return
        try:
            self._call("POST", f"{path}/subscribe")
        except ConnectorError as exc:
            if str((exc.detail or {}).get("vendor_code")) != "1390007":
                raise
        _SUBSCRIBED.add((self._token_key, template))

    def read_directory(self) -> Directory:
        """Contact v3: `departments/0/children` (all levels), then each department's
        `users/find_by_department` (page_token)."""
        out = Directory()
        depts = self._directory_pages(
            "/open-apis/contact/v3/departments/0/children",
            {"department_id_type": "open_department_id", "fetch_child": "true"})
        names = {"0": ""}
        for d in depts:
            if (d.get("status") or {}).get("is_deleted"):
                continue
            names[d["open_department_id"]] = str(d["name"])
            out.departments.append(DirectoryDepartment(
                d["open_department_id"], str(d["name"]), str(d.get("parent_department_id") or "")))
        for dept_id in names:
            for u in self._directory_pages("/open-apis/contact/v3/users/find_by_department",
                                           {"department_id": dept_id, "user_id_type": "open_id",
                                            "department_id_type": "open_department_id"}):
                status = u.get("status") or {}
                main = (u.get("department_ids") or [dept_id])[0]
                out.people.setdefault(str(u["open_id"]), DirectoryPerson(
                    str(u["open_id"]), str(u.get("name") or ""), names.get(main, ""),
                    str(u.get("mobile") or ""),
                    str(u.get("enterprise_email") or u.get("email") or ""),
                    not status.get("is_resigned") and not status.get("is_frozen")))
        return out

    def _directory_pages(self, path: str, params: dict) -> list[dict]:
        items: list[dict] = []
        token = ""
        for _ in range(DIRECTORY_MAX_PAGES):
            data = self._call("GET", path, params={**params, "page_size": 50,
                                                   **({"page_token": token} if token else {})})
            items += data.get("items") or []
            if not data.get("has_more"):
                return items
            token = data["page_token"]
        return items


class _LinkExpired(Exception):
    """The download URL was refused (4xx): its auth code expired or is invalid."""


def _card(title: str, text: str, url: str) -> dict[str, Any]:
    elements: list[dict[str, Any]] = [{"tag": "div", "text": {"tag": "lark_md", "content": text}}]
    if url:
        elements.append({"tag": "action", "actions": [{
            "tag": "button", "type": "primary", "url": url,
            "text": {"tag": "plain_text", "content": "查看档案"}}]})
    return {"config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": title}}, "elements": elements}




