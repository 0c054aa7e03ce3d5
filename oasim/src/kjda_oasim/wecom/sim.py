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
import secrets
import string
import time
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import httpx

from kjda.connectors.wxcrypto import WXBizMsgCrypt
from kjda_oasim.core import VendorSim
from kjda_oasim.wecom.api import WeComApiSim
from kjda_oasim.wecom.login import WeComLoginSim

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


class WeComSim(WeComApiSim, WeComLoginSim, VendorSim):
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
        self.templates: dict[str, dict[str, Any]] = {}  # template_id → {name, controls}

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
                ("POST", "/cgi-bin/oa/gettemplatedetail", self._template_detail),
                ("POST", "/cgi-bin/oa/applyevent", self._apply_event),
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

    def add_user(self, person: dict[str, Any], department: str = "") -> str:
        """A member of the directory ({id, name}); returns the userid."""
        return self._person(person, department)

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

    def add_template(self, code: str, name: str, labels: list[str]) -> str:
        with self.lock:
            controls = []
            for label in labels:
                self._seq += 1
                controls.append({"control": "Text", "id": f"Text-{1700000000000 + self._seq}",
                                 "label": label})
            self.templates[code] = {"template_id": code, "name": name, "controls": controls}
        return code

    def start_instance(self, template: dict[str, Any], creator: str,
                       contents: list[dict[str, Any]]) -> str:
        """A running sheet (sp_status 1) from applyevent, its contents as submitted."""
        titles = {c["id"]: c["label"] for c in template["controls"]}
        now = int(time.time())
        with self.lock:
            self._seq += 1
            sp_no = datetime.fromtimestamp(now, CHINA).strftime("%Y%m%d") + f"{self._seq:04d}"
            info = {"sp_no": sp_no, "sp_name": template["name"], "sp_status": 1,
                    "template_id": template["template_id"], "apply_time": now,
                    "applyer": {"userid": creator, "partyid": self.users[creator]["department"]},
                    "sp_record": [], "notifyer": [], "comments": [],
                    "apply_data": {"contents": [
                        {"control": c["control"], "id": c["id"],
                         "title": [{"text": titles[c["id"]], "lang": "zh_CN"}],
                         "value": {"text": str((c.get("value") or {}).get("text") or "")}}
                        for c in contents]}}
            self.instances[sp_no] = info
        return sp_no

    def instance_decide(self, instance_id: str, *, approved: bool, approver: dict[str, Any],
                        comment: str = "", callback_url: str = "") -> dict | None:
        user_id = self._person(approver)
        status = RESULT["agree" if approved else "refuse"]
        with self.lock:
            info = self.instances[instance_id]
            info["sp_record"].append({"sp_status": status, "approverattr": 1, "details": [
                {"approver": {"userid": user_id}, "speech": comment, "sp_status": status,
                 "sptime": int(time.time()), "media_id": []}]})
        action = "approved" if approved else "rejected"
        if callback_url:
            return self.fire(callback_url=callback_url, instance_id=instance_id, action=action)
        with self.lock:
            info["sp_status"] = STATUS[action]
        return None

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
