"""Simulated WeCom (企业微信), written from oa-protocols.md §2: the `/cgi-bin/...` API subset
KJDA calls (gettoken, oa/getapprovaldetail, oa/getapprovalinfo, media/get, message/send,
department/get, user/get) under `/wecom`, and `sys_approval_change` callbacks encrypted and
signed like WeCom's (WXBizMsgCrypt, CorpID as receiveid, seconds timestamps, query
`msg_signature`/`timestamp`/`nonce`), plus the GET echostr URL verification.

Instances are kept as getapprovaldetail `info` dicts; access tokens expire after `token_ttl`.
Error codes used: 40001 bad secret, 40013 bad corpid, 41001 token missing, 40014 bad token,
42001 expired token, 40007 bad media id, 40056 bad agentid, 60111 unknown user, 60123 unknown
department, 40058 any other bad parameter (including an unknown sp_no).
"""

from __future__ import annotations

import base64
import json
import mimetypes
import re
import secrets
import string
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx

from kjda.connectors.sim.core import SimRequest, SimResponse, VendorSim
from kjda.connectors.sim.sso import WeComLoginSim
from kjda.connectors.wxcrypto import WXBizMsgCrypt

CHINA = timezone(timedelta(hours=8))
APPROVAL_AGENT_ID = "3010040"  # the approval app's AgentID in sys_approval_change events
STATUS = {"running": 1, "approved": 2, "rejected": 3, "withdrawn": 4, "revoked": 6,
          "deleted": 7, "paid": 10}
RESULT = {"agree": 2, "refuse": 3, "redirect": 4, "transfer": 4}
# action → (SpStatus after the change, StatuChangeEvent)
ACTIONS = {"approved": (2, 2), "revoked": (6, 8), "rejected": (3, 3), "submitted": (1, 1),
           "withdrawn": (4, 6), "commented": (None, 10)}
CONTROLS = {"text": "Text", "textarea": "Textarea", "number": "Number", "money": "Money",
            "date": "Date", "attachment": "File", "file": "File", "table": "Table",
            "selector": "Selector"}


def _err(code: int, msg: str) -> SimResponse:
    return SimResponse.of_json({"errcode": code, "errmsg": msg})


def _ok(**data: Any) -> SimResponse:
    return SimResponse.of_json({"errcode": 0, "errmsg": "ok", **data})


def _epoch(value: Any, default: float | None = None) -> int:
    """ISO-8601 (naive = China time) or a date → unix seconds."""
    if not value:
        return int(default if default is not None else time.time())
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CHINA)
    return int(moment.timestamp())


def _cdata(text: Any) -> str:
    return "<![CDATA[" + str(text).replace("]]>", "]]]]><![CDATA[>") + "]]>"


class WeComSim(WeComLoginSim, VendorSim):
    name = "wecom"
    prefix = "/wecom"

    def __init__(self, *, corp_id: str = "", corp_secret: str = "", agent_id: str = "1000002",
                 token: str = "", encoding_aes_key: str = "") -> None:
        super().__init__()
        self._login_init()
        alnum = string.ascii_letters + string.digits
        self.corp_id = corp_id or "ww" + secrets.token_hex(8)
        self.corp_secret = corp_secret or secrets.token_urlsafe(32)
        self.agent_id = agent_id
        self.callback_token = token or "".join(secrets.choice(alnum) for _ in range(16))
        self.encoding_aes_key = encoding_aes_key or "".join(secrets.choice(alnum)
                                                            for _ in range(43))
        self.crypt = WXBizMsgCrypt(token=self.callback_token,
                                   encoding_aes_key=self.encoding_aes_key, owner_id=self.corp_id)
        self.token_ttl = 7200
        self.tokens: dict[str, float] = {}  # access token → expiry (unix seconds)
        self.token_fetches = 0
        self.departments: dict[str, str] = {"1": "总部"}  # id → name
        self.users: dict[str, dict[str, Any]] = {}  # userid → {name, department}
        self.deliveries: list[dict[str, Any]] = []  # every callback sent: url, query, body
        self._seq = 0

    # --- set-up ---------------------------------------------------------------------------
    def connector_settings(self) -> dict[str, Any]:
        return {"corp_id": self.corp_id, "corp_secret": self.corp_secret,
                "agent_id": self.agent_id, "token": self.callback_token,
                "encoding_aes_key": self.encoding_aes_key,
                "api_base_url": self.base_url + self.prefix}

    def routes(self) -> list[tuple[str, str, Any]]:
        return [*self.sso_routes(), ("GET", "/cgi-bin/gettoken", self._gettoken),
                ("POST", "/cgi-bin/oa/getapprovaldetail", self._detail),
                ("POST", "/cgi-bin/oa/getapprovalinfo", self._approval_info),
                ("GET", "/cgi-bin/media/get", self._media),
                ("POST", "/cgi-bin/message/send", self._send),
                ("GET", "/cgi-bin/department/get", self._department),
                ("GET", "/cgi-bin/user/get", self._user)]

    def add_file(self, name: str, data: bytes) -> str:
        media_id = "WWCISP_" + secrets.token_urlsafe(48)
        with self.lock:
            self.files[media_id] = (name, data)
        return media_id

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens = dict.fromkeys(self.tokens, 0.0)

    def _department_id(self, name: str) -> str:
        with self.lock:
            for dept_id, dept_name in self.departments.items():
                if dept_name == name:
                    return dept_id
            dept_id = str(len(self.departments) + 1)
            self.departments[dept_id] = name
            return dept_id

    def _person(self, person: dict[str, Any], department: str = "") -> str:
        user_id = str(person.get("id") or "")
        dept = self._department_id(department) if department else "1"
        with self.lock:
            known = self.users.setdefault(user_id, {"name": user_id, "department": dept})
            if person.get("name"):
                known["name"] = person["name"]
            if department:
                known["department"] = dept
        return user_id

    # --- instances ------------------------------------------------------------------------
    def create_instance(self, spec: dict[str, Any]) -> str:
        created = _epoch(spec.get("create_time"))
        finished = _epoch(spec.get("finish_time"), default=time.time())
        originator = spec.get("originator") or {"id": "zhangsan", "name": "张三"}
        user_id = self._person(originator, originator.get("department", ""))
        with self.lock:
            self._seq += 1
            sp_no = str(spec.get("instance_id") or datetime.fromtimestamp(created, CHINA)
                        .strftime("%Y%m%d") + f"{self._seq:04d}")
        records, comments = self._trail(spec.get("trail") or [], finished)
        info = {"sp_no": sp_no, "sp_name": spec.get("title") or "审批",
                "sp_status": STATUS.get(spec.get("status") or "approved", 2),
                "template_id": spec.get("process_code") or "PROC-DEFAULT",
                "apply_time": created,
                "applyer": {"userid": user_id, "partyid": self.users[user_id]["department"]},
                "sp_record": records, "notifyer": [], "comments": comments,
                "apply_data": {"contents": [self._control(item) for item in spec.get("form", [])]}}
        with self.lock:
            self.instances[sp_no] = info
        return sp_no

    def _trail(self, trail: list[dict[str, Any]], finished: int) -> tuple[list, list]:
        records, comments = [], []
        for step in trail:
            user_id = self._person(step.get("actor") or {})
            at = _epoch(step.get("time"), default=finished)
            media = [self._file(f) for f in step.get("files") or []]
            if step.get("action") in ("评论", "comment"):
                comments.append({"commentUserInfo": {"userid": user_id}, "commenttime": at,
                                 "commentcontent": step.get("remark", ""),
                                 "commentid": str(secrets.randbelow(10**19)), "media_id": media})
                continue
            status = RESULT.get(step.get("result", "agree"), 1)
            records.append({"sp_status": status, "approverattr": 1,
                            "details": [{"approver": {"userid": user_id},
                                         "speech": step.get("remark", ""), "sp_status": status,
                                         "sptime": at if status != 1 else 0,
                                         "media_id": media}]})
        return records, comments

    def _file(self, item: dict[str, Any]) -> str:
        data = item.get("content", b"")
        if "content_b64" in item:
            data = base64.b64decode(item["content_b64"])
        return self.add_file(item["name"], data.encode() if isinstance(data, str) else data)

    def _control(self, item: dict[str, Any]) -> dict[str, Any]:
        kind = item.get("kind", "text")
        with self.lock:
            self._seq += 1
            seq = self._seq
        control = CONTROLS.get(kind, "Text")
        value: dict[str, Any] = {"text": "", "tips": [], "members": [], "departments": [],
                                 "files": [], "children": [], "stat_field": [], "sum_field": [],
                                 "related_approval": [], "students": [], "classes": [],
                                 "docs": [], "wedrive_files": []}
        raw = item.get("value", "")
        if control == "Money":
            value["new_money"] = str(raw)
        elif control == "Number":
            value["new_number"] = str(raw)
        elif control == "Date":
            hour = "T" in str(raw) or " " in str(raw).strip()
            value["date"] = {"type": "hour" if hour else "day", "s_timestamp": str(_epoch(raw))}
        elif control == "File":
            value["files"] = [{"file_id": self._file(f)} for f in item.get("files") or []]
        elif control == "Table":
            value["children"] = [{"list": [self._control(cell) for cell in row]}
                                 for row in item.get("rows") or []]
        elif control == "Selector":
            texts = raw if isinstance(raw, list) else [raw]
            value["selector"] = {"type": "multi" if isinstance(raw, list) else "single",
                                 "options": [{"key": f"option-{seq}{i}",
                                              "value": [{"text": str(t), "lang": "zh_CN"}]}
                                             for i, t in enumerate(texts)], "exp": []}
        else:
            value["text"] = str(raw)
        return {"control": control, "id": f"{control}-{1700000000000 + seq}",
                "title": [{"text": item.get("name", ""), "lang": "zh_CN"}], "value": value}

    # --- callbacks ------------------------------------------------------------------------
    def event_xml(self, instance_id: str, action: str = "approved") -> str:
        """The decrypted `sys_approval_change` message for `action`, applied to the instance."""
        sp_status, change = ACTIONS[action]
        with self.lock:
            info = self.instances[instance_id]
            if sp_status is not None:
                info["sp_status"] = sp_status
            info = json.loads(json.dumps(info))
        records = "".join(
            f"<SpRecord><SpStatus>{r['sp_status']}</SpStatus>"
            f"<ApproverAttr>{r['approverattr']}</ApproverAttr>" + "".join(
                f"<Details><Approver><UserId>{_cdata(d['approver']['userid'])}</UserId></Approver>"
                f"<Speech>{_cdata(d['speech'])}</Speech><SpStatus>{d['sp_status']}</SpStatus>"
                f"<SpTime>{d['sptime']}</SpTime></Details>" for d in r["details"])
            + "</SpRecord>" for r in info["sp_record"])
        comments = "".join(
            f"<Comments><CommentUserInfo><UserId>{_cdata(c['commentUserInfo']['userid'])}"
            f"</UserId></CommentUserInfo><CommentTime>{c['commenttime']}</CommentTime>"
            f"<CommentContent>{_cdata(c['commentcontent'])}</CommentContent>"
            f"<CommentId>{_cdata(c['commentid'])}</CommentId></Comments>"
            for c in info["comments"])
        applyer = info["applyer"]
        return (f"<xml><ToUserName>{_cdata(self.corp_id)}</ToUserName>"
                f"<FromUserName>{_cdata('sys')}</FromUserName>"
                f"<CreateTime>{int(time.time())}</CreateTime><MsgType>{_cdata('event')}</MsgType>"
                f"<Event>{_cdata('sys_approval_change')}</Event>"
                f"<AgentID>{APPROVAL_AGENT_ID}</AgentID><ApprovalInfo>"
                f"<SpNo>{info['sp_no']}</SpNo><SpName>{_cdata(info['sp_name'])}</SpName>"
                f"<SpStatus>{info['sp_status']}</SpStatus>"
                f"<TemplateId>{_cdata(info['template_id'])}</TemplateId>"
                f"<ApplyTime>{info['apply_time']}</ApplyTime>"
                f"<Applyer><UserId>{_cdata(applyer['userid'])}</UserId>"
                f"<Party>{_cdata(applyer['partyid'])}</Party></Applyer>{records}{comments}"
                f"<StatuChangeEvent>{change}</StatuChangeEvent></ApprovalInfo></xml>")

    def seal(self, message: bytes, *, json_flavour: bool = False, timestamp: str = "",
             nonce: str = "") -> tuple[dict[str, str], bytes, str]:
        """Encrypt and sign `message` like WeCom: (query params, body, content type)."""
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or str(secrets.randbelow(9 * 10**9) + 10**9)
        encrypt, signature = self.crypt.encrypt_and_sign(message, timestamp=timestamp,
                                                         nonce=nonce)
        query = {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}
        if json_flavour:
            body = json.dumps({"tousername": self.corp_id, "encrypt": encrypt,
                               "agentid": self.agent_id}).encode()
            return query, body, "application/json"
        body = (f"<xml><ToUserName>{_cdata(self.corp_id)}</ToUserName>"
                f"<Encrypt>{_cdata(encrypt)}</Encrypt>"
                f"<AgentID>{_cdata(self.agent_id)}</AgentID></xml>").encode()
        return query, body, "text/xml"

    def deliver(self, callback_url: str, query: dict[str, str], body: bytes = b"",
                content_type: str = "text/xml", *, method: str = "POST") -> dict[str, Any]:
        """Send one callback (also used to replay a recorded delivery byte for byte)."""
        sep = "&" if "?" in callback_url else "?"
        url = callback_url + sep + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
        self.deliveries.append({"url": callback_url, "query": query, "body": body,
                                "content_type": content_type, "method": method})
        resp = httpx.request(method, url, content=body or None, timeout=10.0,
                             headers={"Content-Type": content_type} if body else {})
        return {"status": resp.status_code, "body": resp.text}

    def fire(self, *, callback_url: str, instance_id: str, action: str = "approved",
             json_flavour: bool = False) -> dict:
        message = self.event_xml(instance_id, action).encode()
        query, body, ctype = self.seal(message, json_flavour=json_flavour)
        return self.deliver(callback_url, query, body, ctype)

    def fire_verify_url(self, callback_url: str, *, echo: str = "") -> dict[str, Any]:
        """WeCom's GET URL verification; KJDA must answer the plain `echo`."""
        echo = echo or str(secrets.randbelow(9 * 10**18) + 10**18)
        timestamp, nonce = str(int(time.time())), str(secrets.randbelow(9 * 10**9) + 10**9)
        echostr, signature = self.crypt.encrypt_and_sign(echo.encode(), timestamp=timestamp,
                                                         nonce=nonce)
        query = {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce,
                 "echostr": echostr}
        return {**self.deliver(callback_url, query, method="GET"), "echo": echo}

    # --- API ------------------------------------------------------------------------------
    def _token_error(self, req: SimRequest) -> SimResponse | None:
        token = req.query.get("access_token", "")
        if not token:
            return _err(41001, "access_token missing")
        with self.lock:
            expiry = self.tokens.get(token)
        if expiry is None:
            return _err(40014, "invalid access_token")
        if expiry <= time.time():
            return _err(42001, "access_token expired")
        return None

    def _gettoken(self, req: SimRequest, _m: Any) -> SimResponse:
        if req.query.get("corpid") != self.corp_id:
            return _err(40013, "invalid corpid")
        if req.query.get("corpsecret") != self.corp_secret:
            return _err(40001, "invalid credential")
        token = secrets.token_urlsafe(48)
        with self.lock:
            self.tokens[token] = time.time() + self.token_ttl
            self.token_fetches += 1
        return _ok(access_token=token, expires_in=self.token_ttl)

    def _detail(self, req: SimRequest, _m: Any) -> SimResponse:
        if error := self._token_error(req):
            return error
        sp_no = str(req.json().get("sp_no", ""))
        with self.lock:
            info = self.instances.get(sp_no)
            info = json.loads(json.dumps(info)) if info else None
        return _ok(info=info) if info else _err(40058, f"invalid sp_no {sp_no}")

    def _approval_info(self, req: SimRequest, _m: Any) -> SimResponse:
        if error := self._token_error(req):
            return error
        body = req.json()
        try:
            start, end = int(body["starttime"]), int(body["endtime"])
            size, cursor = int(body.get("size") or 100), int(body.get("new_cursor") or 0)
        except (KeyError, TypeError, ValueError):
            return _err(40058, "invalid starttime/endtime/size/new_cursor")
        if end < start or end - start > 31 * 86400 or not 0 < size <= 100:
            return _err(40058, "time range over 31 days or size over 100")
        filters = body.get("filters") or []
        templates = {str(f.get("value")) for f in filters if f.get("key") == "template_id"}
        statuses = {int(f.get("value")) for f in filters if f.get("key") == "sp_status"}
        with self.lock:
            matches = sorted(
                sp_no for sp_no, info in self.instances.items()
                if start <= info["apply_time"] <= end
                and (not templates or info["template_id"] in templates)
                and (not statuses or info["sp_status"] in statuses))
        page = matches[cursor:cursor + size]
        following = str(cursor + size) if cursor + size < len(matches) else ""
        return _ok(sp_no_list=page, new_next_cursor=following)

    def _media(self, req: SimRequest, _m: Any) -> SimResponse:
        if error := self._token_error(req):
            return error
        with self.lock:
            entry = self.files.get(req.query.get("media_id", ""))
        if entry is None:
            return _err(40007, "invalid media_id")
        name, data = entry
        ascii_raw = name.encode().decode("latin-1")  # raw UTF-8 bytes, as many servers send
        headers = {"Content-Disposition":
                   f"attachment; filename=\"{ascii_raw}\"; filename*=UTF-8''{quote(name)}",
                   "Cache-Control": "no-cache, must-revalidate"}
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        ranged = re.fullmatch(r"bytes=(\d+)-(\d*)", req.headers.get("range", "").strip())
        if ranged and data:
            first = min(int(ranged.group(1)), len(data) - 1)
            last = min(int(ranged.group(2) or len(data) - 1), len(data) - 1)
            headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
            return SimResponse(206, data[first:last + 1], ctype, headers)
        return SimResponse(200, data, ctype, headers)

    def _send(self, req: SimRequest, _m: Any) -> SimResponse:
        if error := self._token_error(req):
            return error
        body = req.json()
        if str(body.get("agentid")) != str(self.agent_id):
            return _err(40056, "invalid agentid")
        users = [u for u in str(body.get("touser") or "").split("|") if u]
        msgtype = body.get("msgtype")
        card = body.get(msgtype) if isinstance(body.get(msgtype), dict) else {}
        if not users or msgtype not in ("textcard", "text"):
            return _err(40058, "touser or msgtype invalid")
        if msgtype == "textcard" and not all(card.get(k) for k in ("title", "description", "url")):
            return _err(40058, "textcard needs title, description and url")
        if msgtype == "text" and not card.get("content"):
            return _err(44004, "empty content")
        msgid = secrets.token_urlsafe(24)
        title = card.get("title") or str(card.get("content", "")).split("\n")[0]
        with self.lock:
            self.notices.append({
                "user_ids": users, "msgtype": msgtype, "title": title,
                "text": card.get("description", card.get("content", "")),
                "url": card.get("url", ""), "todo": title.startswith("【待办】"),
                "msgid": msgid, "raw": body, "at": datetime.now(UTC).isoformat()})
        return _ok(invaliduser="", invalidparty="", invalidtag="", unlicenseduser="",
                   msgid=msgid)

    def _department(self, req: SimRequest, _m: Any) -> SimResponse:
        if error := self._token_error(req):
            return error
        dept_id = req.query.get("id", "")
        with self.lock:
            name = self.departments.get(dept_id)
        if name is None:
            return _err(60123, "invalid department id")
        return _ok(department={"id": int(dept_id), "name": name,
                               "parentid": 0 if dept_id == "1" else 1, "order": 1})

    def _user(self, req: SimRequest, _m: Any) -> SimResponse:
        if error := self._token_error(req):
            return error
        user_id = req.query.get("userid", "")
        with self.lock:
            user = self.users.get(user_id)
        if user is None:
            return _err(60111, "userid not found")
        return _ok(userid=user_id, name=user["name"], department=[int(user["department"])],
                   main_department=int(user["department"]), status=1,
                   mobile=user.get("mobile", ""), email=user.get("email", ""))
