"""WeCom (企业微信) connector: oa-protocols.md §0 and §2.

Callbacks use the WXBizMsgCrypt scheme with the CorpID as receiveid. GET is the URL-verification
handshake (answer the decrypted echostr as plain text); POST carries an encrypted XML (or JSON)
envelope whose `sys_approval_change` event is the archive trigger when `SpStatus == 2`, and a
reversal when `SpStatus == 6` / `StatuChangeEvent == 8` (通过后撤销).

The API client fetches `gettoken`, `oa/getapprovaldetail`, `oa/getapprovalinfo`, `media/get`,
`department/get`, `user/get` and sends `message/send`. WeCom has no general to-do API for
self-built apps, so a to-do is a textcard whose title starts with 【待办】.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import logging
import re
import time
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO
from urllib.parse import unquote
from xml.etree.ElementTree import Element, ParseError

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as _xml_fromstring

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

DEFAULT_API = "https://qyapi.weixin.qq.com"
CHINA = timezone(timedelta(hours=8))  # WeCom day-dates are midnight in China time
TOKEN_ERRORS = {40014, 41001, 42001}  # invalid / missing / expired access_token
BUSY_ERRORS = {-1, 45009, 45033}  # system busy, frequency limits: back off and retry
MAX_BODY = 1 << 20
CHUNK = 64 * 1024
SWEEP_WINDOW = 30 * 86400  # getapprovalinfo allows at most 31 days per call
SP_STATUS = {1: "running", 2: "approved", 3: "rejected", 4: "withdrawn", 6: "revoked",
             7: "deleted", 10: "approved"}  # 10 已支付: approved and then paid
SP_RESULT = {2: "agree", 3: "refuse", 6: "agree", 10: "agree"}
DETAIL_RESULT = {1: "pending", 2: "agree", 3: "refuse", 4: "redirect"}
FINAL = {2, 3, 4, 6, 7, 10}


def _malformed(en: str, zh: str = "回调报文格式不正确") -> CallbackRejected:
    return CallbackRejected("malformed", zh, en, status=400)


class WeComConnector(OAConnector):
    kind = "wecom"
    label = "企业微信"
    settings_spec = [
        SettingSpec("corp_id", help="企业ID（CorpID），也是回调密文里的 receiveid"),
        SettingSpec("corp_secret", secret=True, help="自建应用的 Secret"),
        SettingSpec("agent_id", required=False, help="自建应用的 AgentId（发送应用消息需要）"),
        SettingSpec("token", secret=True, help="接收事件服务器的 Token"),
        SettingSpec("encoding_aes_key", secret=True, help="EncodingAESKey（43 位）"),
        SettingSpec("api_base_url", required=False, default=DEFAULT_API,
                    help="企业微信 API 地址；测试时指向模拟器"),
    ]
    # Tunables (tests shorten them): HTTP timeout, retries and backoff; callback clock skew;
    # how far before `since` the sweep looks (getapprovalinfo filters on the submit time).
    timeout = 15.0
    retries = 3
    backoff = 0.5
    clock_skew = 300
    sweep_lookback = timedelta(days=30)
    resolve_attachment_names = True  # a 1-byte ranged media/get per file gives name and size

    def __init__(self, settings: dict[str, Any], *, connector_id: str = "") -> None:
        super().__init__(settings, connector_id=connector_id)
        try:
            self.crypt = WXBizMsgCrypt(token=str(self.settings["token"]),
                                       encoding_aes_key=str(self.settings["encoding_aes_key"]),
                                       owner_id=str(self.settings["corp_id"]))
        except ValueError as exc:
            raise DomainError("connector_settings_invalid", "EncodingAESKey 必须是 43 位字符",
                              "encoding_aes_key must be the 43-character EncodingAESKey",
                              status=422) from exc
        self._api: ApiClient | None = None
        self._names: dict[tuple[str, str], str] = {}
        base = str(self.settings.get("api_base_url") or DEFAULT_API).rstrip("/")
        secret_tag = hashlib.sha256(str(self.settings["corp_secret"]).encode()).hexdigest()[:12]
        self._token_key = f"wecom:{connector_id}:{base}:{self.settings['corp_id']}:{secret_tag}"
        self._base = base

    # --- callbacks ------------------------------------------------------------------------
    def handle_callback(self, request: CallbackRequest) -> CallbackOutcome:
        method = request.method.upper()
        if method == "GET":
            return self._verify_url(request)
        if method != "POST":
            raise CallbackRejected("method_not_allowed", "回调只接受 GET/POST",
                                   "callback accepts GET and POST only", status=405)
        return self._receive(request)

    def _now(self) -> float:
        return time.time()

    def _signed_params(self, params: dict[str, str]) -> tuple[str, str, str]:
        sig, ts, nonce = (params.get(k, "") for k in ("msg_signature", "timestamp", "nonce"))
        if not sig:
            raise CallbackRejected("bad_signature", "缺少 msg_signature", "msg_signature missing")
        if not ts.isdigit() or not nonce:
            raise _malformed("timestamp/nonce missing or invalid", "缺少或非法的 timestamp/nonce")
        return sig, ts, nonce

    def _check_fresh(self, timestamp: str) -> None:
        ts = int(timestamp)
        if ts > 10**11:  # tolerate milliseconds
            ts //= 1000
        if abs(self._now() - ts) > self.clock_skew:
            raise CallbackRejected("stale", "回调时间戳超出 5 分钟窗口（过期或重放）",
                                   "callback timestamp outside the 5-minute window")

    def _verify_url(self, request: CallbackRequest) -> CallbackOutcome:
        params = _query(request)
        sig, ts, nonce = self._signed_params(params)
        echostr = params.get("echostr", "")
        if not echostr:
            raise _malformed("echostr missing", "缺少 echostr")
        self.crypt.verify(sig, ts, nonce, echostr)
        self._check_fresh(ts)
        plain = self.crypt.decrypt(echostr)
        return CallbackOutcome(reply=CallbackReply(200, plain, "text/plain; charset=utf-8"))

    def _receive(self, request: CallbackRequest) -> CallbackOutcome:
        if len(request.body) > MAX_BODY:
            raise CallbackRejected("too_large", "回调报文过大", "callback body too large",
                                   status=413)
        params = _query(request)
        sig, ts, nonce = self._signed_params(params)
        encrypt = _envelope_encrypt(request.body)
        self.crypt.verify(sig, ts, nonce, encrypt)
        self._check_fresh(ts)
        message = _parse_message(self.crypt.decrypt(encrypt))
        return CallbackOutcome(reply=CallbackReply(200, b"", "text/plain; charset=utf-8"),
                               events=[_event_from(message)], replay_key=f"wecom:{sig.lower()}")

    # --- API plumbing ---------------------------------------------------------------------
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
        return str(data["access_token"]), _int(data.get("expires_in"), 7200)

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

    # --- instances ------------------------------------------------------------------------
    def fetch_instance(self, instance_id: str) -> ApprovalInstance:
        data = self._call("POST", "/cgi-bin/oa/getapprovaldetail",
                          body={"sp_no": str(instance_id)})
        info = data.get("info")
        if not isinstance(info, dict):
            raise ConnectorError("platform_bad_response", "企业微信审批详情缺少 info",
                                 "WeCom approval detail has no info")
        return self._instance_from(info)

    def _instance_from(self, info: dict[str, Any]) -> ApprovalInstance:
        fields, attachments = parse_contents((info.get("apply_data") or {}).get("contents"))
        trail, trail_files = self._trail(info)
        attachments += trail_files
        if self.resolve_attachment_names:
            attachments = [self._named(ref) for ref in attachments]
        applyer = info.get("applyer") or {}
        user_id = str(applyer.get("userid") or "")
        code = _int(info.get("sp_status"))
        acted = [t.time for t in trail if t.time and t.action == "审批"]
        return ApprovalInstance(
            instance_id=str(info.get("sp_no") or ""),
            process_code=str(info.get("template_id") or ""),
            title=str(info.get("sp_name") or ""),
            status=SP_STATUS.get(code, str(code)), result=SP_RESULT.get(code, ""),
            originator_id=user_id, originator_name=self._user_name(user_id),
            department=self._department_name(str(applyer.get("partyid") or "")),
            created_at=_from_epoch(info.get("apply_time")),
            finished_at=max(acted) if code in FINAL and acted else None,
            fields=fields, attachments=attachments, trail=trail, raw=info)

    def _trail(self, info: dict[str, Any]) -> tuple[list[TrailEntry], list[AttachmentRef]]:
        entries: list[TrailEntry] = []
        files: list[AttachmentRef] = []
        for n, node in enumerate(_as_list(info.get("sp_record")), 1):
            for detail in _as_list((node or {}).get("details")):
                user_id = str((detail.get("approver") or {}).get("userid") or "")
                status, at = _int(detail.get("sp_status")), _int(detail.get("sptime"))
                if status == 1 and not at:
                    continue  # not acted on yet
                entries.append(TrailEntry(user_id, self._user_name(user_id), "审批",
                                          DETAIL_RESULT.get(status, "none"), _from_epoch(at),
                                          remark=str(detail.get("speech") or ""),
                                          node=f"审批节点{n}"))
                files += _media_refs(detail.get("media_id"), "trail", user_id)
        for comment in _as_list(info.get("comments")):
            user_id = str((comment.get("commentUserInfo") or {}).get("userid") or "")
            entries.append(TrailEntry(user_id, self._user_name(user_id), "评论", "comment",
                                      _from_epoch(comment.get("commenttime")),
                                      remark=str(comment.get("commentcontent") or "")))
            files += _media_refs(comment.get("media_id"), "comment", user_id)
        far = datetime.max.replace(tzinfo=UTC)
        entries.sort(key=lambda e: e.time or far)
        return entries, files

    # --- attachments ----------------------------------------------------------------------
    def _named(self, ref: AttachmentRef) -> AttachmentRef:
        """WeCom's detail has only media ids: a ranged media/get (1 byte) gives name and size."""
        try:
            resp = self._open_media(ref.file_id, probe=True)
        except ConnectorError as exc:
            log.warning("WeCom media %s: name lookup failed: %s", ref.file_id[:24], exc.code)
            return ref
        try:
            size = _total_size(resp.headers)
            return dataclasses.replace(ref, filename=_filename(resp.headers) or ref.filename,
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
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
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
                    raise ConnectorError("platform_error", f"企业微信下载附件 HTTP {resp.status_code}",
                                         f"WeCom media download HTTP {resp.status_code}")
                else:
                    return resp
            attempt += 1
            if attempt <= self.retries:
                time.sleep(self.backoff * (2 ** (attempt - 1)))
        raise ConnectorError("platform_unavailable", f"企业微信接口不可用（{last}）",
                             f"WeCom API unavailable ({last})")

    def download_attachment(self, instance: ApprovalInstance, ref: AttachmentRef,
                            dest: BinaryIO) -> str:
        resp = self._open_media(ref.file_id)
        try:
            name = _filename(resp.headers) or ref.filename or ref.file_id
            try:
                for chunk in resp.iter_bytes(CHUNK):
                    dest.write(chunk)
            except httpx.HTTPError as exc:
                raise ConnectorError("attachment_download_failed", "企业微信附件下载中断",
                                     f"WeCom attachment download interrupted: {exc}") from exc
        finally:
            resp.close()
        return name

    # --- notices and sweep ----------------------------------------------------------------
    def notify(self, *, user_ids: list[str], title: str, text: str, url: str,
               todo: bool = False, key: str = "") -> str:
        """A textcard (a text message when there is no link). `todo` marks the title 【待办】:
        self-built WeCom apps have no general to-do API. `key` turns on WeCom's duplicate
        check (same content within 30 minutes is sent once)."""
        agent = str(self.settings.get("agent_id") or "").strip()
        if not agent:
            raise ConnectorError("wecom_agent_missing", "未配置 agent_id，无法发送企业微信应用消息",
                                 "agent_id is not set: cannot send WeCom app messages")
        users = [str(u) for u in user_ids if u]
        if not users:
            raise ConnectorError("notify_no_users", "没有接收人", "no recipients", status=400)
        head = f"【待办】{title}" if todo else title
        body: dict[str, Any] = {
            "touser": "|".join(users), "agentid": int(agent) if agent.isdigit() else agent,
            "enable_id_trans": 0, "enable_duplicate_check": 1 if key else 0,
            "duplicate_check_interval": 1800}
        if url:
            body["msgtype"] = "textcard"
            body["textcard"] = {"title": _clip(head, 128),
                                "description": _clip(html.escape(text, quote=False), 512),
                                "url": url, "btntxt": "去处理" if todo else "详情"}
        else:
            body["msgtype"] = "text"
            body["text"] = {"content": _clip(f"{head}\n{text}", 2048)}
        data = self._call("POST", "/cgi-bin/message/send", body=body)
        if data.get("invaliduser"):
            log.warning("WeCom message/send: some users invalid: %s", data.get("invaliduser"))
        return str(data.get("msgid") or "")

    def list_finished(self, *, since: datetime, until: datetime,
                      process_codes: list[str]) -> list[str]:
        """Approved sheets (sp_status 2) submitted in [since - sweep_lookback, until]: WeCom
        filters on the submit time only, so this is a superset; the inbox dedupes."""
        start = int((since - self.sweep_lookback).timestamp())
        end = int(until.timestamp())
        found: list[str] = []
        for code in list(process_codes) or [""]:
            for lo in range(start, end + 1, SWEEP_WINDOW):
                found += self._approval_ids(lo, min(lo + SWEEP_WINDOW, end), code)
        return list(dict.fromkeys(found))

    def _approval_ids(self, start: int, end: int, template_id: str) -> list[str]:
        filters = [{"key": "sp_status", "value": "2"}]
        if template_id:
            filters.insert(0, {"key": "template_id", "value": template_id})
        ids: list[str] = []
        cursor, seen = "", set()
        for _ in range(10000):
            data = self._call("POST", "/cgi-bin/oa/getapprovalinfo",
                              body={"starttime": str(start), "endtime": str(end),
                                    "new_cursor": cursor, "size": 100, "filters": filters})
            ids += [str(x) for x in data.get("sp_no_list") or []]
            cursor = str(data.get("new_next_cursor") or "")
            if not cursor or cursor in seen:
                break
            seen.add(cursor)
        return ids


# --- callback parsing ---------------------------------------------------------------------
def _query(request: CallbackRequest) -> dict[str, str]:
    """Query parameters URL-decoded exactly once with '+' kept (echostr is base64): from the
    raw query when there is one, else from `query` (repairing a form-style '+' → ' ')."""
    params = dict(request.query)
    if " " in params.get("echostr", ""):
        params["echostr"] = params["echostr"].replace(" ", "+")
    raw: dict[str, str] = {}
    for part in request.raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            raw.setdefault(unquote(name), unquote(value))
    return {**params, **raw}


def _xml(data: bytes) -> Element:
    try:
        return _xml_fromstring(data, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise _malformed("body is not well-formed XML", "回调报文不是合法的 XML") from exc


def _envelope_encrypt(body: bytes) -> str:
    """The `Encrypt` text of the XML envelope, or `encrypt` of the JSON flavour, as received."""
    text = body.strip()
    encrypt: Any = None
    if text.startswith(b"{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise _malformed("body is not valid JSON", "回调报文不是合法的 JSON") from exc
        if isinstance(data, dict):
            encrypt = data.get("encrypt", data.get("Encrypt"))
    elif text:
        node = _xml(text).find("Encrypt")
        encrypt = node.text if node is not None else None
    if not isinstance(encrypt, str) or not encrypt.strip():
        raise _malformed("Encrypt missing", "回调报文缺少 Encrypt")
    return encrypt


def _xml_to_dict(elem: Element) -> Any:
    children = list(elem)
    if not children:
        return (elem.text or "").strip()
    out: dict[str, Any] = {}
    for child in children:
        value = _xml_to_dict(child)
        if child.tag not in out:
            out[child.tag] = value
        elif isinstance(out[child.tag], list):
            out[child.tag].append(value)
        else:
            out[child.tag] = [out[child.tag], value]
    return out


def _parse_message(plain: bytes) -> dict[str, Any]:
    text = plain.strip()
    if text.startswith(b"{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise _malformed("decrypted message is not JSON", "解密后的消息不是合法 JSON") from exc
    else:
        data = _xml_to_dict(_xml(text))
    if not isinstance(data, dict):
        raise _malformed("decrypted message has no fields", "解密后的消息没有字段")
    return data


def _ci(data: Any, key: str) -> Any:
    if not isinstance(data, dict):
        return None
    if key in data:
        return data[key]
    lower = key.lower()
    return next((v for k, v in data.items() if str(k).lower() == lower), None)


def _event_from(msg: dict[str, Any]) -> ApprovalEvent:
    event_type = str(_ci(msg, "Event") or _ci(msg, "MsgType") or "unknown")
    created = _int(_ci(msg, "CreateTime"))
    info = _ci(msg, "ApprovalInfo")
    if event_type != "sys_approval_change" or not isinstance(info, dict):
        key = _ci(msg, "MsgId") or f"{event_type}:{_ci(msg, 'FromUserName') or ''}:{created}"
        return ApprovalEvent(event_id=f"wecom:{key}", instance_id="", action="ignored",
                             event_type=event_type, occurred_at=_from_epoch(created),
                             payload={"msg_type": str(_ci(msg, "MsgType") or ""),
                                      "event": event_type, "create_time": created})
    sp_no = str(_ci(info, "SpNo") or _ci(info, "SpNoStr") or "").strip()
    if not sp_no:
        raise _malformed("ApprovalInfo.SpNo missing", "审批事件缺少 SpNo")
    sp_status, change = _int(_ci(info, "SpStatus")), _int(_ci(info, "StatuChangeEvent"))
    reason = ""
    if sp_status == 6 or change == 8:
        action = "revoked"
        last = _as_list(_ci(info, "Comments"))[-1:]
        note = str(_ci(last[0], "CommentContent") or "") if last else ""
        reason = f"企业微信审批单 {sp_no} 已通过后撤销" + (f"：{note}" if note else "")
    elif sp_status == 2:
        action = "approved"
    else:
        action = "ignored"
    # Stable across WeCom's redeliveries; the trigger and the reversal happen once per sheet,
    # other changes (agree at a middle node, comments, reminders) repeat, so they add the time.
    event_id = f"{sp_no}:{change}:{sp_status}" + (f":{created}" if action == "ignored" else "")
    return ApprovalEvent(
        event_id=event_id, instance_id=sp_no, action=action,  # type: ignore[arg-type]
        process_code=str(_ci(info, "TemplateId") or ""), event_type=event_type,
        occurred_at=_from_epoch(created), reason=reason,
        payload={"sp_no": sp_no, "sp_name": str(_ci(info, "SpName") or ""),
                 "sp_status": sp_status, "statu_change_event": change,
                 "template_id": str(_ci(info, "TemplateId") or ""),
                 "apply_time": _int(_ci(info, "ApplyTime")),
                 "_originator_id": str(_ci(_ci(info, "Applyer"), "UserId") or ""),
                 "create_time": created, "agent_id": str(_ci(msg, "AgentID") or "")})


# --- form parsing -------------------------------------------------------------------------
def parse_contents(contents: Any) -> tuple[list[FormField], list[AttachmentRef]]:
    """apply_data.contents → fields (money/number as Decimal, dates ISO, tables as lists of
    {column: value} rows) and the attachments of File controls (tables included)."""
    fields: list[FormField] = []
    files: list[AttachmentRef] = []
    for control in _as_list(contents):
        if not isinstance(control, dict) or control.get("control") == "Tips":
            continue
        kind, cid = str(control.get("control") or ""), str(control.get("id") or "")
        title = _title(control.get("title"))
        value = control.get("value") or {}
        if kind == "Table":
            rows: list[dict[str, Any]] = []
            for i, child in enumerate(_as_list(value.get("children"))):
                cells, refs = parse_contents((child or {}).get("list"))
                rows.append({c.name: c.value for c in cells})
                files += [dataclasses.replace(r, extra={**r.extra, "table": title, "row": i})
                          for r in refs]
            fields.append(FormField(cid, title, rows, kind, control))
            continue
        if kind == "File":
            found = [f for f in _as_list(value.get("files")) if f.get("file_id")]
            ids = [str(f["file_id"]) for f in found]
            files += [AttachmentRef(file_id=str(f["file_id"]), field_id=cid, field_name=title,
                                    filename=str(f.get("file_name") or f.get("name") or ""))
                      for f in found]
            fields.append(FormField(cid, title, ids, kind, control))
            continue
        fields.append(FormField(cid, title, _control_value(kind, value), kind, control))
    return fields, files


def _control_value(kind: str, value: dict[str, Any]) -> Any:
    if kind == "Money":
        return _decimal(value.get("new_money"))
    if kind == "Number":
        return _decimal(value.get("new_number"))
    if kind == "Formula":
        return _decimal((value.get("formula") or {}).get("value"))
    if kind == "Date":
        return _date(value.get("date") or {})
    if kind == "DateRange":
        rng = value.get("date_range") or {}
        kind_ = rng.get("type", "day")
        return [_date({"type": kind_, "s_timestamp": rng.get(k)}) for k in ("new_begin", "new_end")]
    if kind == "Selector":
        sel = value.get("selector") or {}
        texts = [_title(o.get("value")) for o in _as_list(sel.get("options"))]
        return texts if sel.get("type") == "multi" else (texts[0] if texts else "")
    if kind == "Contact":
        people = [m.get("name") or m.get("userid") for m in _as_list(value.get("members"))]
        depts = [d.get("name") or d.get("openapi_id") for d in _as_list(value.get("departments"))]
        return [str(x) for x in people + depts if x]
    if kind == "RelatedApproval":
        return [str(r.get("sp_no")) for r in _as_list(value.get("related_approval"))]
    if kind == "Location":
        loc = value.get("location") or {}
        return str(loc.get("title") or loc.get("address") or "")
    if "text" in value and kind in ("Text", "Textarea", ""):
        return str(value.get("text") or "")
    return value.get("text") or value


def _title(title: Any) -> str:
    items = [t for t in _as_list(title) if isinstance(t, dict)]
    zh = [t for t in items if str(t.get("lang", "")).lower().startswith("zh")]
    return str((zh or items or [{}])[0].get("text") or "")


def _date(date: dict[str, Any]) -> str:
    stamp = _int(date.get("s_timestamp"))
    if not stamp:
        return ""
    moment = datetime.fromtimestamp(stamp, tz=CHINA)
    return moment.date().isoformat() if date.get("type", "day") == "day" else moment.isoformat()


def _media_refs(media: Any, source: str, user_id: str) -> list[AttachmentRef]:
    return [AttachmentRef(file_id=str(m), filename="", extra={"source": source, "user": user_id})
            for m in _as_list(media) if m]


# --- small helpers ------------------------------------------------------------------------
def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _decimal(value: Any) -> Decimal | str | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        return str(value)


def _from_epoch(value: Any) -> datetime | None:
    stamp = _int(value)
    if stamp <= 0:
        return None
    if stamp > 10**11:
        stamp //= 1000
    return datetime.fromtimestamp(stamp, tz=UTC)


def _errcode(data: dict[str, Any]) -> int:
    return _int(data.get("errcode", 0), -1) if isinstance(data, dict) else -1


def _api_error(what: str, data: Any) -> ConnectorError:
    code = _errcode(data)
    msg = str(data.get("errmsg", "")) if isinstance(data, dict) else ""
    return ConnectorError("wecom_api_error", f"企业微信接口 {what} 返回错误 {code}：{msg}",
                          f"WeCom API {what} answered errcode {code}: {msg}",
                          detail={"errcode": code})


def _clip(text: str, limit: int) -> str:
    return text.encode()[:limit].decode(errors="ignore")


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
    except ValueError as exc:
        raise ConnectorError("platform_bad_response", "企业微信下载接口返回了无法识别的内容",
                             "WeCom media/get answered neither a file nor JSON") from exc
    return data if isinstance(data, dict) else {"errcode": -1, "errmsg": "bad reply"}


def _filename(headers: httpx.Headers) -> str:
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
