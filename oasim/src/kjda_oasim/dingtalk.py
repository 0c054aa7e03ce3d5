"""Simulated DingTalk (钉钉), written from oa-protocols.md §1: the API subset KJDA calls, under
`/dingtalk/api` (api.dingtalk.com) and `/dingtalk/oapi` (oapi.dingtalk.com), short-lived
attachment download URLs under `/dingtalk/files/`, and encrypted, signed callbacks fired the way
DingTalk sends them (13-digit ms timestamps, `signature`/`timestamp`/`nonce` query parameters;
optionally the legacy `msg_signature`/`timeStamp`, or the official Python sample's seconds and
76-column base64).

Instances are stored in DingTalk's own shapes (GetProcessInstance `result`): the
formComponentValues with JSON-string DDAttachment/TableField values, operationRecords with
comment attachments, tasks. Revoking an approved instance creates a REVOKE instance attached to
it, as DingTalk does, and fires that instance's finish/agree event.
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx

from kjda.connectors.wxcrypto import WXBizMsgCrypt, signature
from kjda_oasim.core import VendorSim
from kjda_oasim.dingtalk_api import DingTalkApiSim, epoch_ms, rand_text
from kjda_oasim.sso import DingTalkLoginSim

KIND_TYPES = {"text": "TextField", "textarea": "TextareaField", "number": "NumberField",
              "money": "MoneyField", "date": "DDDateField", "attachment": "DDAttachment",
              "table": "TableField", "select": "DDSelectField"}
ACTION_TYPES = {"发起": "START_PROCESS_INSTANCE", "审批": "EXECUTE_TASK_NORMAL",
                "抄送": "PROCESS_CC", "评论": "ADD_REMARK", "转交": "REDIRECT_TASK"}
CST = timezone(timedelta(hours=8))
STATUSES = {"approved": ("COMPLETED", "agree"), "rejected": ("COMPLETED", "refuse"),
            "running": ("RUNNING", ""), "revoked": ("TERMINATED", "")}


def _fmt(moment: datetime | None) -> str:
    """DingTalk's GetProcessInstance time format: ISO-8601 UTC to the minute."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ") if moment else ""


def _when(value: Any, default: datetime | None) -> datetime | None:
    if not value:
        return default
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=CST)  # naive = Beijing time


class DingTalkSim(DingTalkApiSim, DingTalkLoginSim, VendorSim):
    name = "dingtalk"
    prefix = "/dingtalk"

    def __init__(self) -> None:
        super().__init__()
        self._login_init()
        self.corp_id = "ding" + rand_text(16, "0123456789abcdef")
        self.app_key = "ding" + rand_text(16).lower()
        self.app_secret = rand_text(64)
        self.agent_id = str(secrets.randbelow(9 * 10**8) + 10**9)
        self.token = rand_text(24)
        self.aes_key = rand_text(43)
        self.owner_key = self.app_key  # event subscription: encrypted for the appKey
        self.space_id = str(secrets.randbelow(9 * 10**8) + 10**8)
        self.token_ttl = 7200
        self.download_ttl = 300.0
        self.tokens: dict[str, float] = {}  # access token → expiry (time.time)
        self.token_requests = 0
        self.users: dict[str, dict[str, Any]] = {}
        self.tickets: dict[str, tuple[str, float]] = {}  # download ticket → (file id, expiry)
        self.todos: dict[tuple[str, str], dict[str, Any]] = {}
        self.fired: list[dict[str, Any]] = []
        self.templates: dict[str, dict[str, Any]] = {}  # processCode → {name, labels}

    @property
    def crypt(self) -> WXBizMsgCrypt:
        return WXBizMsgCrypt(token=self.token, encoding_aes_key=self.aes_key,
                             owner_id=self.owner_key)

    def connector_settings(self) -> dict[str, Any]:
        root = self.base_url + self.prefix
        return {"app_key": self.app_key, "app_secret": self.app_secret,
                "agent_id": self.agent_id, "token": self.token, "aes_key": self.aes_key,
                "owner_key": self.owner_key, "api_base_url": root + "/api",
                "oapi_base_url": root + "/oapi"}

    def routes(self):
        return [
            *self.sso_routes(),
            ("POST", r"/api/v1\.0/oauth2/accessToken", self._access_token),
            ("GET", r"/oapi/gettoken", self._gettoken),
            ("GET", r"/api/v1\.0/workflow/processInstances", self._get_instance),
            ("POST", r"/api/v1\.0/workflow/processInstances", self._create_process_instance),
            ("POST", r"/api/v1\.0/workflow/processInstances/spaces/files/urls/download",
             self._grant_download),
            ("GET", r"/files/(?P<ticket>[A-Za-z0-9_\-]+)", self._serve_file),
            ("POST", r"/api/v1\.0/workflow/processes/instanceIds/query", self._list_ids),
            ("POST", r"/oapi/topapi/message/corpconversation/asyncsend_v2", self._work_notice),
            ("POST", r"/oapi/topapi/v2/user/get", self._user_get),
            ("POST", r"/api/v1\.0/todo/users/(?P<union>[^/]+)/tasks", self._create_todo),
        ]

    # --- instances -------------------------------------------------------------------------
    def add_file(self, name: str, data: bytes) -> str:
        file_id = str(secrets.randbelow(9 * 10**10) + 10**10)  # DingTalk fileIds are numeric
        with self.lock:
            self.files[file_id] = (name, data)
        return file_id

    def add_user(self, user: dict[str, Any]) -> str:
        uid = str(user.get("id") or "user" + rand_text(6).lower())
        with self.lock:
            known = self.users.setdefault(uid, {
                "userid": uid, "unionid": rand_text(26), "name": user.get("name") or uid,
                "dept_id_list": [secrets.randbelow(9 * 10**8) + 10**8]})
            if user.get("name"):
                known["name"] = user["name"]
            if user.get("department"):
                known["department"] = user["department"]
        return uid

    def _file_meta(self, spec: dict[str, Any], files: dict[str, bool], *, comment: bool) -> dict:
        data = spec.get("content")
        if data is None:
            data = base64.b64decode(spec.get("content_b64", ""))
        elif isinstance(data, str):
            data = data.encode()
        name = str(spec.get("name") or "file.bin")
        file_id = self.add_file(name, data)
        files[file_id] = comment
        return {"spaceId": self.space_id, "fileName": name, "fileSize": len(data),
                "fileType": name.rsplit(".", 1)[-1].lower() if "." in name else "",
                "fileId": file_id}

    def _value(self, spec: dict[str, Any], files: dict[str, bool]) -> tuple[str, str]:
        kind = spec.get("kind", "text")
        ctype = KIND_TYPES.get(kind, "TextField")
        if kind == "attachment":
            metas = [self._file_meta(f, files, comment=False) for f in spec.get("files", [])]
            return ctype, json.dumps(metas, ensure_ascii=False)
        if kind == "table":
            rows = []
            for n, row in enumerate(spec.get("rows", []), 1):
                cells = []
                for cell in row:
                    cell_type, value = self._value(cell, files)
                    cells.append({"componentType": cell_type, "label": cell["name"],
                                  "value": value, "key": f"{cell_type}-{rand_text(8).upper()}",
                                  "extendValue": ""})
                rows.append({"rowValue": cells, "rowNumber": f"TableField_{n}"})
            return ctype, json.dumps(rows, ensure_ascii=False)
        return ctype, str(spec.get("value", ""))

    def _component(self, spec: dict[str, Any], files: dict[str, bool]) -> dict[str, Any]:
        ctype, value = self._value(spec, files)
        comp = {"id": f"{ctype}-{rand_text(8).upper()}", "name": spec["name"], "value": value,
                "componentType": ctype, "bizAlias": spec.get("alias", "")}
        if ctype == "MoneyField":
            comp["extValue"] = json.dumps({"componentName": "MoneyField"})
        return comp

    def _records(self, pid: str, originator: str, created: datetime, finished: datetime | None,
                 trail: list[dict], files: dict[str, bool]) -> tuple[list[dict], list[dict]]:
        records: list[dict] = []
        tasks: list[dict] = []
        if not trail or trail[0].get("action") != "发起":
            records.append({"userId": originator, "date": _fmt(created),
                            "type": "START_PROCESS_INSTANCE", "result": "NONE", "remark": "",
                            "showName": "发起人", "images": [], "ccUserIds": [],
                            "attachments": []})
        end = finished or datetime.now(UTC)
        for n, step in enumerate(trail, 1):
            actor = self.add_user(step.get("actor") or {})
            at = _when(step.get("time"), created + (end - created) * n / (len(trail) + 1))
            kind = ACTION_TYPES.get(step.get("action", "审批"), "EXECUTE_TASK_NORMAL")
            result = {"agree": "AGREE", "refuse": "REFUSE"}.get(step.get("result", ""), "NONE")
            records.append({
                "userId": actor, "date": _fmt(at), "type": kind, "result": result,
                "remark": step.get("remark", ""), "showName": step.get("node", "审批人"),
                "activityId": f"act_{n}", "images": [], "ccUserIds": [],
                "attachments": [self._file_meta(f, files, comment=True)
                                for f in step.get("files", [])]})
            if kind.startswith("EXECUTE_TASK"):
                tasks.append({"taskId": secrets.randbelow(9 * 10**10) + 10**10, "userId": actor,
                              "status": "COMPLETED", "result": result, "activityId": f"act_{n}",
                              "createTime": _fmt(created), "finishTime": _fmt(at),
                              "processInstanceId": pid,
                              "pcUrl": f"https://aflow.dingtalk.com/dingtalk/pc/query/pchomepage.htm?procInsId={pid}",
                              "mobileUrl": f"https://aflow.dingtalk.com/dingtalk/mobile/homepage.htm?procInsId={pid}"})
        return records, tasks

    def create_instance(self, spec: dict[str, Any]) -> str:
        pid = spec.get("instance_id") or rand_text(22) + str(int(time.time() * 1000)).rjust(14, "0")
        now = datetime.now(UTC)
        created = _when(spec.get("create_time"), now - timedelta(hours=1))
        status, result = STATUSES[spec.get("status", "approved")]
        finished = _when(spec.get("finish_time"), now) if status != "RUNNING" else None
        originator = spec.get("originator") or {"id": "zhangsan", "name": "张三",
                                                "department": "财务部"}
        uid = self.add_user(originator)
        files: dict[str, bool] = {}
        form = [self._component(f, files) for f in spec.get("form", [])]
        records, tasks = self._records(pid, uid, created, finished, spec.get("trail", []), files)
        raw = {
            "title": spec.get("title", ""), "processCode": spec.get("process_code", ""),
            "createTime": _fmt(created), "finishTime": _fmt(finished),
            "originatorUserId": uid,
            "originatorDeptId": str(self.users[uid]["dept_id_list"][0]),
            "originatorDeptName": originator.get("department", ""),
            "status": status, "result": result,
            "businessId": created.strftime("%Y%m%d%H%M") + str(secrets.randbelow(10**6)).zfill(6),
            "bizAction": "NONE", "bizData": "",
            "approverUserIds": sorted({t["userId"] for t in tasks}), "ccUserIds": [],
            "attachedProcessInstanceIds": [], "mainProcessInstanceId": "",
            "formComponentValues": form, "operationRecords": records, "tasks": tasks}
        with self.lock:
            self.instances[pid] = {"result": raw, "create_ms": epoch_ms(created),
                                   "finish_ms": epoch_ms(finished), "files": files}
        return pid

    def add_template(self, code: str, name: str, labels: list[str]) -> str:
        with self.lock:
            self.templates[code] = {"name": name, "labels": list(labels)}
        return code

    def start_instance(self, code: str, originator: str, values: list[dict[str, Any]]) -> str:
        """A RUNNING instance created through the API, its form as submitted."""
        now = datetime.now(UTC)
        pid = rand_text(22) + str(epoch_ms(now)).rjust(14, "0")
        user = self.users[originator]
        form = [{"id": f"TextField-{rand_text(8).upper()}", "name": str(v["name"]),
                 "value": str(v.get("value") or ""), "componentType": "TextField",
                 "bizAlias": ""} for v in values]
        raw = {
            "title": f"{user['name']}提交的{self.templates[code]['name']}", "processCode": code,
            "createTime": _fmt(now), "finishTime": "", "originatorUserId": originator,
            "originatorDeptId": str(user["dept_id_list"][0]),
            "originatorDeptName": user.get("department", ""), "status": "RUNNING",
            "result": "", "businessId": now.strftime("%Y%m%d%H%M") + str(
                secrets.randbelow(10**6)).zfill(6),
            "bizAction": "NONE", "bizData": "", "approverUserIds": [], "ccUserIds": [],
            "attachedProcessInstanceIds": [], "mainProcessInstanceId": "",
            "formComponentValues": form, "operationRecords": [
                {"userId": originator, "date": _fmt(now), "type": "START_PROCESS_INSTANCE",
                 "result": "NONE", "remark": "", "showName": "发起人", "images": [],
                 "ccUserIds": [], "attachments": []}], "tasks": []}
        with self.lock:
            self.instances[pid] = {"result": raw, "create_ms": epoch_ms(now), "finish_ms": None,
                                   "files": {}}
        return pid

    def instance_decide(self, instance_id: str, *, approved: bool, approver: dict[str, Any],
                        comment: str = "", callback_url: str = "") -> dict | None:
        uid = self.add_user(approver)
        now = datetime.now(UTC)
        result = "AGREE" if approved else "REFUSE"
        with self.lock:
            raw = self.instances[instance_id]["result"]
            raw["operationRecords"].append({
                "userId": uid, "date": _fmt(now), "type": "EXECUTE_TASK_NORMAL",
                "result": result, "remark": comment, "showName": "审批人", "activityId": "act_1",
                "images": [], "ccUserIds": [], "attachments": []})
            raw["tasks"].append({
                "taskId": secrets.randbelow(9 * 10**10) + 10**10, "userId": uid,
                "status": "COMPLETED", "result": result, "activityId": "act_1",
                "createTime": raw["createTime"], "finishTime": _fmt(now),
                "processInstanceId": instance_id})
            raw["approverUserIds"] = sorted({*raw["approverUserIds"], uid})
        action = "approved" if approved else "rejected"
        if callback_url:
            return self.fire(callback_url=callback_url, instance_id=instance_id, action=action)
        self._finish(instance_id, "COMPLETED", "agree" if approved else "refuse")
        return None

    def _revoke(self, pid: str, reason: str) -> str:
        """Revoking an approved instance: a new REVOKE instance attached to it, agreed."""
        with self.lock:
            main = self.instances[pid]
            for other in main["result"]["attachedProcessInstanceIds"]:
                if self.instances[other]["result"]["bizAction"] == "REVOKE":
                    return other
            now = datetime.now(UTC)
            rid = rand_text(22) + str(epoch_ms(now)).rjust(14, "0")
            raw = copy.deepcopy(main["result"])
            originator = raw["originatorUserId"]
            approver = (raw["approverUserIds"] or [originator])[0]
            raw.update(title=f"{raw['title']}（撤销）", bizAction="REVOKE",
                       mainProcessInstanceId=pid, status="COMPLETED", result="agree",
                       createTime=_fmt(now - timedelta(minutes=1)), finishTime=_fmt(now),
                       tasks=[], operationRecords=[
                           {"userId": originator, "date": _fmt(now - timedelta(minutes=1)),
                            "type": "START_PROCESS_INSTANCE", "result": "NONE",
                            "remark": reason, "showName": "发起人", "attachments": []},
                           {"userId": approver, "date": _fmt(now), "type": "EXECUTE_TASK_NORMAL",
                            "result": "AGREE", "remark": "同意撤销", "showName": "审批人",
                            "attachments": []}])
            self.instances[rid] = {"result": raw, "create_ms": epoch_ms(now) - 60000,
                                   "finish_ms": epoch_ms(now), "files": dict(main["files"])}
            main["result"]["attachedProcessInstanceIds"].append(rid)
        return rid

    def _finish(self, pid: str, status: str, result: str) -> None:
        with self.lock:
            inst = self.instances[pid]
            if inst["result"]["status"] == status and inst["result"]["result"] == result:
                return  # already there: keep its finishTime, so redeliveries stay identical
            now = datetime.now(UTC)
            inst["result"].update(status=status, result=result, finishTime=_fmt(now))
            inst["finish_ms"] = epoch_ms(now)

    # --- callbacks -------------------------------------------------------------------------
    def event_for(self, instance_id: str, action: str = "approved", *,
                  reason: str = "审批通过后发现金额有误，申请撤销") -> dict[str, Any]:
        """The decrypted payload DingTalk sends for `action` on the instance."""
        if action == "revoked":
            instance_id, action = self._revoke(instance_id, reason), "approved"
        typ, result = {"approved": ("finish", "agree"), "rejected": ("finish", "refuse"),
                       "terminated": ("terminate", ""), "started": ("start", ""),
                       "task": ("finish", "agree")}[action]
        if action in ("approved", "rejected"):
            self._finish(instance_id, "COMPLETED", result)
        elif action == "terminated":
            self._finish(instance_id, "TERMINATED", "")
        inst = self.instances[instance_id]
        raw = inst["result"]
        payload: dict[str, Any] = {
            "EventType": "bpms_task_change" if action == "task" else "bpms_instance_change",
            "processInstanceId": instance_id, "corpId": self.corp_id,
            "createTime": inst["create_ms"], "title": raw["title"], "type": typ,
            "staffId": raw["originatorUserId"], "processCode": raw["processCode"],
            "url": "https://aflow.dingtalk.com/dingtalk/mobile/homepage.htm?corpid="
                   f"{self.corp_id}&dd_share=false&showmenu=true&back=native&procInstId={instance_id}",
            "bizCategoryId": "", "businessId": raw["businessId"]}
        if typ != "start":
            payload["finishTime"] = inst["finish_ms"] or epoch_ms(datetime.now(UTC))
        if result:
            payload["result"] = result
        if action == "task" and raw["tasks"]:
            payload.update(staffId=raw["tasks"][-1]["userId"], taskId=raw["tasks"][-1]["taskId"])
        return payload

    def fire(self, *, callback_url: str, instance_id: str, action: str = "approved",
             **opts: Any) -> dict:
        reason = opts.pop("reason", "审批通过后发现金额有误，申请撤销")
        return self.send(callback_url, self.event_for(instance_id, action, reason=reason), **opts)

    def fire_check_url(self, callback_url: str, **opts: Any) -> dict:
        return self.send(callback_url, {"EventType": "check_url"}, **opts)

    def send(self, callback_url: str, payload: dict[str, Any], *, legacy_names: bool = False,
             seconds: bool = False, python_sample: bool = False, timestamp: str | None = None,
             nonce: str | None = None) -> dict:
        """Encrypt, sign and POST one callback as DingTalk does; check the encrypted reply."""
        plain = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        ts = timestamp or str(int(time.time() * (1 if seconds or python_sample else 1000)))
        nonce = nonce or rand_text(16)
        encrypt = self.crypt.encrypt(plain)
        if python_sample:  # DingCallbackCrypto3.py: base64.encodebytes, newline every 76 chars
            encrypt = base64.encodebytes(base64.b64decode(encrypt)).decode()
        names = ("msg_signature", "timeStamp") if legacy_names else ("signature", "timestamp")
        params = {names[0]: signature(self.token, ts, nonce, encrypt), names[1]: ts,
                  "nonce": nonce}
        resp = httpx.post(callback_url, params=params, timeout=10.0,
                          content=json.dumps({"encrypt": encrypt}),
                          headers={"Content-Type": "application/json; charset=utf-8"})
        with self.lock:
            self.fired.append(payload)
        return {"status": resp.status_code, "body": resp.text,
                "acknowledged": self.acknowledged(resp.content)}

    def acknowledged(self, body: bytes) -> bool:
        """Whether a reply is the encrypted `success` DingTalk requires."""
        try:
            reply = json.loads(body)
            return self.crypt.verify_and_decrypt(reply["msg_signature"], reply["timeStamp"],
                                                 reply["nonce"], reply["encrypt"]) == b"success"
        except Exception:  # noqa: BLE001 - anything else is simply not an acknowledgement
            return False
