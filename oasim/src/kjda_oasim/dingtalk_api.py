"""The API side of the simulated DingTalk: access tokens for api.dingtalk.com and oapi.dingtalk.com,
instance detail, download grants and the short-lived file URLs, the instance-id query, work
notices, user look-ups and to-dos, each answering in DingTalk's own shapes and error codes."""

from __future__ import annotations

import json
import secrets
import string
import time
from datetime import UTC, datetime
from typing import Any

from kjda_oasim.core import SimRequest, SimResponse

ALNUM = string.ascii_letters + string.digits


def rand_text(n: int, alphabet: str = ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def epoch_ms(moment: datetime | None) -> int | None:
    return int(moment.timestamp() * 1000) if moment else None


def _api_error(code: str, message: str, status: int = 400) -> SimResponse:
    return SimResponse.of_json({"code": code, "message": message, "requestid": rand_text(32)}, status)


def _oapi_error(errcode: int, errmsg: str) -> SimResponse:
    return SimResponse.of_json({"errcode": errcode, "errmsg": errmsg, "request_id": rand_text(12)})


class DingTalkApiSim:
    """The API handlers of `DingTalkSim`, over its instances, files, users and token state."""

    def _issue(self) -> str:
        token = rand_text(32, "0123456789abcdef")
        with self.lock:
            self.tokens[token] = time.time() + self.token_ttl
            self.token_requests += 1
        return token

    def _token_state(self, token: str) -> str:
        expiry = self.tokens.get(token)
        return "missing" if not token else "unknown" if expiry is None else \
            "expired" if expiry <= time.time() else "ok"

    def _api_auth(self, req: SimRequest) -> SimResponse | None:
        if self._token_state(req.headers.get("x-acs-dingtalk-access-token", "")) != "ok":
            return _api_error("InvalidAuthentication", "不合法的access_token")
        return None

    def _oapi_auth(self, req: SimRequest) -> SimResponse | None:
        state = self._token_state(req.query.get("access_token", ""))
        return None if state == "ok" else _oapi_error(
            *{"missing": (41001, "缺少参数 access_token"), "expired": (42001, "access_token超时"),
              "unknown": (40014, "不合法的access_token")}[state])

    def _access_token(self, req: SimRequest, _m) -> SimResponse:
        body = req.json()
        if body.get("appKey") != self.app_key or body.get("appSecret") != self.app_secret:
            return _api_error("invalidClientIdOrSecret", "无效的clientId或者clientSecret")
        return SimResponse.of_json({"accessToken": self._issue(), "expireIn": self.token_ttl})

    def _gettoken(self, req: SimRequest, _m) -> SimResponse:
        if req.query.get("appkey") != self.app_key or \
                req.query.get("appsecret") != self.app_secret:
            return _oapi_error(40089, "不合法的appKey或appSecret")
        return SimResponse.of_json({"errcode": 0, "errmsg": "ok", "access_token": self._issue(),
                                    "expires_in": self.token_ttl})

    def _get_instance(self, req: SimRequest, _m) -> SimResponse:
        if denied := self._api_auth(req):
            return denied
        inst = self.instances.get(req.query.get("processInstanceId", ""))
        if inst is None:
            return _api_error("InvalidParameter.ProcessInstanceId", "审批实例不存在")
        with self.lock:
            return SimResponse.of_json({"success": True, "result": inst["result"]})

    def _create_process_instance(self, req: SimRequest, _m) -> SimResponse:
        """发起审批实例: originatorUserId, processCode and formComponentValues [{name, value}]
        are required; the template's own flow applies. Answers `{"instanceId": …}`."""
        if denied := self._api_auth(req):
            return denied
        body = req.json()
        code, originator = str(body.get("processCode") or ""), str(body.get("originatorUserId") or "")
        values = body.get("formComponentValues")
        if not code or not originator or not isinstance(values, list) or not values:
            return _api_error("MissingParameter", "originatorUserId、processCode、"
                              "formComponentValues 必填")
        template = self.templates.get(code)
        if template is None:
            return _api_error("InvalidParameter.ProcessCode", "processCode 不存在")
        if originator not in self.users:
            return _api_error("InvalidParameter.OriginatorUserId", "发起人不存在")
        known = set(template["labels"])
        for value in values:
            if not isinstance(value, dict) or value.get("name") not in known:
                name = value.get("name") if isinstance(value, dict) else value
                return _api_error("InvalidParameter.FormComponentValues",
                                  f"表单控件「{name}」不存在")
        return SimResponse.of_json({"instanceId": self.start_instance(code, originator, values)})

    def _grant_download(self, req: SimRequest, _m) -> SimResponse:
        if denied := self._api_auth(req):
            return denied
        body = req.json()
        inst = self.instances.get(body.get("processInstanceId", ""))
        file_id = str(body.get("fileId", ""))
        if inst is None or file_id not in inst["files"] or \
                (inst["files"][file_id] and body.get("withCommentAttatchment") is not True):
            return _api_error("Forbidden.AccessDenied.NoPermission", "无权限下载该附件", 403)
        ticket = secrets.token_urlsafe(24)
        with self.lock:
            self.tickets[ticket] = (file_id, time.time() + self.download_ttl)
        return SimResponse.of_json({"success": True, "result": {
            "downloadUri": f"{self.base_url}{self.prefix}/files/{ticket}", "fileId": file_id,
            "spaceId": int(self.space_id)}})

    def _serve_file(self, _req: SimRequest, m) -> SimResponse:
        file_id, expiry = self.tickets.get(m["ticket"], ("", 0.0))
        if not file_id or expiry <= time.time():
            return SimResponse(403, b"<Error><Code>AccessDenied</Code>"
                                    b"<Message>Request has expired.</Message></Error>",
                               "application/xml")
        name, data = self.files[file_id]
        return SimResponse(200, data, "application/octet-stream")

    def _list_ids(self, req: SimRequest, _m) -> SimResponse:
        if denied := self._api_auth(req):
            return denied
        body = req.json()
        start, end = body.get("startTime"), body.get("endTime") or epoch_ms(datetime.now(UTC))
        size = int(body.get("maxResults") or 20)
        if not body.get("processCode") or not isinstance(start, int) or size > 20 or \
                end - start > 120 * 86400 * 1000:
            return _api_error("InvalidParameter", "processCode/startTime 必填，"
                              "时间跨度不超过 120 天，maxResults 不超过 20")
        statuses = body.get("statuses") or []
        with self.lock:
            hits = sorted((i["create_ms"], pid) for pid, i in self.instances.items()
                          if i["result"]["processCode"] == body["processCode"]
                          and start <= i["create_ms"] <= end
                          and (not statuses or i["result"]["status"] in statuses))
        offset = int(body.get("nextToken") or 0)
        page = [pid for _, pid in hits[offset:offset + size]]
        result: dict[str, Any] = {"list": page}
        if offset + size < len(hits):
            result["nextToken"] = str(offset + size)
        return SimResponse.of_json({"success": True, "result": result})

    def _work_notice(self, req: SimRequest, _m) -> SimResponse:
        if denied := self._oapi_auth(req):
            return denied
        body = req.json()
        msg = body.get("msg")
        msg = json.loads(msg) if isinstance(msg, str) else msg
        if str(body.get("agent_id")) != self.agent_id:
            return _oapi_error(33012, "无效的AgentId")
        if not body.get("userid_list") or not isinstance(msg, dict) or not msg.get("msgtype"):
            return _oapi_error(40035, "缺少参数 userid_list 或 msg")
        task_id = secrets.randbelow(9 * 10**11) + 10**11
        with self.lock:
            self.notices.append({"kind": "work_notice", "agent_id": body["agent_id"],
                                 "userid_list": str(body["userid_list"]).split(","),
                                 "msg": msg, "task_id": task_id})
        return SimResponse.of_json({"errcode": 0, "task_id": task_id, "request_id": rand_text(12)})

    def _user_get(self, req: SimRequest, _m) -> SimResponse:
        if denied := self._oapi_auth(req):
            return denied
        user = self.users.get(str(req.json().get("userid", "")))
        if user is None:
            return _oapi_error(60121, "找不到该用户")
        return SimResponse.of_json({"errcode": 0, "errmsg": "ok", "request_id": rand_text(12),
                                    "result": {k: v for k, v in user.items()
                                               if k != "department"}})

    def _create_todo(self, req: SimRequest, m) -> SimResponse:
        if denied := self._api_auth(req):
            return denied
        union, body = m["union"], req.json()
        unions = {u["unionid"] for u in self.users.values()}
        if union not in unions or req.query.get("operatorId") not in unions:
            return _api_error("InvalidParameter.UnionId", "unionId 或 operatorId 不合法")
        if not body.get("subject") or not set(body.get("executorIds") or []) <= unions:
            return _api_error("InvalidParameter", "subject 必填，executorIds 必须是 unionId")
        key = (union, str(body.get("sourceId") or rand_text(16)))
        now = epoch_ms(datetime.now(UTC))
        with self.lock:
            if key not in self.todos:  # the same sourceId answers the same to-do
                task = {"id": "task" + rand_text(24, "0123456789abcdef"), "createdTime": now,
                        "modifiedTime": now, "creatorId": union, "modifierId": union,
                        "done": False, "requestId": rand_text(32), **body}
                self.todos[key] = task
                self.notices.append({"kind": "todo", "union_id": union,
                                     "operator_id": req.query["operatorId"], "body": body,
                                     "id": task["id"]})
            return SimResponse.of_json(self.todos[key])
