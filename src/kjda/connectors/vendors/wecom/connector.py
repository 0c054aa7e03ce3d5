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

import hashlib
import html
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

import httpx

from kjda.connectors.base import (
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
    TrailEntry,
    form_mismatch,
)
from kjda.connectors.http import ApiClient, unreachable
from kjda.connectors.vendors.wecom.client import WeComApi, disposition_filename
from kjda.connectors.vendors.wecom.parse import (
    DETAIL_RESULT,
    FINAL,
    SP_RESULT,
    SP_STATUS,
    as_list,
    callback_query,
    envelope_encrypt,
    event_from,
    from_epoch,
    malformed,
    media_refs,
    parse_contents,
    parse_message,
    to_int,
)
from kjda.connectors.wxcrypto import WXBizMsgCrypt
from kjda.errors import DomainError
from kjda.outbound import log_failure

log = logging.getLogger(__name__)

DEFAULT_API = "https://qyapi.weixin.qq.com"
MAX_BODY = 1 << 20
CHUNK = 64 * 1024
SWEEP_WINDOW = 30 * 86400  # getapprovalinfo allows at most 31 days per call


class WeComConnector(WeComApi, OAConnector):
    kind = "wecom"
    label = "企业微信"
    settings_spec = [
        SettingSpec("corp_id", help="企业ID（CorpID），也是回调密文里的 receiveid"),
        SettingSpec("corp_secret", secret=True, help="自建应用的 Secret"),
        SettingSpec("agent_id", required=False, help="自建应用的 AgentId（发送应用消息需要）"),
        SettingSpec("token", secret=True, help="接收事件服务器的 Token"),
        SettingSpec("encoding_aes_key", secret=True, help="EncodingAESKey（43 位）"),
        SettingSpec("loan_template", required=False,
                    help="借阅审批模板 template_id（借阅申请在 OA 中审批时使用；表单须有借阅单上的各字段） / "
                         "the template_id of the loan approval template (its form has the loan's fields)"),
        SettingSpec("api_base_url", required=False, default=DEFAULT_API,
                    help="企业微信 API 地址；测试时指向模拟器", destination=True),
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
            raise malformed("timestamp/nonce missing or invalid", "缺少或非法的 timestamp/nonce")
        return sig, ts, nonce

    def _check_fresh(self, timestamp: str) -> None:
        ts = int(timestamp)
        if ts > 10**11:  # tolerate milliseconds
            ts //= 1000
        if abs(self._now() - ts) > self.clock_skew:
            raise CallbackRejected("stale", "回调时间戳超出 5 分钟窗口（过期或重放）",
                                   "callback timestamp outside the 5-minute window")

    def _verify_url(self, request: CallbackRequest) -> CallbackOutcome:
        params = callback_query(request)
        sig, ts, nonce = self._signed_params(params)
        echostr = params.get("echostr", "")
        if not echostr:
            raise malformed("echostr missing", "缺少 echostr")
        self.crypt.verify(sig, ts, nonce, echostr)
        self._check_fresh(ts)
        plain = self.crypt.decrypt(echostr)
        return CallbackOutcome(reply=CallbackReply(200, plain, "text/plain; charset=utf-8"))

    def _receive(self, request: CallbackRequest) -> CallbackOutcome:
        if len(request.body) > MAX_BODY:
            raise CallbackRejected("too_large", "回调报文过大", "callback body too large",
                                   status=413)
        params = callback_query(request)
        sig, ts, nonce = self._signed_params(params)
        encrypt = envelope_encrypt(request.body)
        self.crypt.verify(sig, ts, nonce, encrypt)
        self._check_fresh(ts)
        message = parse_message(self.crypt.decrypt(encrypt))
        return CallbackOutcome(reply=CallbackReply(200, b"", "text/plain; charset=utf-8"),
                               events=[event_from(message)], replay_key=f"wecom:{sig.lower()}")

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
        code = to_int(info.get("sp_status"))
        acted = [t.time for t in trail if t.time and t.action == "审批"]
        return ApprovalInstance(
            instance_id=str(info.get("sp_no") or ""),
            process_code=str(info.get("template_id") or ""),
            title=str(info.get("sp_name") or ""),
            status=SP_STATUS.get(code, str(code)), result=SP_RESULT.get(code, ""),
            originator_id=user_id, originator_name=self._user_name(user_id),
            department=self._department_name(str(applyer.get("partyid") or "")),
            created_at=from_epoch(info.get("apply_time")),
            finished_at=max(acted) if code in FINAL and acted else None,
            fields=fields, attachments=attachments, trail=trail, raw=info)

    def _trail(self, info: dict[str, Any]) -> tuple[list[TrailEntry], list[AttachmentRef]]:
        entries: list[TrailEntry] = []
        files: list[AttachmentRef] = []
        for n, node in enumerate(as_list(info.get("sp_record")), 1):
            for detail in as_list((node or {}).get("details")):
                user_id = str((detail.get("approver") or {}).get("userid") or "")
                status, at = to_int(detail.get("sp_status")), to_int(detail.get("sptime"))
                if status == 1 and not at:
                    continue  # not acted on yet
                entries.append(TrailEntry(user_id, self._user_name(user_id), "审批",
                                          DETAIL_RESULT.get(status, "none"), from_epoch(at),
                                          remark=str(detail.get("speech") or ""),
                                          node=f"审批节点{n}"))
                files += media_refs(detail.get("media_id"), "trail", user_id)
        for comment in as_list(info.get("comments")):
            user_id = str((comment.get("commentUserInfo") or {}).get("userid") or "")
            entries.append(TrailEntry(user_id, self._user_name(user_id), "评论", "comment",
                                      from_epoch(comment.get("commenttime")),
                                      remark=str(comment.get("commentcontent") or "")))
            files += media_refs(comment.get("media_id"), "comment", user_id)
        far = datetime.max.replace(tzinfo=UTC)
        entries.sort(key=lambda e: e.time or far)
        return entries, files

    def download_attachment(self, instance: ApprovalInstance, ref: AttachmentRef,
                            dest: BinaryIO) -> str:
        resp = self._open_media(ref.file_id)
        try:
            name = disposition_filename(resp.headers) or ref.filename or ref.file_id
            try:
                for chunk in resp.iter_bytes(CHUNK):
                    dest.write(chunk)
            except httpx.HTTPError as exc:
                log_failure("WeCom media/get", resp.url, exc)
                raise unreachable("WeCom", "附件下载", "media download") from None
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

    def approval_create(self, *, template: str, originator_id: str, title: str,
                        fields: list[tuple[str, str]], url: str, key: str) -> str:
        """`oa/applyevent` (提交审批申请) with the template's own approvers. Contents are
        addressed by control id, so `oa/gettemplatedetail` maps our labels to the template's
        Text/Textarea controls; the summary (required, up to 3 lines) is the title and the
        first fields."""
        detail = self._call("POST", "/cgi-bin/oa/gettemplatedetail", body={"template_id": template})
        controls: dict[str, tuple[str, str]] = {}
        for item in as_list((detail.get("template_content") or {}).get("controls")):
            prop = (item or {}).get("property") or {}
            titles = as_list(prop.get("title"))
            label = next((str(t.get("text") or "") for t in titles if t.get("lang") == "zh_CN"),
                         str((titles[0] or {}).get("text") or "") if titles else "")
            controls[label] = (str(prop.get("control") or ""), str(prop.get("id") or ""))
        contents = []
        for name, value in fields:
            control, control_id = controls.get(name, ("", ""))
            if control not in ("Text", "Textarea"):
                raise form_mismatch(self.label, template, name)
            contents.append({"control": control, "id": control_id, "value": {"text": value}})
        lines = [title] + [f"{name}：{value}" for name, value in fields[:2]]
        body = {"creator_userid": originator_id, "template_id": template,
                "use_template_approver": 1, "apply_data": {"contents": contents},
                "summary_list": [{"summary_info": [{"text": _clip(line, 60), "lang": "zh_CN"}]}
                                 for line in lines if line][:3]}
        data = self._call("POST", "/cgi-bin/oa/applyevent", body=body)
        sp_no = str(data.get("sp_no") or "")
        if not sp_no:
            raise ConnectorError("platform_bad_response", "企业微信未返回审批单号 sp_no",
                                 "WeCom returned no sp_no")
        return sp_no

    def read_directory(self) -> Directory:
        """`cgi-bin/department/list`, then each department's `cgi-bin/user/list`."""
        out = Directory()
        depts = self._call("GET", "/cgi-bin/department/list").get("department") or []
        names = {str(d["id"]): str(d["name"]) for d in depts}
        for d in depts:
            out.departments.append(DirectoryDepartment(str(d["id"]), str(d["name"]),
                                                       str(d.get("parentid") or "")))
        for dept_id in names:
            members = self._call("GET", "/cgi-bin/user/list",
                                 params={"department_id": dept_id}).get("userlist") or []
            for u in members:
                main = str(u.get("main_department") or (u.get("department") or [dept_id])[0])
                # status: 1 active, 2 disabled, 4 not yet activated, 5 left
                out.people.setdefault(str(u["userid"]), DirectoryPerson(
                    str(u["userid"]), str(u.get("name") or ""), names.get(main, ""),
                    str(u.get("mobile") or ""), str(u.get("email") or u.get("biz_mail") or ""),
                    int(u.get("status") or 1) in (1, 4)))
        return out


def _clip(text: str, limit: int) -> str:
    return text.encode()[:limit].decode(errors="ignore")








