"""Simulated Weaver e-cology 9 (oa-protocols.md §4), under /weaver:

* POST /api/ec/dev/auth/regist: headers appid (registered in ECOLOGY_BIZ_EC) + cpk → spk/secrit
* POST /api/ec/dev/auth/applytoken: headers appid + secret; the secret must RSA-decrypt (its
  private key) to the secrit it issued → token (TTL = min(time header, `token_ttl`))
* GET /api/workflow/paService/getWorkflowRequest?requestId=: checks appid/token and the
  RSA-encrypted userid header → {"code":"SUCCESS","data":{…workflowMainTableInfo…}}
* GET /weaver/weaver.file.FileDownload?fileid=: the same header checks → the file's bytes
* POST /rest/ofs/ReceiveRequestInfoByJson: unified to-do (OFS), recorded in `notices`

Errors use e-cology's shapes: {"msg","code":-1,"msgShowType":"none","status":false} for the
auth layer, {"code":"PARAM_ERROR","errMsg":{…}} for paService, {"operResult":"0"} for OFS.
`fire()` POSTs what a real e-cology node Action written from our contract
(docs/integration/weaver-action.md) sends, signed Standard-Webhooks style. The signing here is
written out on purpose (not kjda.connectors.signing): the sim is an independent peer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import itertools
import json
import os
import threading
import time
import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kjda_oasim.core import SimRequest, SimResponse, VendorSim

CHINA = ZoneInfo("Asia/Shanghai")
_KEY_LOCK = threading.Lock()
_SERVER_KEY: list[rsa.RSAPrivateKey] = []
KINDS = {"text": ("1", "1"), "number": ("1", "3"), "money": ("1", "5"), "date": ("3", "2"),
         "textarea": ("2", "0"), "attachment": ("6", "1")}
STATUS = {"approved": ("3", "归档", "归档"), "running": ("1", "部门审批", "审批中"),
          "rejected": ("0", "申请", "退回"), "revoked": ("0", "申请", "已撤回")}


def _server_key() -> rsa.RSAPrivateKey:
    with _KEY_LOCK:  # one RSA-2048 key per process keeps the tests fast
        if not _SERVER_KEY:
            _SERVER_KEY.append(rsa.generate_private_key(65537, 2048))
        return _SERVER_KEY[0]


def _ec_error(msg: str) -> SimResponse:
    return SimResponse.of_json({"msg": msg, "code": -1, "msgShowType": "none", "status": False})


def _local(value: str | None) -> str:
    """ISO-8601 (or nothing: now) → e-cology's "yyyy-MM-dd HH:mm:ss" in China time."""
    when = datetime.fromisoformat(value.replace("Z", "+00:00")) if value else datetime.now(CHINA)
    if when.tzinfo is None:
        when = when.replace(tzinfo=CHINA)
    return when.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def _thousands(value: Any) -> str:
    try:
        return f"{Decimal(str(value)):,.2f}"
    except InvalidOperation:
        return str(value)


class WeaverSim(VendorSim):
    name = "weaver"
    prefix = "/weaver"

    def __init__(self) -> None:
        super().__init__()
        self.app_id = str(uuid.uuid4()).upper()  # the row an admin put into ECOLOGY_BIZ_EC
        self.signing_secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
        self.token_ttl = 1800
        self.syscodes = {"KJDA"}  # 统一待办中心 → 异构系统 registered here
        self.attachment_mode = "base64"  # how fire() pushes files: "base64" or "url"
        self.key = _server_key()
        self.registrations: dict[str, dict[str, str]] = {}
        self.tokens: dict[str, tuple[str, float]] = {}
        self.token_requests = 0
        self.cookies_seen = 0
        self.meta: dict[str, dict[str, Any]] = {}
        self.docs: dict[str, str] = {}  # docid → imagefileid
        self._ids = itertools.count(1)

    def routes(self):
        return [("POST", "/api/ec/dev/auth/regist", self._regist),
                ("POST", "/api/ec/dev/auth/applytoken", self._applytoken),
                ("GET", "/api/workflow/paService/getWorkflowRequest", self._get_request),
                ("GET", r"/weaver/weaver\.file\.FileDownload", self._download),
                ("POST", "/rest/ofs/ReceiveRequestInfoByJson", self._ofs)]

    def connector_settings(self) -> dict[str, Any]:
        return {"base_url": self.base_url + self.prefix, "app_id": self.app_id,
                "signing_secret": self.signing_secret, "user_id": "1"}

    def add_file(self, name: str, data: bytes) -> str:
        file_id = str(20000 + next(self._ids))  # imagefileid: an integer in e-cology
        with self.lock:
            self.files[file_id] = (name, data)
        return file_id

    # --- auth ------------------------------------------------------------------------------
    @property
    def spk(self) -> str:
        der = self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
        return base64.b64encode(der).decode()

    def _decrypt(self, text: str) -> str | None:
        try:
            return self.key.decrypt(base64.b64decode(text), padding.PKCS1v15()).decode()
        except ValueError:
            return None

    def _with_cookie(self, resp: SimResponse) -> SimResponse:
        resp.headers["Set-Cookie"] = f"ecology_JSessionid=aaa{uuid.uuid4().hex[:12]}; Path=/"
        return resp

    def _regist(self, req: SimRequest, _m) -> SimResponse:
        appid, cpk = req.headers.get("appid", ""), req.headers.get("cpk", "")
        if appid != self.app_id:
            return _ec_error("许可证号码未注册，请检查 appid")
        try:
            serialization.load_der_public_key(base64.b64decode(cpk))
        except ValueError:
            return _ec_error("cpk 不是合法的 RSA 公钥")
        with self.lock:
            reg = self.registrations.setdefault(appid, {"secrit": str(uuid.uuid4())})
            reg["cpk"] = cpk
        return self._with_cookie(SimResponse.of_json(
            {"msg": "ok", "code": 0, "msgShowType": "none", "status": True,
             "secrit": reg["secrit"], "secret": reg["secrit"], "spk": self.spk}))

    def _applytoken(self, req: SimRequest, _m) -> SimResponse:
        appid = req.headers.get("appid", "")
        reg = self.registrations.get(appid)
        if reg is None:
            return _ec_error("认证信息错误！应用未注册")
        if self._decrypt(req.headers.get("secret", "")) != reg["secrit"]:
            return _ec_error("secret解密失败,请检查加密内容.")
        asked = req.headers.get("time", "")
        ttl = min(int(asked), self.token_ttl) if asked.isdigit() else self.token_ttl
        token = str(uuid.uuid4())
        with self.lock:
            self.tokens[token] = (appid, time.time() + ttl)
            self.token_requests += 1
        return SimResponse.of_json({"msg": "获取成功!", "code": 0, "msgShowType": "none",
                                    "status": True, "token": token})

    def _auth(self, req: SimRequest) -> SimResponse | None:
        if req.headers.get("cookie"):
            self.cookies_seen += 1
        token = req.headers.get("token", "")
        appid, expires = self.tokens.get(token, ("", 0.0))
        if not token or expires < time.time() or appid != req.headers.get("appid"):
            return _ec_error(f"token不存在或者超时：{token}")
        user = self._decrypt(req.headers.get("userid", ""))
        if not user or not user.isdigit():
            return _ec_error("userid解密失败,请检查加密内容.")
        return None

    # --- API -------------------------------------------------------------------------------
    def _get_request(self, req: SimRequest, _m) -> SimResponse:
        if denied := self._auth(req):
            return denied
        data = self.instances.get(req.query.get("requestId", ""))
        if data is None:
            return SimResponse.of_json({"code": "PARAM_ERROR", "data": None,
                                        "errMsg": {"requestId": "流程请求不存在或无权查看"}})
        return SimResponse.of_json({"code": "SUCCESS", "data": data, "errMsg": {}})

    def _download(self, req: SimRequest, _m) -> SimResponse:
        if denied := self._auth(req):
            return denied
        entry = self.files.get(req.query.get("fileid", ""))
        if entry is None:
            return SimResponse(404, "文件不存在".encode(), "text/html; charset=utf-8")
        name, data = entry
        return SimResponse(200, data, "application/octet-stream", headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})

    def _ofs(self, req: SimRequest, _m) -> SimResponse:
        try:
            body = req.json()
        except ValueError:
            return SimResponse.of_json({"operResult": "0", "message": "JSON 格式错误"})
        if body.get("syscode") not in self.syscodes:
            return SimResponse.of_json({"operResult": "0",
                                        "message": f"异构系统标识【{body.get('syscode')}】未注册"})
        missing = [k for k in ("flowid", "requestname", "receiver", "isremark", "pcurl")
                   if not body.get(k)]
        if missing:
            return SimResponse.of_json({"operResult": "0", "message": f"缺少参数：{missing}"})
        with self.lock:
            self.notices.append(body)
        return SimResponse.of_json({"operType": "AutoNew", "operResult": "1",
                                    "message": "操作成功"})

    # --- instances in e-cology's shapes ----------------------------------------------------
    def _file_links(self, files: list[dict[str, Any]]) -> tuple[list[str], list[str], str]:
        doc_ids, names, links = [], [], []
        for f in files:
            image_id = self.add_file(f["name"], base64.b64decode(f.get("content_b64", "")))
            doc_id = str(5000 + next(self._ids))
            self.docs[doc_id] = image_id
            doc_ids.append(doc_id)
            names.append(f["name"])
            links.append(f'<a href="/weaver/weaver.file.FileDownload?fileid={image_id}'
                         f'&amp;download=1" target="_blank">{html.escape(f["name"])}</a>')
        return doc_ids, names, "<br>".join(links)

    def _field(self, item: dict[str, Any], field_name: str) -> dict[str, Any]:
        kind = item.get("kind", "text")
        html_type, type_ = KINDS.get(kind, ("1", "1"))
        value = show = str(item.get("value", ""))
        out: dict[str, Any] = {"fieldId": str(next(self._ids)), "fieldName": field_name,
                               "fieldShowName": item["name"], "fieldHtmlType": html_type,
                               "fieldType": type_, "view": True, "edit": False, "mand": False}
        if kind == "money":
            show = _thousands(value)
        if kind == "attachment":
            doc_ids, names, links = self._file_links(item.get("files", []))
            value, show = ",".join(doc_ids), ",".join(names)
            out["filedHtmlShow"] = links
        return {**out, "fieldValue": value, "fieldShowValue": show}

    def _table(self, item: dict[str, Any], db_name: str) -> dict[str, Any]:
        columns: dict[str, str] = {}
        records = []
        for order, row in enumerate(item.get("rows", []), start=1):
            cells = [self._field(c, columns.setdefault(c["name"], f"mx{len(columns) + 1}"))
                     for c in row]
            records.append({"recordOrder": order, "workflowRequestTableFields": cells})
        return {"tableDBName": db_name, "tableTitle": item["name"],
                "workflowRequestTableRecords": records}

    def _log(self, entry: dict[str, Any], node: tuple[str, str]) -> dict[str, Any]:
        result, action = entry.get("result", "agree"), entry.get("action", "")
        if result == "refuse":
            log_type, text = "3", "退回"
        elif action in ("发起", "提交"):
            log_type, text = "2", "提交"
        elif action == "抄送":
            log_type, text = "t", "抄送"
        else:
            log_type, text = ("0", "批准") if result == "agree" else ("9", "批注")
        when = _local(entry.get("time"))
        actor = entry.get("actor", {})
        doc_ids, _names, links = self._file_links(entry.get("files", []))
        return {"id": str(next(self._ids)), "nodeId": node[0], "nodeName": node[1],
                "operateDate": when[:10], "operateTime": when[11:], "logType": log_type,
                "operateType": text, "operatorId": actor.get("id", ""),
                "operatorName": actor.get("name", ""), "operatorDept": "",
                "remark": f"<p>{html.escape(entry.get('remark', ''))}</p>",
                "annexDocIds": ",".join(doc_ids), "annexDocHtmls": links}

    def create_instance(self, spec: dict[str, Any]) -> str:
        request_id = str(spec.get("instance_id") or 100000 + next(self._ids))
        form_id = 10 + next(self._ids)
        main, details = [], []
        for n, item in enumerate(spec.get("form", []), start=1):
            if item.get("kind") == "table":
                details.append(self._table(item, f"formtable_main_{form_id}_dt{len(details) + 1}"))
            else:
                main.append(self._field(item, str(item.get("id") or f"zd{n}")))
        node_type, node_name, status = STATUS[spec.get("status", "approved")]
        originator = spec.get("originator", {})
        nodes = [(str(3000 + i), name) for i, name in enumerate(("申请", "部门审批", "归档"))]
        logs = [self._log(e, nodes[min(i, 1)]) for i, e in enumerate(spec.get("trail", []))]
        finish = _local(spec.get("finish_time"))
        data = {
            "requestId": request_id, "requestName": spec.get("title", ""), "requestLevel": "0",
            "workflowBaseInfo": {"workflowId": spec.get("process_code", "PROC"),
                                 "workflowName": spec.get("process_name", spec.get("title", "")),
                                 "workflowTypeId": "1", "workflowTypeName": "财务类"},
            "creatorId": originator.get("id", ""), "creatorName": originator.get("name", ""),
            "creatorDepartmentName": originator.get("department", ""),
            "createTime": _local(spec.get("create_time")),
            "currentNodeId": dict((n, i) for i, n in nodes)[node_name],
            "currentNodeName": node_name, "currentNodeType": node_type, "status": status,
            "lastOperateTime": finish,
            "lastOperatorName": logs[-1]["operatorName"] if logs else "",
            "canView": True, "canEdit": False,
            "workflowMainTableInfo": {"tableDBName": f"formtable_main_{form_id}",
                                      "requestRecords": [{"recordOrder": 0,
                                                          "workflowRequestTableFields": main}]},
            "workflowDetailTableInfos": details, "workflowRequestLogs": logs}
        with self.lock:
            self.instances[request_id] = data
            self.meta[request_id] = {"nodes": nodes, "loginid": originator.get("id", "")}
        return request_id

    # --- the Action push -------------------------------------------------------------------
    def _push_file(self, doc_id: str, field: str) -> dict[str, Any]:
        image_id = self.docs[doc_id]
        name, data = self.files[image_id]
        item = {"docId": doc_id, "imageFileId": image_id, "fileName": name, "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(), "field": field}
        if self.attachment_mode == "url":
            item["url"] = f"/weaver/weaver.file.FileDownload?fileid={image_id}"
        else:
            item["contentBase64"] = base64.b64encode(data).decode()
        return item

    def action_payload(self, instance_id: str, action: str = "approved") -> dict[str, Any]:
        data, meta = self.instances[instance_id], self.meta[instance_id]
        nodes = meta["nodes"]
        out: dict[str, Any] = {
            "source": "ecology", "requestId": data["requestId"],
            "workflowId": data["workflowBaseInfo"]["workflowId"],
            "requestName": data["requestName"],
            "creator": {"id": data["creatorId"], "loginid": meta["loginid"], "workcode": "",
                        "lastname": data["creatorName"],
                        "departmentName": data["creatorDepartmentName"]}}
        if action == "revoked":
            return {**out, "nodeId": nodes[2][0], "nodeType": "3", "src": "revoke",
                    "action": "revoke", "reason": "流程已被管理员强制收回"}
        src = {"approved": "submit", "rejected": "reject"}.get(action, action)
        out.update({"nodeId": nodes[1][0], "nodeType": "1",
                    "nextNodeType": "3" if src == "submit" else "0", "src": src,
                    "createTime": data["createTime"], "finishTime": data["lastOperateTime"]})
        fields = data["workflowMainTableInfo"]["requestRecords"][0]["workflowRequestTableFields"]
        tables = data["workflowDetailTableInfos"]
        every = fields + [f for t in tables for r in t["workflowRequestTableRecords"]
                          for f in r["workflowRequestTableFields"]]
        out["main"] = {f["fieldName"]: f["fieldValue"] for f in fields}
        out["fieldInfo"] = {f["fieldName"]: {"label": f["fieldShowName"],
                                             "htmlType": f["fieldHtmlType"],
                                             "type": f["fieldType"]} for f in every}
        out["details"] = [{"tableDBName": t["tableDBName"], "title": t["tableTitle"],
                           "rows": [{f["fieldName"]: f["fieldValue"]
                                     for f in r["workflowRequestTableFields"]}
                                    for r in t["workflowRequestTableRecords"]]} for t in tables]
        out["attachments"] = [self._push_file(d, f["fieldName"]) for f in every
                              if f["fieldHtmlType"] == "6"
                              for d in f["fieldValue"].split(",") if d]
        out["attachments"] += [self._push_file(d, "") for log in data["workflowRequestLogs"]
                               for d in log["annexDocIds"].split(",") if d]
        out["logs"] = data["workflowRequestLogs"]
        return out

    def sign(self, body: bytes, *, msg_id: str | None = None,
             timestamp: int | None = None) -> dict[str, str]:
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        timestamp = int(time.time()) if timestamp is None else timestamp
        key = base64.b64decode(self.signing_secret.removeprefix("whsec_"))
        digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
        return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
                "webhook-signature": "v1," + base64.b64encode(digest).decode()}

    def fire(self, *, callback_url: str, instance_id: str, action: str = "approved") -> dict:
        body = json.dumps(self.action_payload(instance_id, action), ensure_ascii=False).encode()
        headers = {"content-type": "application/json; charset=utf-8", **self.sign(body)}
        response = httpx.post(callback_url, content=body, headers=headers, timeout=10)
        return {"status": response.status_code, "body": response.text}
