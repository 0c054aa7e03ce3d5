"""The API side of the simulated Feishu (飞书): tenant_access_token, approval instance detail and
list, messages, tasks, contact users and departments, and attachment downloads, each answering
Feishu's {code, msg, data}."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from typing import Any
from urllib.parse import quote

from kjda_oasim.core import SimRequest, SimResponse

RECEIVE_ID_TYPES = {"open_id", "user_id", "union_id", "email", "chat_id"}
MSG_TYPES = {"text", "post", "image", "interactive", "share_chat", "share_user", "file"}


def _error(code: int, msg: str, status: int = 400) -> SimResponse:
    return SimResponse.of_json({"code": code, "msg": msg, "error": {"log_id": uuid.uuid4().hex}},
                               status)


def _ok(data: dict[str, Any]) -> SimResponse:
    return SimResponse.of_json({"code": 0, "msg": "success", "data": data})


class FeishuApiSim:
    """The API handlers of `FeishuSim`, over its instances, people, files and tokens."""

    def _auth(self, req: SimRequest) -> SimResponse | None:
        header = req.headers.get("authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            return _error(99991661, "Missing access token for authorization.")
        expiry = self.tokens.get(header[7:].strip())
        if expiry is None:
            return _error(99991663, "Invalid access token for authorization.")
        if expiry < time.time():
            return _error(99991668, "Invalid access token for authorization: token expired.")
        return None

    def _token(self, req: SimRequest, m) -> SimResponse:
        body = req.json()
        if body.get("app_id") != self.app_id or body.get("app_secret") != self.app_secret:
            return _error(10014, "app secret invalid")
        token = "t-" + secrets.token_hex(20)
        with self.lock:
            self.tokens[token] = time.time() + self.token_ttl
        return SimResponse.of_json({"code": 0, "msg": "ok", "tenant_access_token": token,
                                    "expire": self.token_ttl})

    def _approval_get(self, req: SimRequest, m) -> SimResponse:
        """查看指定审批定义: the form is a JSON string of its widgets."""
        if denied := self._auth(req):
            return denied
        template = self.templates.get(m["code"])
        if template is None:
            return _error(1390002, "approval code not found")
        return _ok({"approval_name": template["name"], "status": "ACTIVE",
                    "form": json.dumps(template["widgets"], ensure_ascii=False),
                    "node_list": [{"name": "审批", "need_approver": False,
                                   "node_id": "b078ffd28db767c502ac367053f6e0ac",
                                   "custom_node_id": "", "node_type": "AND",
                                   "approver_chosen_multi": True}],
                    "viewers": [{"type": "TENANT", "id": "", "user_id": ""}]})

    def _subscribe(self, req: SimRequest, m) -> SimResponse:
        """订阅审批事件 for a definition; a second subscription answers 1390007."""
        if denied := self._auth(req):
            return denied
        if m["code"] not in self.templates:
            return _error(1390002, "approval code not found")
        with self.lock:
            if m["code"] in self.subscribed:
                return _error(1390007, "subscription existed")
            self.subscribed.add(m["code"])
        return _ok({})

    def _create(self, req: SimRequest, m) -> SimResponse:
        """创建审批实例: approval_code, user_id or open_id, and form (a JSON string of
        {id, type, value} widgets of the definition); a repeated uuid is refused (60012).
        Answers {instance_code}."""
        if denied := self._auth(req):
            return denied
        body = req.json()
        template = self.templates.get(str(body.get("approval_code") or ""))
        if template is None:
            return _error(1390002, "approval code not found")
        user = self.users.get(str(body.get("open_id") or "")) or next(
            (u for u in self.users.values() if body.get("user_id") and
             u["user_id"] == body.get("user_id")), None)
        if user is None:
            return _error(1390001, "param is invalid: user_id or open_id")
        try:
            form = json.loads(body.get("form") or "")
        except (TypeError, ValueError):
            return _error(1390001, "param is invalid: form")
        widgets = {w["id"]: w for w in template["widgets"]}
        if not isinstance(form, list) or any(
                not isinstance(w, dict) or w.get("id") not in widgets
                or w.get("type") != widgets[w["id"]]["type"] for w in form):
            return _error(1390001, "param is invalid: form")
        key = str(body.get("uuid") or "")
        with self.lock:
            if key and key in self.by_uuid:
                return _error(60012, "uuid conflict")
            code = self.start_instance(template, user, form, key)
        return _ok({"instance_code": code})

    def _get(self, req: SimRequest, m) -> SimResponse:
        if denied := self._auth(req):
            return denied
        data = self.instances.get(m["id"]) or self.instances.get(self.by_uuid.get(m["id"], ""))
        if data is None:
            return _error(1390003, "instance code not found")
        return _ok(self._render(data))

    def _list(self, req: SimRequest, m) -> SimResponse:
        if denied := self._auth(req):
            return denied
        q = req.query
        if not q.get("approval_code") or not q.get("start_time", "").isdigit() or not q.get(
                "end_time", "").isdigit():
            return _error(1390001, "param is invalid: approval_code, start_time, end_time")
        lo, hi = int(q["start_time"]), int(q["end_time"])
        size, offset = min(int(q.get("page_size") or 100), 100), int(q.get("page_token") or 0)
        codes = [code for code, d in sorted(self.instances.items(),
                                            key=lambda kv: int(kv[1]["start_time"]))
                 if d["approval_code"] == q["approval_code"] and lo <= int(d["start_time"]) <= hi]
        page = codes[offset:offset + size]
        more = offset + size < len(codes)
        return _ok({"instance_code_list": page, "has_more": more,
                    "page_token": str(offset + size) if more else ""})

    def _user_ids(self, open_ids: list[str]) -> list[str]:
        """The people behind the open_ids (their user_id), for assertions across vendors."""
        return [self.users.get(i, {}).get("user_id", i) for i in open_ids]

    def _remember(self, key: str, record: dict[str, Any], answer: dict[str, Any]) -> dict:
        with self.lock:
            if key and key in self.idempotent:
                return self.idempotent[key]
            self.notices.append(record)
            if key:
                self.idempotent[key] = answer
        return answer

    def _message(self, req: SimRequest, m) -> SimResponse:
        if denied := self._auth(req):
            return denied
        body = req.json()
        id_type = req.query.get("receive_id_type", "")
        if id_type not in RECEIVE_ID_TYPES or not body.get("receive_id") or (
                body.get("msg_type") not in MSG_TYPES):
            return _error(99992402, "field validation failed")
        try:
            content = json.loads(body.get("content") or "")
        except (ValueError, TypeError):
            return _error(230001, "Your request contains an invalid request parameter: content")
        header = (content.get("header") or {}).get("title") or {}
        div = next((e for e in content.get("elements") or [] if e.get("tag") == "div"), {})
        buttons = [a for e in content.get("elements") or [] for a in e.get("actions") or []]
        message_id = "om_" + secrets.token_hex(16)
        answer = {"message_id": message_id, "msg_type": body["msg_type"],
                  "create_time": str(int(time.time() * 1000)), "chat_id": "oc_" + secrets.token_hex(16)}
        record = {"type": "message", "user_ids": [body["receive_id"]], "receive_id_type": id_type,
                  "users": self._user_ids([body["receive_id"]]),
                  "msg_type": body["msg_type"], "uuid": body.get("uuid", ""),
                  "title": header.get("content", ""),
                  "text": content.get("text") or (div.get("text") or {}).get("content", ""),
                  "url": buttons[0].get("url", "") if buttons else "", "content": content,
                  "message_id": message_id}
        return _ok(self._remember(body.get("uuid") or "", record, answer))

    def _task(self, req: SimRequest, m) -> SimResponse:
        if denied := self._auth(req):
            return denied
        body = req.json()
        members = body.get("members") or []
        if not body.get("summary") or not all(x.get("id") and x.get("role") in {
                "assignee", "follower"} for x in members):
            return _error(1470400, "invalid request: summary and members are required")
        guid = str(uuid.uuid4())
        answer = {"task": {"guid": guid, "summary": body["summary"],
                           "url": f"https://applink.feishu.cn/client/todo/detail?guid={guid}",
                           "members": members}}
        record = {"type": "todo", "user_ids": [x["id"] for x in members
                                               if x.get("role") == "assignee"],
                  "users": self._user_ids([x["id"] for x in members]),
                  "title": body["summary"], "text": body.get("description", ""),
                  "url": ((body.get("origin") or {}).get("href") or {}).get("url", ""),
                  "client_token": body.get("client_token", ""), "task_guid": guid,
                  "user_id_type": req.query.get("user_id_type", ""), "request": body}
        return _ok(self._remember(body.get("client_token") or "", record, answer))

    def _user(self, req: SimRequest, m) -> SimResponse:
        if denied := self._auth(req):
            return denied
        user = self.users.get(m["id"])
        if user is None or req.query.get("user_id_type", "open_id") != "open_id":
            return _error(41050, "no user authority error")
        return _ok({"user": user})

    def _department(self, req: SimRequest, m) -> SimResponse:
        if denied := self._auth(req):
            return denied
        name = self.departments.get(m["id"])
        if name is None:
            return _error(40004, "no dept authority error")
        return _ok({"department": {"name": name, "open_department_id": m["id"]}})

    def _download(self, req: SimRequest, m) -> SimResponse:
        entry = self.auth_codes.get(req.query.get("code", ""))
        if entry is None or entry[1] < time.time():
            return _error(1061045, "auth code invalid or expired", 403)
        name, data = self.files[entry[0]]
        return SimResponse(200, data, "application/octet-stream", {
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})
