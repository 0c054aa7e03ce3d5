"""Simulated Feishu open platform (oa-protocols.md §3) under `/feishu`.

Serves, with the vendor's shapes and error codes:
  POST /feishu/open-apis/auth/v3/tenant_access_token/internal   tenant token (TTL `token_ttl`)
  GET  /feishu/open-apis/approval/v4/instances/{instance_code}    detail, `form` a JSON string
  GET  /feishu/open-apis/approval/v4/instances?approval_code=…   instance_code_list (start time)
  POST /feishu/open-apis/im/v1/messages?receive_id_type=open_id  (idempotent on `uuid`)
  POST /feishu/open-apis/task/v2/tasks?user_id_type=open_id       (idempotent on `client_token`)
  GET  /feishu/open-apis/contact/v3/users/{open_id}, …/departments/{open_department_id}
  GET  /feishu/space/api/box/stream/download/authcode/?code=…     time-limited (`url_ttl`) files
and fires events at a callback URL the way Feishu does: v2 `approval.instance.status_changed_v4`
by default (v1 `approval_instance` with schema="1.0"), encrypted with the Encrypt Key and signed
with X-Lark-Signature; `url_verification()` sends the (unsigned) challenge.
The crypto here is written independently of the connector so that each checks the other.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import secrets
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from kjda_oasim.core import VendorSim
from kjda_oasim.feishu_api import FeishuApiSim
from kjda_oasim.sso import FeishuLoginSim

STATUS = {"approved": "APPROVED", "running": "PENDING", "rejected": "REJECTED",
          "revoked": "REVERTED", "canceled": "CANCELED", "deleted": "DELETED"}
KINDS = {"money": "amount", "amount": "amount", "number": "number", "formula": "formula",
         "date": "date", "textarea": "textarea", "attachment": "attachmentV2",
         "image": "imageV2", "table": "fieldList", "contact": "contact"}


def encrypt(encrypt_key: str, plaintext: bytes) -> str:
    """Feishu's event encryption: base64(iv || AES-256-CBC(sha256(key), iv, PKCS#7/16))."""
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    data = padder.update(plaintext) + padder.finalize()
    key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + encryptor.update(data) + encryptor.finalize()).decode()


def sign(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    digest = hashlib.sha256()
    digest.update((timestamp + nonce + encrypt_key).encode("utf-8"))
    digest.update(body)
    return digest.hexdigest()


def _ms(value: Any, default: int) -> int:
    if not value:
        return default
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _number(value: Any) -> int | float:
    number = Decimal(str(value).replace(",", ""))
    return int(number) if number == number.to_integral_value() else float(number)


class FeishuSim(FeishuApiSim, FeishuLoginSim, VendorSim):
    name = "feishu"
    prefix = "/feishu"

    def __init__(self, *, encrypt_key: str | None = None, schema: str = "2.0") -> None:
        super().__init__()
        self._login_init()
        # Each simulated tenant has its own credentials, so a second sim is a forged sender.
        self.app_id = "cli_" + secrets.token_hex(8)
        self.app_secret = secrets.token_urlsafe(24)
        self.verification_token = secrets.token_urlsafe(16)
        # None → a random key; "" → Feishu with encryption off.
        self.encrypt_key = secrets.token_urlsafe(24) if encrypt_key is None else encrypt_key
        self.tenant_key = "736588c9260f175d"
        self.schema = schema
        self.token_ttl = 7200
        self.url_ttl = 300
        self.tokens: dict[str, float] = {}  # token → expiry (time.time())
        self.auth_codes: dict[str, tuple[str, float]] = {}  # download code → (file id, expiry)
        self.users: dict[str, dict[str, Any]] = {}  # open_id → user
        self.departments: dict[str, str] = {}  # open_department_id → name
        self.idempotent: dict[str, dict[str, Any]] = {}  # uuid / client_token → answer
        self.last_payload: dict[str, Any] | None = None
        self.transitions: dict[tuple[str, str, str], dict[str, Any]] = {}  # fired events
        self._seq = 0
        self.templates: dict[str, dict[str, Any]] = {}  # approval_code → {name, widgets}
        self.by_uuid: dict[str, str] = {}  # create uuid → instance_code
        self.subscribed: set[str] = set()  # approval codes subscribed to their events

    def routes(self):
        return [
            *self.sso_routes(),
            ("POST", "/open-apis/auth/v3/tenant_access_token/internal", self._token),
            ("GET", "/open-apis/approval/v4/instances", self._list),
            ("GET", r"/open-apis/approval/v4/instances/(?P<id>[^/]+)", self._get),
            ("POST", "/open-apis/approval/v4/instances", self._create),
            ("GET", r"/open-apis/approval/v4/approvals/(?P<code>[^/]+)", self._approval_get),
            ("POST", r"/open-apis/approval/v4/approvals/(?P<code>[^/]+)/subscribe",
             self._subscribe),
            ("POST", "/open-apis/im/v1/messages", self._message),
            ("POST", "/open-apis/task/v2/tasks", self._task),
            ("GET", r"/open-apis/contact/v3/users/(?P<id>[^/]+)", self._user),
            ("GET", r"/open-apis/contact/v3/departments/(?P<id>[^/]+)", self._department),
            ("GET", "/space/api/box/stream/download/authcode/", self._download),
        ]

    def connector_settings(self) -> dict[str, Any]:
        return {"app_id": self.app_id, "app_secret": self.app_secret,
                "verification_token": self.verification_token, "encrypt_key": self.encrypt_key,
                "api_base_url": f"{self.base_url}{self.prefix}"}

    # --- instances ---------------------------------------------------------------------------
    def person(self, who: dict[str, Any], department: str = "") -> dict[str, Any]:
        user_id = str(who.get("id") or who.get("name") or "user")
        open_id = "ou_" + hashlib.sha256(user_id.encode()).hexdigest()[:32]
        with self.lock:
            user = self.users.setdefault(open_id, {
                "open_id": open_id, "user_id": user_id, "name": who.get("name") or user_id,
                "union_id": "on_" + hashlib.sha256(b"u" + user_id.encode()).hexdigest()[:32],
                "department_ids": []})
            if department:
                dept = "od-" + hashlib.sha256(department.encode()).hexdigest()[:32]
                self.departments[dept] = department
                user["department_ids"] = [dept]
        return user

    def _widget_id(self) -> str:
        with self.lock:
            self._seq += 1
            return f"widget{17182800812470000 + self._seq}"

    def _files(self, files: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
        out = []
        for f in files or []:
            data = base64.b64decode(f["content_b64"]) if "content_b64" in f else (
                f.get("content", b"") if isinstance(f.get("content"), bytes)
                else str(f.get("content", "")).encode())
            out.append((self.add_file(f["name"], data), f["name"], len(data)))
        return out

    def _widget(self, item: dict[str, Any], columns: dict[str, str] | None = None) -> dict:
        name, kind = str(item.get("name", "")), KINDS.get(item.get("kind") or "", "input")
        wid = (columns or {}).get(name) or self._widget_id()
        if columns is not None:
            columns[name] = wid
        widget: dict[str, Any] = {"id": wid, "name": name, "type": kind, "ext": None,
                                  "value": item.get("value", "")}
        if kind in {"amount", "number", "formula"}:
            widget["value"] = _number(item.get("value") or 0)
            widget["ext"] = {"currency": "CNY"} if kind == "amount" else None
        elif kind == "date":
            value = str(item.get("value") or "")
            widget["value"] = value if "T" in value else f"{value}T00:00:00+08:00"
        elif kind in {"attachmentV2", "imageV2"}:
            files = self._files(item.get("files") or [])
            widget.update(ext=",".join(n for _, n, _ in files), value=[],
                          _files=[fid for fid, _, _ in files])
        elif kind == "fieldList":
            cols: dict[str, str] = {}
            widget.update(ext=[], value=[[self._widget(c, cols) for c in row]
                                         for row in item.get("rows") or []])
        elif kind == "contact":
            people = [self.person(p if isinstance(p, dict) else {"id": p})
                      for p in item.get("value") or []]
            widget.update(value=[p["user_id"] for p in people],
                          open_ids=[p["open_id"] for p in people])
        return widget

    def create_instance(self, spec: dict[str, Any]) -> str:
        instance_id = str(spec.get("instance_id") or str(uuid.uuid4()).upper())
        origin = spec.get("originator") or {"id": "zhangsan", "name": "张三"}
        user = self.person(origin, str(origin.get("department") or ""))
        status = STATUS.get(spec.get("status") or "approved", "APPROVED")
        now = int(time.time() * 1000)
        start = _ms(spec.get("create_time"), now - 3_600_000)
        end = _ms(spec.get("finish_time"), now) if status != "PENDING" else 0
        data = {
            "approval_name": spec.get("approval_name") or spec.get("title") or "审批",
            "approval_code": spec.get("process_code") or "PROC-REIMB-001",
            "instance_code": instance_id, "serial_number": f"{start // 1000}{self._seq:04d}",
            "user_id": user["user_id"], "open_id": user["open_id"],
            "department_id": (user["department_ids"] or [""])[0], "status": status,
            "start_time": str(start), "end_time": str(end), "uuid": uuid.uuid4().hex[:8],
            "reverted": status == "REVERTED", "reverted_instance_code": "",
            "modified_instance_code": "",
            "form": [self._widget(item) for item in spec.get("form") or []],
        }
        data.update(self._trail(spec.get("trail") or [], user, start))
        with self.lock:
            self.instances[instance_id] = data
        return instance_id

    def add_template(self, code: str, name: str, labels: list[str]) -> str:
        widgets = [{"id": self._widget_id(), "name": label, "type": "input",
                    "required": False, "custom_id": ""} for label in labels]
        with self.lock:
            self.templates[code] = {"approval_code": code, "name": name, "widgets": widgets}
        return code

    def start_instance(self, template: dict[str, Any], user: dict[str, Any],
                       form: list[dict[str, Any]], key: str = "") -> str:
        """A PENDING instance created through the API, its form as submitted."""
        names = {w["id"]: w["name"] for w in template["widgets"]}
        now = int(time.time() * 1000)
        instance_id = str(uuid.uuid4()).upper()
        data = {
            "approval_name": template["name"], "approval_code": template["approval_code"],
            "instance_code": instance_id, "serial_number": f"{now // 1000}{self._seq:04d}",
            "user_id": user["user_id"], "open_id": user["open_id"],
            "department_id": (user["department_ids"] or [""])[0], "status": "PENDING",
            "start_time": str(now), "end_time": "0", "uuid": key or uuid.uuid4().hex[:8],
            "reverted": False, "reverted_instance_code": "", "modified_instance_code": "",
            "form": [{"id": w["id"], "name": names[w["id"]], "type": w["type"], "ext": None,
                      "value": w.get("value", "")} for w in form],
            "task_list": [], "comment_list": [],
            "timeline": [{"type": "START", "create_time": str(now), "ext": "{}",
                          "user_id": user["user_id"], "open_id": user["open_id"],
                          "node_key": "START", "files": []}]}
        with self.lock:
            self.instances[instance_id] = data
            if key:
                self.by_uuid[key] = instance_id
        return instance_id

    def instance_decide(self, instance_id: str, *, approved: bool, approver: dict[str, Any],
                        comment: str = "", callback_url: str = "") -> dict | None:
        actor = self.person(approver)
        now = int(time.time() * 1000)
        with self.lock:
            data = self.instances[instance_id]
            task_id = str(7_200_000_000 + len(data["task_list"]))
            node = "b078ffd28db767c502ac367053f6e0ac"
            data["task_list"].append({
                "id": task_id, "user_id": actor["user_id"], "open_id": actor["open_id"],
                "node_id": node, "node_name": "审批", "custom_node_id": "", "type": "AND",
                "status": "APPROVED" if approved else "REJECTED",
                "start_time": data["start_time"], "end_time": str(now)})
            data["timeline"].append({
                "type": "PASS" if approved else "REJECT", "create_time": str(now),
                "user_id": actor["user_id"], "open_id": actor["open_id"], "comment": comment,
                "ext": "{}", "files": [], "task_id": task_id, "node_key": node})
        action = "approved" if approved else "rejected"
        if callback_url:
            return self.fire(callback_url=callback_url, instance_id=instance_id, action=action)
        with self.lock:
            data["status"] = STATUS[action]
            data["end_time"] = str(now)
        return None

    def _trail(self, steps: list[dict[str, Any]], originator: dict, start: int) -> dict:
        timeline: list[dict[str, Any]] = []
        tasks: list[dict[str, Any]] = []
        comments: list[dict[str, Any]] = []
        if not steps or steps[0].get("action") != "发起":
            timeline.append({"type": "START", "create_time": str(start), "ext": "{}",
                             "user_id": originator["user_id"], "open_id": originator["open_id"],
                             "node_key": "START", "files": []})
        previous = start
        for i, step in enumerate(steps):
            actor = self.person(step.get("actor") or {})
            action, result = step.get("action") or "审批", step.get("result") or "agree"
            when = _ms(step.get("time"), start + (i + 1) * 60_000)
            files = [{"_file": fid, "title": n, "file_size": size, "type": "attachment"}
                     for fid, n, size in self._files(step.get("files") or [])]
            entry = {"create_time": str(when), "user_id": actor["user_id"],
                     "open_id": actor["open_id"], "comment": step.get("remark") or "",
                     "ext": "{}", "files": files}
            if action == "评论":
                comments.append({"id": str(7_000_000 + i), "user_id": actor["user_id"],
                                 "open_id": actor["open_id"], "comment": entry["comment"],
                                 "create_time": str(when), "files": files})
                continue
            if action == "发起":
                entry.update(type="START", node_key="START")
            elif action == "抄送":
                entry.update(type="CC", node_key="CC", cc_user_list=[
                    {"user_id": actor["user_id"], "open_id": actor["open_id"],
                     "cc_id": str(8_000_000 + i)}])
            else:
                task_id = str(7_100_000_000 + i)
                node = hashlib.sha256(f"{action}{i}".encode()).hexdigest()[:32]
                tasks.append({"id": task_id, "user_id": actor["user_id"],
                              "open_id": actor["open_id"], "node_id": node, "node_name": action,
                              "custom_node_id": "", "type": "AND",
                              "status": {"agree": "APPROVED", "refuse": "REJECTED"}.get(
                                  result, "DONE"),
                              "start_time": str(previous), "end_time": str(when)})
                entry.update(type={"agree": "PASS", "refuse": "REJECT",
                                   "redirect": "TRANSFER"}.get(result, "PASS"),
                             task_id=task_id, node_key=node)
            timeline.append(entry)
            previous = when
        return {"task_list": tasks, "comment_list": comments, "timeline": timeline}

    def _download_url(self, file_id: str) -> str:
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.auth_codes[code] = (file_id, time.time() + self.url_ttl)
        return (f"{self.base_url}{self.prefix}/space/api/box/stream/download/authcode/"
                f"?code={code}")

    def _render(self, data: dict[str, Any]) -> dict[str, Any]:
        """The API view: fresh time-limited URLs, `form` as a JSON string."""
        out = copy.deepcopy(data)

        def urls(widgets: list[dict]) -> list[dict]:
            for w in widgets:
                if "_files" in w:
                    w["value"] = [self._download_url(fid) for fid in w.pop("_files")]
                if w.get("type") == "fieldList":
                    w["value"] = [urls(row) for row in w["value"]]
            return widgets

        out["form"] = json.dumps(urls(out["form"]), ensure_ascii=False)
        for entry in out["timeline"] + out["comment_list"]:
            for f in entry.get("files") or []:
                f["url"] = self._download_url(f.pop("_file"))
        return out

    # --- events ---------------------------------------------------------------------------------
    def event(self, instance_id: str, status: str, *, schema: str | None = None,
              event_type: str | None = None) -> dict[str, Any]:
        data = self.instances[instance_id]
        now = int(time.time() * 1000)
        if (schema or self.schema) in {"1.0", "v1", "1"}:
            return {"ts": f"{time.time():.7f}", "uuid": uuid.uuid4().hex,
                    "token": self.verification_token, "type": "event_callback",
                    "event": {"app_id": self.app_id, "tenant_key": self.tenant_key,
                              "type": event_type or "approval_instance",
                              "approval_code": data["approval_code"],
                              "instance_code": instance_id, "status": status,
                              "operate_time": now, "instance_operate_time": str(now),
                              "uuid": uuid.uuid4().hex[:8]}}
        user = self.users.get(data["open_id"], {})
        return {"schema": "2.0",
                "header": {"event_id": uuid.uuid4().hex, "token": self.verification_token,
                           "event_type": event_type or "approval.instance.status_changed_v4",
                           "create_time": str(now), "app_id": self.app_id,
                           "tenant_key": self.tenant_key},
                "event": {"approval_code": data["approval_code"], "instance_code": instance_id,
                          "status": status, "operate_time": str(now),
                          "start_user": {"open_id": data["open_id"], "user_id": data["user_id"],
                                         "union_id": user.get("union_id", "")}}}

    def delivery(self, payload: dict[str, Any], *, signed: bool = True,
                 timestamp: str | None = None, nonce: str | None = None) -> dict[str, Any]:
        """Headers and body of one delivery, encrypted and signed as Feishu does."""
        plain = json.dumps(payload, ensure_ascii=False).encode()
        body = (json.dumps({"encrypt": encrypt(self.encrypt_key, plain)}).encode()
                if self.encrypt_key else plain)
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "User-Agent": "Mozilla/5.0 (compatible; Feishu-Event-Sim)"}
        if self.encrypt_key and signed:
            stamp = timestamp or str(int(time.time()))
            nonce = nonce or str(secrets.randbelow(10**10))
            headers.update({"X-Lark-Request-Timestamp": stamp, "X-Lark-Request-Nonce": nonce,
                            "X-Lark-Signature": sign(stamp, nonce, self.encrypt_key, body)})
        return {"headers": headers, "body": body}

    def build_request(self, callback_url: str, payload: dict[str, Any],
                      **kwargs: Any) -> dict[str, Any]:
        """Keyword arguments for `httpx.post`: one delivery, replayable byte for byte."""
        sent = self.delivery(payload, **kwargs)
        return {"url": callback_url, "content": sent["body"], "headers": sent["headers"],
                "timeout": 10.0}

    def post(self, callback_url: str, payload: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        response = httpx.post(**self.build_request(callback_url, payload, **kwargs))
        return {"status": response.status_code, "body": response.text,
                "acknowledged": response.status_code == 200 and response.content.strip() in (
                    b'{"msg":"success"}', b'{"msg": "success"}')}

    send = post

    def event_for(self, instance_id: str, action: str = "approved", *,
                  schema: str | None = None) -> dict[str, Any]:
        return self.event(instance_id, STATUS.get(action, action.upper()), schema=schema)

    def fire(self, *, callback_url: str, instance_id: str, action: str = "approved",
             schema: str | None = None) -> dict:
        status = STATUS.get(action, action.upper())
        with self.lock:
            data = self.instances[instance_id]
            data["status"] = status
            data["reverted"] = data["reverted"] or status == "REVERTED"
            if status != "PENDING" and data["end_time"] == "0":
                data["end_time"] = str(int(time.time() * 1000))
        key = (instance_id, status, schema or self.schema)
        with self.lock:  # one transition is one event: firing it again is Feishu's retry
            payload = self.transitions.get(key) or self.event(instance_id, status, schema=schema)
            self.transitions[key] = self.last_payload = payload
        answer = self.post(callback_url, payload)
        header = payload.get("header") or {}
        return {**answer, "event_id": header.get("event_id") or payload.get("uuid")}

    def redeliver(self, callback_url: str) -> dict[str, Any]:
        """Feishu's retry of the last event: same event, new timestamp, nonce and signature."""
        assert self.last_payload is not None, "nothing fired yet"
        return self.post(callback_url, self.last_payload)

    def url_verification(self, callback_url: str, *, challenge: str | None = None,
                         signed: bool = False) -> dict[str, Any]:
        payload = {"challenge": challenge or secrets.token_urlsafe(12),
                   "token": self.verification_token, "type": "url_verification"}
        return {**self.post(callback_url, payload, signed=signed),
                "challenge": payload["challenge"]}
