"""DingTalk (钉钉) connector, oa-protocols.md §0 and §1.

* Callbacks: HTTP event subscription, `POST ?signature|msg_signature & timestamp|timeStamp &
  nonce` with `{"encrypt": …}`, WXBizMsgCrypt with owner = `owner_key` (corpId, appKey or
  suiteKey). Every delivery, handshakes included, is answered with the encrypted `success` JSON.
  Archive trigger: `bpms_instance_change` with type "finish" and result "agree".
* Reversals: DingTalk sends no "revoked after approval" event. Revoking an approved instance X
  creates a new instance R with `bizAction == "REVOKE"` and `mainProcessInstanceId == X`, listed
  in X's `attachedProcessInstanceIds`; R's own finish/agree arrives as an ordinary approval event.
  So `fetch_instance(R)` returns `status="revoked"` and `reverts_instance_id=X`, and
  `fetch_instance(X)` returns `status="revoked"` once an attached REVOKE instance was agreed.
* API: new token (`/v1.0/oauth2/accessToken`, header `x-acs-dingtalk-access-token`) for
  api.dingtalk.com, legacy `gettoken` (`?access_token=`) for oapi.dingtalk.com.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO
from urllib.parse import quote

import httpx

from kjda.connectors.base import (
    ApprovalEvent,
    ApprovalInstance,
    AttachmentRef,
    CallbackOutcome,
    CallbackRejected,
    CallbackReply,
    CallbackRequest,
    ConnectorError,
    FormField,
    OAConnector,
    SettingSpec,
    TrailEntry,
)
from kjda.connectors.http import RETRY_STATUS, ApiClient, TokenCache
from kjda.connectors.wxcrypto import WXBizMsgCrypt
from kjda.errors import DomainError

log = logging.getLogger(__name__)

TOKEN_HEADER = "x-acs-dingtalk-access-token"
CST = timezone(timedelta(hours=8))  # legacy "2022-06-19 23:21:17" times are Beijing time
NO_EVENT_TYPES = frozenset({"check_url", "check_create_suite_url", "check_update_suite_url",
                            "check_suite_license_code", "suite_ticket", "tmp_auth_code"})
LEGACY_TOKEN_ERRORS = frozenset({"40014", "41001", "42001"})
NUMERIC_TYPES = frozenset({"MoneyField", "NumberField", "CalculateField"})
JSON_LIST_TYPES = frozenset({"DDMultiSelectField", "DDDateRangeField", "DDPhotoField"})
TRAIL_ACTIONS = {
    "START_PROCESS_INSTANCE": "发起", "EXECUTE_TASK_NORMAL": "审批", "EXECUTE_TASK_AGENT": "代理审批",
    "EXECUTE_TASK_AUTO": "自动审批", "PROCESS_CC": "抄送", "ADD_REMARK": "评论",
    "REDIRECT_TASK": "转交", "REDIRECT_PROCESS": "退回", "APPEND_TASK_BEFORE": "前加签",
    "APPEND_TASK_AFTER": "后加签", "TERMINATE_PROCESS_INSTANCE": "撤销",
    "FINISH_PROCESS_INSTANCE": "结束",
}
MAX_WINDOW = timedelta(days=120)  # instanceIds/query refuses longer windows
CHUNK = 64 * 1024


# --- small parsers ---------------------------------------------------------------------------

def _json_list(value: Any) -> list:
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            return []
        return parsed if isinstance(parsed, list) else []
    return []


def _decimal(value: Any) -> Decimal | None:
    text = str(value if value is not None else "").replace(",", "").replace("¥", "").strip()
    if not text or text == "null":
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def parse_time(value: Any) -> datetime | None:
    """ms epoch (int or digits), ISO-8601 ("2022-08-31T11:52Z") or legacy Beijing time."""
    if value in (None, "", "null"):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        number = int(value)
        return datetime.fromtimestamp(number / 1000 if number > 10**11 else number, UTC)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=CST)


def _event_id(etype: str, payload: dict[str, Any], plain: bytes) -> str:
    pid = str(payload.get("processInstanceId") or "")
    when = payload.get("finishTime") or payload.get("createTime") or ""
    parts = [pid, str(payload.get("type") or ""), str(payload.get("result") or "-"), str(when)]
    if etype == "bpms_task_change":
        parts = ["task", pid, str(payload.get("taskId") or payload.get("staffId") or "")] + parts[1:]
    elif etype != "bpms_instance_change" or not pid:
        parts = [etype, hashlib.sha256(plain).hexdigest()[:32]]
    event_id = ":".join(parts)
    return event_id if len(event_id) <= 200 else hashlib.sha256(event_id.encode()).hexdigest()


def parse_event(payload: dict[str, Any], plain: bytes) -> ApprovalEvent | None:
    """The approval event a decrypted callback carries (None for handshakes and ISV plumbing)."""
    etype = str(payload.get("EventType") or payload.get("eventType") or "")
    if etype in NO_EVENT_TYPES:
        return None
    typ, result = str(payload.get("type") or ""), str(payload.get("result") or "")
    trigger = etype == "bpms_instance_change" and typ == "finish" and result == "agree"
    return ApprovalEvent(
        event_id=_event_id(etype, payload, plain),
        instance_id=str(payload.get("processInstanceId") or ""),
        action="approved" if trigger else "ignored",
        process_code=str(payload.get("processCode") or ""),
        event_type=etype,
        occurred_at=parse_time(payload.get("finishTime") or payload.get("createTime")
                               or payload.get("EventTime")),
        reason="" if trigger else f"not an archive trigger: {etype} type={typ} result={result}",
        payload=payload)


def _file_refs(value: Any, *, field_id: str, field_name: str, **extra: Any) -> list[AttachmentRef]:
    refs = []
    for item in _json_list(value):
        if isinstance(item, dict) and item.get("fileId"):
            size = item.get("fileSize")
            refs.append(AttachmentRef(
                file_id=str(item["fileId"]), filename=str(item.get("fileName") or item["fileId"]),
                size=int(size) if str(size or "").isdigit() else None, field_id=field_id,
                field_name=field_name,
                extra={"spaceId": str(item.get("spaceId") or ""),
                       "fileType": str(item.get("fileType") or ""), **extra}))
    return refs


def _photo_refs(value: Any, *, field_id: str, field_name: str) -> list[AttachmentRef]:
    refs = []
    for n, url in enumerate(_json_list(value), 1):
        if isinstance(url, str) and url.startswith("http"):
            name = url.split("?")[0].rsplit("/", 1)[-1] or f"{field_name}-{n}.jpg"
            refs.append(AttachmentRef(file_id=hashlib.sha1(url.encode()).hexdigest()[:16],  # noqa: S324 - an id, not security
                                      filename=name, field_id=field_id, field_name=field_name,
                                      extra={"url": url}))
    return refs


def _normalise(ctype: str, value: Any, *, field_id: str, name: str
               ) -> tuple[Any, list[AttachmentRef]]:
    if ctype == "DDAttachment":
        refs = _file_refs(value, field_id=field_id, field_name=name)
        return [r.filename for r in refs], refs
    if ctype == "TableField":
        return _parse_table(value, table_name=name)
    if ctype == "DDPhotoField":
        return _json_list(value), _photo_refs(value, field_id=field_id, field_name=name)
    if ctype in NUMERIC_TYPES:
        number = _decimal(value)
        return (number if number is not None else (value or "")), []
    if ctype in JSON_LIST_TYPES:
        return _json_list(value), []
    return ("" if value in (None, "null") else value), []


def _parse_table(value: Any, *, table_name: str) -> tuple[list[dict[str, Any]], list[AttachmentRef]]:
    """TableField rows → [{column label: normalised value}], plus the files in its cells."""
    rows: list[dict[str, Any]] = []
    refs: list[AttachmentRef] = []
    for n, row in enumerate(_json_list(value), 1):
        cells = row.get("rowValue", []) if isinstance(row, dict) else []
        out: dict[str, Any] = {}
        for cell in cells if isinstance(cells, list) else []:
            label = str(cell.get("label") or cell.get("key") or "")
            ctype = str(cell.get("componentType") or "")
            if not ctype and _json_list(cell.get("value")) and "fileId" in str(cell.get("value")):
                ctype = "DDAttachment"
            norm, cell_refs = _normalise(ctype, cell.get("value"),
                                         field_id=str(cell.get("key") or ""), name=label)
            out[label] = norm
            refs += [AttachmentRef(r.file_id, r.filename, r.size, r.field_id, r.field_name,
                                   {**r.extra, "table": table_name, "row": n}) for r in cell_refs]
        rows.append(out)
    return rows, refs


def parse_form(values: list[dict[str, Any]]) -> tuple[list[FormField], list[AttachmentRef]]:
    fields, refs = [], []
    for comp in values or []:
        ctype = str(comp.get("componentType") or comp.get("component_type") or "")
        fid, name = str(comp.get("id") or ""), str(comp.get("name") or "")
        value, comp_refs = _normalise(ctype, comp.get("value"), field_id=fid, name=name)
        fields.append(FormField(id=fid, name=name, value=value, kind=ctype, raw=comp))
        refs += comp_refs
    return fields, refs


def parse_trail(records: list[dict[str, Any]], names: dict[str, str]
                ) -> tuple[list[TrailEntry], list[AttachmentRef]]:
    trail, refs = [], []
    for rec in records or []:
        user = str(rec.get("userId") or "")
        kind = str(rec.get("type") or "")
        trail.append(TrailEntry(
            actor_id=user, actor_name=names.get(user, ""), action=TRAIL_ACTIONS.get(kind, kind),
            result=str(rec.get("result") or "NONE").lower(), time=parse_time(rec.get("date")),
            remark=str(rec.get("remark") or ""), node=str(rec.get("showName") or "")))
        refs += _file_refs(rec.get("attachments"), field_id="", field_name="", comment=True,
                           actor_id=user)
    return trail, refs


def instance_status(raw: dict[str, Any]) -> str:
    status, result = str(raw.get("status") or ""), str(raw.get("result") or "").lower()
    if status == "COMPLETED":
        if str(raw.get("bizAction") or "") == "REVOKE" and result == "agree":
            return "revoked"
        return "approved" if result == "agree" else "rejected"
    if status in ("TERMINATED", "CANCELED"):
        return "revoked"
    return "running"


# --- the connector ---------------------------------------------------------------------------

class DingTalkConnector(OAConnector):
    kind = "dingtalk"
    label = "钉钉"
    settings_spec = [
        SettingSpec("app_key", help="应用的 AppKey（Client ID） / the app's AppKey"),
        SettingSpec("app_secret", secret=True, help="应用的 AppSecret / the app's AppSecret"),
        SettingSpec("agent_id", required=False,
                    help="应用的 AgentId，发送工作通知需要 / AgentId, needed for work notices"),
        SettingSpec("token", secret=True, help="事件订阅的签名 Token / callback Token"),
        SettingSpec("aes_key", secret=True,
                    help="事件订阅的加密 aes_key（43 位） / callback aes_key (43 chars)"),
        SettingSpec("owner_key", required=False,
                    help="回调加密所属的 corpId、appKey 或 suiteKey，默认 app_key / "
                         "the corpId, appKey or suiteKey callbacks are encrypted for"),
        SettingSpec("api_base_url", required=False, default="https://api.dingtalk.com"),
        SettingSpec("oapi_base_url", required=False, default="https://oapi.dingtalk.com"),
    ]
    max_skew = 300.0  # seconds a callback timestamp may differ from now
    sweep_lookback = timedelta(days=31)  # instanceIds/query filters on *start* time

    _users: dict[str, tuple[float, dict[str, Any]]] = {}
    _finished: dict[str, tuple[bool, datetime | None]] = {}
    _cache_lock = threading.Lock()

    def __init__(self, settings: dict[str, Any], *, connector_id: str = "",
                 timeout: float = 15.0, retries: int = 3, backoff: float = 0.5,
                 transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(settings, connector_id=connector_id)
        s = self.settings
        s["owner_key"] = s.get("owner_key") or s["app_key"]
        for spec in self.settings_spec:  # a blank value from a form means "the default"
            if spec.default and not s.get(spec.name):
                s[spec.name] = spec.default
        try:
            self.crypt = WXBizMsgCrypt(token=s["token"], encoding_aes_key=s["aes_key"],
                                       owner_id=s["owner_key"])
        except ValueError as exc:
            raise DomainError("connector_settings_invalid", "aes_key 必须是 43 位 EncodingAESKey",
                              "aes_key must be a 43-character EncodingAESKey") from exc
        self.clock = time.time
        self.retries, self.backoff = retries, backoff
        opts = dict(vendor="DingTalk", timeout=timeout, retries=retries, backoff=backoff,
                    transport=transport)
        self.api = ApiClient(base_url=s["api_base_url"], **opts)
        self.oapi = ApiClient(base_url=s["oapi_base_url"], **opts)
        self._token_key = f"dingtalk:{s['api_base_url']}:{s['app_key']}"
        self._legacy_key = f"dingtalk-oapi:{s['oapi_base_url']}:{s['app_key']}"
        self._process_codes: dict[str, str] = {}

    # --- callbacks ---------------------------------------------------------------------------
    def handle_callback(self, request: CallbackRequest) -> CallbackOutcome:
        if request.method.upper() != "POST":
            raise CallbackRejected("method_not_allowed", "钉钉回调只接受 POST",
                                   "DingTalk callbacks are POSTed", status=405)
        q = request.query
        sig = q.get("signature") or q.get("msg_signature") or ""
        ts = q.get("timestamp") or q.get("timeStamp") or ""
        nonce = q.get("nonce") or ""
        if not (sig and ts and nonce) or not (ts.isascii() and ts.isdigit()) or len(ts) > 16:
            raise CallbackRejected("malformed", "缺少或错误的 signature/timestamp/nonce 参数",
                                   "missing or invalid signature/timestamp/nonce", status=400)
        encrypt = _encrypt_of(request.body)
        self.crypt.verify(sig, ts, nonce, encrypt)  # over the exact strings received
        self._check_fresh(ts)
        plain = self.crypt.decrypt(encrypt)
        try:
            payload = json.loads(plain)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise CallbackRejected("malformed", "解密后的回调内容不是 JSON 对象",
                                   "decrypted callback is not a JSON object", status=400)
        event = parse_event(payload, plain)
        return CallbackOutcome(reply=self.success_reply(), events=[event] if event else [],
                               replay_key=f"dingtalk:{sig.lower()}")

    def _check_fresh(self, ts: str) -> None:
        value = int(ts)
        sent = value / 1000 if value > 10**11 else value  # DingTalk ms; the Python sample s
        if abs(self.clock() - sent) > self.max_skew:
            raise CallbackRejected("stale", "回调时间戳超出 5 分钟有效期",
                                   "callback timestamp outside the 5-minute window")

    def success_reply(self) -> CallbackReply:
        """The encrypted literal `success` DingTalk expects within 1.5 s, for every delivery."""
        ts = str(int(self.clock() * 1000))
        nonce = secrets.token_hex(8)  # 16 alphanumerics
        encrypt, sig = self.crypt.encrypt_and_sign(b"success", timestamp=ts, nonce=nonce)
        body = {"msg_signature": sig, "timeStamp": ts, "nonce": nonce, "encrypt": encrypt}
        return CallbackReply(200, json.dumps(body, separators=(",", ":")).encode())

    # --- API plumbing ------------------------------------------------------------------------
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
        result = data.get("result") if isinstance(data.get("result"), dict) else {}
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

    # --- instances ---------------------------------------------------------------------------
    def fetch_raw(self, instance_id: str) -> dict[str, Any]:
        data = self._api("GET", "/v1.0/workflow/processInstances",
                         params={"processInstanceId": instance_id})
        result = data.get("result")
        if not isinstance(result, dict):
            raise ConnectorError("platform_bad_response", "钉钉审批实例详情缺少 result",
                                 "DingTalk instance answer has no result")
        return result

    def _revoked_by(self, raw: dict[str, Any]) -> list[str]:
        """Attached instances that revoked this (approved) one and were themselves agreed."""
        if instance_status(raw) != "approved":
            return []
        found = []
        for attached in raw.get("attachedProcessInstanceIds") or []:
            other = self.fetch_raw(str(attached))
            if other.get("bizAction") == "REVOKE" and instance_status(other) == "revoked":
                found.append(str(attached))
        return found

    def fetch_instance(self, instance_id: str) -> ApprovalInstance:
        raw = self.fetch_raw(instance_id)
        revoked_by = self._revoked_by(raw)
        records = raw.get("operationRecords") or []
        originator = str(raw.get("originatorUserId") or "")
        names = self._names({originator} | {str(r.get("userId") or "") for r in records})
        fields, refs = parse_form(raw.get("formComponentValues") or [])
        trail, trail_refs = parse_trail(records, names)
        reverts = str(raw.get("mainProcessInstanceId") or "") \
            if raw.get("bizAction") == "REVOKE" else ""
        return ApprovalInstance(
            instance_id=instance_id,
            process_code=str(raw.get("processCode") or self._process_codes.get(instance_id, "")),
            title=str(raw.get("title") or ""),
            status="revoked" if revoked_by else instance_status(raw),
            result=str(raw.get("result") or "").lower(), originator_id=originator,
            originator_name=names.get(originator, ""),
            department=str(raw.get("originatorDeptName") or ""),
            created_at=parse_time(raw.get("createTime")),
            finished_at=parse_time(raw.get("finishTime")), fields=fields,
            attachments=refs + trail_refs, trail=trail,
            raw={**raw, "kjdaRevokedBy": revoked_by} if revoked_by else raw,
            reverts_instance_id=reverts)

    def download_attachment(self, instance: ApprovalInstance, ref: AttachmentRef,
                            dest: BinaryIO) -> str:
        url = ref.extra.get("url") or self._download_uri(instance.instance_id, ref)
        self._stream(url, dest)
        return ref.filename

    def _download_uri(self, instance_id: str, ref: AttachmentRef) -> str:
        data = self._api("POST", "/v1.0/workflow/processInstances/spaces/files/urls/download",
                         body={"processInstanceId": instance_id, "fileId": ref.file_id,
                               # the vendor's own spelling
                               "withCommentAttatchment": bool(ref.extra.get("comment"))})
        uri = (data.get("result") or {}).get("downloadUri")
        if not uri:
            raise ConnectorError("platform_bad_response", "钉钉未返回附件下载地址",
                                 "DingTalk returned no downloadUri")
        return str(uri)

    def _stream(self, url: str, dest: BinaryIO) -> None:
        """GET the short-lived URL (no token: it is pre-signed) in chunks into `dest`."""
        start = dest.tell() if dest.seekable() else None
        for attempt in range(self.retries + 1):
            last = ""
            try:
                with self.api.client.stream("GET", url) as resp:
                    if resp.status_code < 400:
                        for chunk in resp.iter_bytes(CHUNK):
                            dest.write(chunk)
                        return
                    last = f"HTTP {resp.status_code}"
                    if resp.status_code not in RETRY_STATUS:
                        break
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                if start is None:
                    break
                dest.seek(start)
                dest.truncate()
            if attempt < self.retries:
                time.sleep(self.backoff * 2 ** attempt)
        raise ConnectorError("attachment_download_failed", f"钉钉附件下载失败（{last}）",
                             f"DingTalk attachment download failed ({last})")

    # --- notices -----------------------------------------------------------------------------
    def notify(self, *, user_ids: list[str], title: str, text: str, url: str,
               todo: bool = False, key: str = "") -> str:
        """A work notification (action card linking to `url`) and, when `todo`, a DingTalk
        to-do per user. Returns the work notice task_id, or the to-do ids when `todo`."""
        agent_id = str(self.settings.get("agent_id") or "")
        if not user_ids or not agent_id:
            raise ConnectorError("notify_unconfigured", "缺少接收人或 agent_id",
                                 "no recipients or no agent_id configured")
        if url:
            msg = {"msgtype": "action_card", "action_card": {
                "title": title, "markdown": f"### {title}\n\n{text}",
                "single_title": "查看详情", "single_url": url}}
        else:
            msg = {"msgtype": "markdown", "markdown": {"title": title, "text": f"### {title}\n\n{text}"}}
        # to-dos first: they are idempotent by sourceId, so a retry after a failed work
        # notice does not create them twice
        todo_ids = [self._todo(uid, title, text, url, key) for uid in user_ids] if todo else []
        task_ids = []
        for i in range(0, len(user_ids), 100):  # userid_list takes at most 100 users
            data = self._oapi("/topapi/message/corpconversation/asyncsend_v2", {
                "agent_id": int(agent_id) if agent_id.isdigit() else agent_id,
                "userid_list": ",".join(user_ids[i:i + 100]), "to_all_user": False, "msg": msg})
            task_ids.append(str(data.get("task_id", "")))
        return ",".join(todo_ids if todo else task_ids)

    def _todo(self, user_id: str, title: str, text: str, url: str, key: str) -> str:
        union = str(self.user(user_id).get("unionid") or "")
        if not union:
            raise ConnectorError("dingtalk_error", f"钉钉用户 {user_id} 没有 unionId",
                                 f"DingTalk user {user_id} has no unionId")
        body: dict[str, Any] = {
            "subject": title[:1024], "description": text[:4096], "executorIds": [union],
            "participantIds": [union], "notifyConfigs": {"dingNotify": "1"},
            "isOnlyShowExecutor": True, "priority": 20}
        if url:
            body["detailUrl"] = {"appUrl": url, "pcUrl": url}
        if key:
            source = f"{key}:{user_id}"
            body["sourceId"] = source if len(source) <= 64 else hashlib.sha256(
                source.encode()).hexdigest()
        data = self._api("POST", f"/v1.0/todo/users/{quote(union, safe='')}/tasks",
                         params={"operatorId": union}, body=body)
        return str(data.get("id", ""))

    # --- sweep -------------------------------------------------------------------------------
    def list_finished(self, *, since: datetime, until: datetime,
                      process_codes: list[str]) -> list[str]:
        """Approvals agreed in [since, until). instanceIds/query filters on start time, so
        COMPLETED instances started up to `sweep_lookback` earlier are listed and their finish
        time checked (once: completed instances are cached). Revoke instances are included;
        their fetch says which approval they revert."""
        found: list[str] = []
        for code in process_codes:
            for pid in self._list_ids(code, since - self.sweep_lookback, until):
                self._process_codes[pid] = code
                if pid not in found and self._agreed_within(pid, since, until):
                    found.append(pid)
        return found

    def _list_ids(self, code: str, start: datetime, end: datetime) -> list[str]:
        ids: list[str] = []
        while start < end:
            stop = min(end, start + MAX_WINDOW)
            token: str = "0"
            while True:
                data = self._api("POST", "/v1.0/workflow/processes/instanceIds/query", body={
                    "processCode": code, "startTime": _ms(start), "endTime": _ms(stop),
                    "nextToken": int(token) if token.isdigit() else token, "maxResults": 20,
                    "statuses": ["COMPLETED"]})
                result = data.get("result") or {}
                ids += [str(i) for i in result.get("list") or []]
                token = str(result.get("nextToken") or "")
                if not token or not result.get("list"):
                    break
            start = stop
        return ids

    def _agreed_within(self, pid: str, since: datetime, until: datetime) -> bool:
        key = f"{self._token_key}:{pid}"
        with self._cache_lock:
            cached = self._finished.get(key)
        if cached is None:
            raw = self.fetch_raw(pid)
            cached = (str(raw.get("result") or "").lower() == "agree",
                      parse_time(raw.get("finishTime")))
            if raw.get("status") in ("COMPLETED", "TERMINATED", "CANCELED"):
                with self._cache_lock:
                    if len(self._finished) > 50000:
                        self._finished.clear()
                    self._finished[key] = cached
        agreed, finished = cached
        # finishTime has minute precision ("2022-08-31T11:52Z"): overlap the whole minute
        return agreed and finished is not None and \
            finished < until and finished + timedelta(minutes=1) > since


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _encrypt_of(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    encrypt = data.get("encrypt") if isinstance(data, dict) else None
    if not isinstance(encrypt, str) or not encrypt:
        raise CallbackRejected("malformed", "回调正文必须是含 encrypt 的 JSON",
                               'callback body must be JSON with "encrypt"', status=400)
    return encrypt


def _body(resp: httpx.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        return data
    if resp.status_code >= 400:
        return {}
    raise ConnectorError("platform_bad_response", f"钉钉接口返回的不是 JSON（HTTP {resp.status_code}）",
                         f"DingTalk API answered non-JSON (HTTP {resp.status_code})")


def _vendor_error(code: Any, message: Any) -> ConnectorError:
    return ConnectorError("dingtalk_error", f"钉钉接口错误 {code}：{message or ''}",
                          f"DingTalk API error {code}: {message or ''}",
                          detail={"vendor_code": str(code)})
