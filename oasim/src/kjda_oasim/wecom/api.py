"""The API side of the simulated WeCom (企业微信): gettoken, oa/getapprovaldetail,
oa/getapprovalinfo, media/get, message/send, department/get and user/get, each answering with
WeCom's errcode/errmsg."""

from __future__ import annotations

import json
import mimetypes
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from kjda_oasim.core import SimRequest, SimResponse


def _err(code: int, msg: str) -> SimResponse:
    return SimResponse.of_json({"errcode": code, "errmsg": msg})


def _ok(**data: Any) -> SimResponse:
    return SimResponse.of_json({"errcode": 0, "errmsg": "ok", **data})


class WeComApiSim:
    """The API handlers of `WeComSim`, over its instances, files, directory and tokens."""

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

    def _template_detail(self, req: SimRequest, _m: Any) -> SimResponse:
        """获取审批模板详情: template_names and template_content.controls[property, config]."""
        if error := self._token_error(req):
            return error
        template = self.templates.get(str(req.json().get("template_id", "")))
        if template is None:
            return _err(301025, "get approval param error:invalid template_id")
        return _ok(template_names=[{"text": template["name"], "lang": "zh_CN"}],
                   template_content={"controls": [
                       {"property": {"control": c["control"], "id": c["id"],
                                     "title": [{"text": c["label"], "lang": "zh_CN"}],
                                     "placeholder": [], "require": 0, "un_print": 0},
                        "config": {}} for c in template["controls"]]})

    def _apply_event(self, req: SimRequest, _m: Any) -> SimResponse:
        """提交审批申请: creator_userid, template_id, use_template_approver, apply_data and
        summary_list (1–3 lines) are required; contents address the template's controls by
        id. Answers the new sp_no."""
        if error := self._token_error(req):
            return error
        body = req.json()
        template = self.templates.get(str(body.get("template_id", "")))
        creator = str(body.get("creator_userid", ""))
        contents = (body.get("apply_data") or {}).get("contents")
        summary = body.get("summary_list")
        if template is None:
            return _err(301025, "get approval param error:invalid template_id")
        if creator not in self.users:
            return _err(301025, "get approval param error:creator_userid not in app "
                                "visiable range")
        if body.get("use_template_approver") not in (0, 1) or (
                body.get("use_template_approver") == 0 and not body.get("approver")):
            return _err(301025, "get approval param error:use_template_approver/approver")
        if not isinstance(contents, list) or not isinstance(summary, list) or \
                not 1 <= len(summary) <= 3:
            return _err(301025, "get approval param error:apply_data/summary_list")
        controls = {c["id"]: c for c in template["controls"]}
        for item in contents:
            control = controls.get(str((item or {}).get("id", "")))
            if control is None or item.get("control") != control["control"]:
                return _err(301025, f"get approval param error:invalid control id "
                                    f"{(item or {}).get('id')}")
        return _ok(sp_no=self.start_instance(template, creator, contents))

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
