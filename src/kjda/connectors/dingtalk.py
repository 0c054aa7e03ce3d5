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
import secrets
import threading
import time
from datetime import datetime, timedelta
from typing import Any, BinaryIO
from urllib.parse import quote

import httpx

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
    epoch_seconds,
)
from kjda.connectors.dingtalk_api import DingTalkApi
from kjda.connectors.dingtalk_parse import (
    instance_status,
    parse_event,
    parse_form,
    parse_time,
    parse_trail,
)
from kjda.connectors.http import RETRY_STATUS, ApiClient, unreachable
from kjda.connectors.wxcrypto import WXBizMsgCrypt
from kjda.errors import DomainError
from kjda.outbound import OUTBOUND_ERRORS, is_retryable, log_failure

MAX_WINDOW = timedelta(days=120)  # instanceIds/query refuses longer windows
CHUNK = 64 * 1024


# --- the connector ---------------------------------------------------------------------------

class DingTalkConnector(DingTalkApi, OAConnector):
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
        SettingSpec("loan_template", required=False,
                    help="借阅审批模板 processCode（借阅申请在 OA 中审批时使用；表单须有借阅单上的各字段） / "
                         "the processCode of the loan approval template (its form has the loan's fields)"),
        SettingSpec("api_base_url", required=False, default="https://api.dingtalk.com",
                    destination=True),
        SettingSpec("oapi_base_url", required=False, default="https://oapi.dingtalk.com",
                    destination=True),
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
        opts: dict[str, Any] = dict(vendor="DingTalk", timeout=timeout, retries=retries, backoff=backoff,
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
        sent = epoch_seconds(value)  # DingTalk ms; the Python sample s
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
        last = ""
        for attempt in range(self.retries + 1):
            try:
                with self.api.client.stream("GET", url) as resp:
                    if resp.status_code < 400:
                        for chunk in resp.iter_bytes(CHUNK):
                            dest.write(chunk)
                        return
                    last = f"HTTP {resp.status_code}"
                    if resp.status_code not in RETRY_STATUS:
                        break
            except OUTBOUND_ERRORS as exc:
                last = f"{type(exc).__name__}: {exc}"
                if start is None or not is_retryable(exc):
                    break
                dest.seek(start)
                dest.truncate()
            if attempt < self.retries:
                time.sleep(self.backoff * 2 ** attempt)
        if start is not None:
            dest.seek(start)
            dest.truncate()
        log_failure("DingTalk attachment", url, last)
        raise unreachable("DingTalk", "附件地址", "attachment URL")

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

    def approval_create(self, *, template: str, originator_id: str, title: str,
                        fields: list[tuple[str, str]], url: str, key: str) -> str:
        """`POST /v1.0/workflow/processInstances` (发起审批实例): the template's own flow
        decides the approvers; form components are named by their labels."""
        body: dict[str, Any] = {
            "originatorUserId": originator_id, "processCode": template,
            "formComponentValues": [{"name": name, "value": value} for name, value in fields]}
        agent_id = str(self.settings.get("agent_id") or "")
        if agent_id.isdigit():
            body["microappAgentId"] = int(agent_id)
        data = self._api("POST", "/v1.0/workflow/processInstances", body=body)
        instance_id = str(data.get("instanceId") or "")
        if not instance_id:
            raise ConnectorError("platform_bad_response", "钉钉未返回审批实例 id",
                                 "DingTalk returned no instanceId")
        return instance_id

    def read_directory(self) -> Directory:
        """Departments breadth first (`topapi/v2/department/get` + `listsub`), then each
        department's members (`topapi/v2/user/list`, cursor)."""
        out = Directory()
        root = self._oapi("/topapi/v2/department/get", {"dept_id": 1, "language": "zh_CN"})["result"]
        todo, names = [root], {}
        while todo:
            dept = todo.pop(0)
            names[int(dept["dept_id"])] = str(dept["name"])
            out.departments.append(DirectoryDepartment(str(dept["dept_id"]), str(dept["name"]),
                                                       str(dept.get("parent_id") or "")))
            todo += self._oapi("/topapi/v2/department/listsub",
                               {"dept_id": dept["dept_id"], "language": "zh_CN"}).get("result") or []
        for dept_id in names:
            cursor = 0
            for _ in range(DIRECTORY_MAX_PAGES):
                page = self._oapi("/topapi/v2/user/list", {"dept_id": dept_id, "cursor": cursor,
                                                           "size": 100, "language": "zh_CN"})["result"]
                for u in page.get("list") or []:
                    depts = u.get("dept_id_list") or [dept_id]
                    out.people.setdefault(str(u["userid"]), DirectoryPerson(
                        str(u["userid"]), str(u.get("name") or ""), names.get(int(depts[0]), ""),
                        str(u.get("mobile") or ""), str(u.get("email") or ""),
                        bool(u.get("active", True))))
                if not page.get("has_more"):
                    break
                cursor = page["next_cursor"]
        return out


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




