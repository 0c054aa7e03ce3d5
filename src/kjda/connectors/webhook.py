"""The generic signed webhook: any other OA or ERP pushes finished approvals to us in our
published JSON contract (docs/integration/webhook.md), signed Standard-Webhooks style
(`kjda.connectors.signing`). The event carries the whole instance, so there is nothing to
re-fetch; attachments come inline (base64, with an optional SHA-256) or by URL.

Also home of the small helpers the Weaver connector shares: time parsing, number
normalisation and streaming downloads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx

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
    FormField,
    OAConnector,
    SettingSpec,
    TrailEntry,
)
from kjda.connectors.http import RETRY_STATUS, ApiClient, unreachable
from kjda.outbound import OUTBOUND_ERRORS, guarded_client, is_retryable, log_failure

CHINA = ZoneInfo("Asia/Shanghai")
CHUNK = 64 * 1024
NUMERIC_KINDS = {"money", "amount", "number", "int", "float", "decimal"}


# --- shared helpers ---------------------------------------------------------------------------

def parse_time(value: Any, tz: ZoneInfo = CHINA) -> datetime | None:
    """ISO-8601, "YYYY-MM-DD HH:MM[:SS]", "YYYY-MM-DD" or epoch seconds/milliseconds → an aware
    datetime; a time without an offset is taken in `tz` (OA servers run on China time)."""
    if value in (None, ""):
        return None
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()
                                           and len(value) >= 9):
        number = float(value)
        return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, UTC)
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def to_decimal(value: Any) -> Any:
    """"1,280.50" / "¥1280.5" / 1280.5 → Decimal; anything else is returned unchanged."""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return Decimal(str(value))
    if isinstance(value, str) and value.strip():
        try:
            return Decimal(value.replace(",", "").replace("¥", "").replace("￥", "").strip())
        except InvalidOperation:
            return value
    return value


def write_base64(text: str, dest: BinaryIO, *, sha256: str = "") -> int:
    """Decode inline base64 into `dest` chunk by chunk; verify the SHA-256 when given."""
    digest, size = hashlib.sha256(), 0
    text = "".join(text.split())
    step = CHUNK // 3 * 4
    try:
        for start in range(0, len(text), step):
            chunk = base64.b64decode(text[start:start + step], validate=True)
            digest.update(chunk)
            dest.write(chunk)
            size += len(chunk)
    except (binascii.Error, ValueError) as exc:
        raise ConnectorError("attachment_bad_base64", "附件内容不是合法的 base64",
                             "attachment content is not valid base64") from exc
    _check_sha256(digest.hexdigest(), sha256)
    return size


def _check_sha256(actual: str, expected: str) -> None:
    if expected and not hmac.compare_digest(actual, expected.strip().lower()):
        raise ConnectorError("attachment_digest_mismatch", "附件 SHA-256 与推送的值不符",
                             "attachment SHA-256 differs from the pushed value")


class JsonAnswer(Exception):  # noqa: N818 - a control-flow signal, not an error
    """A download answered JSON (a platform error) instead of the file."""

    def __init__(self, data: Any) -> None:
        super().__init__("json answer")
        self.data = data


def stream_download(client: httpx.Client, url: str, dest: BinaryIO, *, vendor: str,
                    headers: dict[str, str] | None = None, sha256: str = "",
                    retries: int = 3, backoff: float = 0.5,
                    json_is_error: bool = False) -> httpx.Headers:
    """GET `url` into `dest` (seekable) in chunks. 5xx/429 and network errors, also in the
    middle of the body, are retried with backoff, each attempt writing from where `dest` was
    at the start; a JSON answer raises `JsonAnswer` when `json_is_error`. Every failure reads
    "unreachable" to the user (the cause is logged): `client` is a guarded one."""
    last = ""
    start = dest.tell()
    for attempt in range(retries + 1):
        dest.seek(start)
        dest.truncate()  # a retry must not keep the bytes of a broken attempt
        try:
            with client.stream("GET", url, headers=headers) as response:
                if response.status_code in RETRY_STATUS:
                    last = f"HTTP {response.status_code}"
                else:
                    return _drain(response, dest, vendor=vendor, sha256=sha256,
                                  json_is_error=json_is_error)
        except OUTBOUND_ERRORS as exc:
            last = f"{type(exc).__name__}: {exc}"
            if not is_retryable(exc):
                break
        if attempt < retries:
            time.sleep(backoff * (2 ** attempt))
    dest.seek(start)
    dest.truncate()  # nothing of a failed download is kept
    log_failure(f"{vendor} attachment", url, last)
    raise attachment_unreachable(vendor)


def attachment_unreachable(vendor: str) -> ConnectorError:
    return ConnectorError("platform_unavailable", f"{vendor} 附件地址不可达",
                          f"{vendor} attachment URL unreachable")


def _drain(response: httpx.Response, dest: BinaryIO, *, vendor: str, sha256: str,
           json_is_error: bool) -> httpx.Headers:
    if response.status_code >= 400:
        log_failure(f"{vendor} attachment", response.url, f"HTTP {response.status_code}")
        raise attachment_unreachable(vendor)
    if json_is_error and "json" in response.headers.get("content-type", ""):
        body = response.read()[:65536]
        try:
            raise JsonAnswer(json.loads(body))
        except ValueError:
            raise JsonAnswer({"raw": body.decode("utf-8", "replace")}) from None
    digest = hashlib.sha256()
    for chunk in response.iter_bytes(CHUNK):
        digest.update(chunk)
        dest.write(chunk)
    _check_sha256(digest.hexdigest(), sha256)
    return response.headers


def filename_from(headers: httpx.Headers, fallback: str) -> str:
    disposition = headers.get("content-disposition", "")
    if m := re.search(r"filename\*=UTF-8''([^;]+)", disposition, re.I):
        from urllib.parse import unquote

        return unquote(m.group(1).strip().strip('"'))
    if m := re.search(r'filename="?([^";]+)"?', disposition, re.I):
        return m.group(1).strip()
    return fallback


def rejected(zh: str, en: str) -> CallbackRejected:
    return CallbackRejected("malformed", zh, en, status=400)


def load_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise rejected("回调正文不是合法的 JSON", "callback body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise rejected("回调正文必须是 JSON 对象", "callback body must be a JSON object")
    return data


# --- our published instance contract ----------------------------------------------------------

def _field(item: dict[str, Any]) -> FormField:
    kind = str(item.get("kind") or "")
    value = item.get("value")
    if kind.lower() in NUMERIC_KINDS:
        value = to_decimal(value)
    elif kind == "table" and isinstance(value, list):
        value = [[_cell(c) for c in row if isinstance(c, dict)] for row in value
                 if isinstance(row, list)]
    fid = str(item.get("id") or item.get("name") or "")
    return FormField(id=fid, name=str(item.get("name") or fid), value=value, kind=kind, raw=item)


def _cell(item: dict[str, Any]) -> dict[str, Any]:
    f = _field(item)
    return {"id": f.id, "name": f.name, "value": f.value, "kind": f.kind}


def _attachment(item: dict[str, Any], fields: list[FormField]) -> AttachmentRef:
    file_id = str(item.get("file_id") or "")
    if not file_id:
        raise rejected("附件缺少 file_id", "attachment without file_id")
    owner = str(item.get("field") or "")
    field = next((f for f in fields if owner and owner in (f.id, f.name)), None)
    if field is None and not owner:  # an attachment control whose value lists this file id
        field = next((f for f in fields if f.kind == "attachment" and isinstance(f.value, list)
                      and file_id in [str(v) for v in f.value]), None)
    extra = {k: item[k] for k in ("url", "content_base64", "sha256") if item.get(k)}
    size = item.get("size")
    return AttachmentRef(file_id=file_id, filename=str(item.get("filename") or file_id),
                         size=int(str(size)) if str(size or "").isdigit() else None,
                         field_id=field.id if field else owner,
                         field_name=field.name if field else owner, extra=extra)


def _trail(item: dict[str, Any]) -> TrailEntry:
    return TrailEntry(actor_id=str(item.get("actor_id") or ""),
                      actor_name=str(item.get("actor_name") or ""),
                      action=str(item.get("action") or ""), result=str(item.get("result") or ""),
                      time=parse_time(item.get("time")), remark=str(item.get("remark") or ""),
                      node=str(item.get("node") or ""))


def parse_instance(data: Any, *, status: str = "", result: str = "") -> ApprovalInstance:
    """Our contract's `instance` object → ApprovalInstance (400 when it is unusable)."""
    if not isinstance(data, dict) or not data.get("instance_id"):
        raise rejected("缺少 instance.instance_id", "missing instance.instance_id")
    try:
        originator = data.get("originator") or {}
        fields = [_field(f) for f in data.get("form") or [] if isinstance(f, dict)]
        attachments = [_attachment(a, fields) for a in data.get("attachments") or []
                       if isinstance(a, dict)]
        trail = [_trail(t) for t in data.get("trail") or [] if isinstance(t, dict)]
    except (AttributeError, TypeError) as exc:
        raise rejected("instance 结构不符合约定", "instance does not follow the contract") from exc
    return ApprovalInstance(
        instance_id=str(data["instance_id"]), process_code=str(data.get("process_code") or ""),
        title=str(data.get("title") or ""), status=str(data.get("status") or status),
        result=str(data.get("result") or result),
        originator_id=str(originator.get("id") or ""),
        originator_name=str(originator.get("name") or ""),
        department=str(originator.get("department") or ""),
        created_at=parse_time(data.get("created_at")),
        finished_at=parse_time(data.get("finished_at")),
        fields=fields, attachments=attachments, trail=trail)


def _lean(data: dict[str, Any]) -> dict[str, Any]:
    """The body kept on the event, without inline file contents (the instance has them)."""
    inst = data.get("instance")
    if not isinstance(inst, dict):
        return data
    files = [{k: v for k, v in a.items() if k != "content_base64"} if isinstance(a, dict) else a
             for a in inst.get("attachments") or []]
    return {**data, "instance": {**inst, "attachments": files}}


# --- the connector ----------------------------------------------------------------------------

class WebhookConnector(OAConnector):
    kind = "webhook"
    label = "通用签名 Webhook"
    settings_spec = [
        SettingSpec("signing_secret", secret=True,
                    help="whsec_ + base64(key)（或原始密钥）；轮换期间可填两个，以空格或逗号分隔"),
        SettingSpec("notify_url", required=False,
                    help="可选：通知/待办推送地址，按同样方式签名（Standard Webhooks）",
                    destination=True),
    ]
    timeout = 15.0
    retries = 3
    backoff = 0.5
    transport: httpx.BaseTransport | None = None  # tests inject a MockTransport

    def handle_callback(self, request: CallbackRequest) -> CallbackOutcome:
        if request.method.upper() != "POST":
            raise rejected("只接受 POST", "only POST is accepted")
        msg_id = signing.verify(self.settings["signing_secret"], request.headers, request.body)
        data = load_json(request.body)
        return CallbackOutcome(reply=CallbackReply(200, b'{"ok":true}'),
                               events=[self._event(data, msg_id)], replay_key=msg_id)

    def _event(self, data: dict[str, Any], msg_id: str) -> ApprovalEvent:
        kind = str(data.get("type") or "")
        actions: dict[str, EventAction] = {"approval.approved": "approved",
                                           "approval.revoked": "revoked"}
        action = actions.get(kind, "ignored")
        raw_instance = data.get("instance")
        if action == "ignored" and not isinstance(raw_instance, dict):
            instance = None
        else:
            instance = parse_instance(raw_instance,
                                      status="approved" if action == "approved" else "",
                                      result="agree" if action == "approved" else "")
        event_id = str(data.get("id") or msg_id)
        payload = _lean(data)
        if instance and instance.originator_id:
            payload["_originator_id"] = instance.originator_id
        return ApprovalEvent(
            event_id=event_id, instance_id=instance.instance_id if instance else "",
            action=action, process_code=instance.process_code if instance else "",
            event_type=kind, occurred_at=instance.finished_at if instance else None,
            reason=str(data.get("reason") or ""), payload=payload, instance=instance)

    def fetch_instance(self, instance_id: str) -> ApprovalInstance:
        raise ConnectorError("not_supported",
                             "通用 Webhook 无法回查审批实例：实例随事件推送（event.instance）",
                             "the generic webhook cannot re-fetch instances: the event carries "
                             "the instance (event.instance)", status=501)

    def _client(self) -> httpx.Client:
        return guarded_client(timeout=self.timeout, transport=self.transport)

    def download_attachment(self, instance: ApprovalInstance, ref: AttachmentRef,
                            dest: BinaryIO) -> str:
        sha256 = str(ref.extra.get("sha256") or "")
        if ref.extra.get("content_base64"):
            write_base64(str(ref.extra["content_base64"]), dest, sha256=sha256)
            return ref.filename
        url = str(ref.extra.get("url") or "")
        if urlsplit(url).scheme not in ("http", "https"):
            raise ConnectorError("attachment_unavailable",
                                 f"附件 {ref.filename} 既无内容也无 http(s) 地址",
                                 f"attachment {ref.filename} has neither content nor an "
                                 "http(s) URL")
        with self._client() as client:
            headers = stream_download(client, url, dest, vendor="webhook", sha256=sha256,
                                      retries=self.retries, backoff=self.backoff)
        return ref.filename or filename_from(headers, ref.file_id)

    def notify(self, *, user_ids: list[str], title: str, text: str, url: str,
               todo: bool = False, key: str = "") -> str:
        target = (self.settings.get("notify_url") or "").strip()
        if not target:
            raise ConnectorError("not_supported", "未配置 notify_url，无法推送通知",
                                 "no notify_url configured: notices cannot be sent", status=501)
        message_id = key or f"kjda-{uuid.uuid4().hex}"
        body = json.dumps({"type": "kjda.todo" if todo else "kjda.notice", "id": message_id,
                           "user_ids": list(user_ids), "title": title, "text": text, "url": url,
                           "todo": todo}, ensure_ascii=False).encode()
        headers = {"content-type": "application/json; charset=utf-8",
                   **signing.signed_headers(self.settings["signing_secret"], body)}
        api = ApiClient(base_url="", vendor="webhook", timeout=self.timeout,
                        retries=self.retries, backoff=self.backoff, transport=self.transport)
        try:
            response = api.request("POST", target, content=body, headers=headers)
        except ConnectorError:
            raise unreachable("webhook", "通知地址", "notify URL") from None
        finally:
            api.close()
        if not 200 <= response.status_code < 300:  # the body stays out of the message
            log_failure("webhook notify", target, f"HTTP {response.status_code}")
            raise unreachable("webhook", "通知地址", "notify URL")
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if isinstance(answer, dict) and (answer.get("id") or answer.get("message_id")):
            return str(answer.get("id") or answer.get("message_id"))
        return message_id
