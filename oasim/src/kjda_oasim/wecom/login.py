"""Login (SSO) and directory (contacts) endpoints of the simulated WeCom, written from
oa-protocols.md §2.6 and the vendor's contact API; the shared authorize page is
kjda_oasim.sso.LoginMixin."""

from __future__ import annotations

import secrets
from typing import Any

from kjda_oasim.core import SimRequest, SimResponse
from kjda_oasim.sso import LoginMixin


class WeComLoginSim(LoginMixin):
    """login.work.weixin.qq.com/wwlogin/sso/login (QR), open.weixin.qq.com/connect/oauth2/
    authorize (in-app), cgi-bin/auth/getuserinfo; directory department/list and user/list."""

    def sso_routes(self):
        return [
            ("GET", r"/login/wwlogin/sso/login", self._wc_authorize),
            ("GET", r"/open/connect/oauth2/authorize", self._wc_authorize),
            ("GET", r"/cgi-bin/auth/getuserinfo", self._wc_userinfo),
            ("GET", r"/cgi-bin/department/list", self._wc_dept_list),
            ("GET", r"/cgi-bin/user/list", self._wc_user_list),
        ]

    def sso_settings(self) -> dict[str, Any]:
        root = self.base_url + self.prefix
        return {"client_id": self.corp_id, "secret": self.corp_secret,
                "settings": {"agent_id": str(self.agent_id), "api_base_url": root,
                             "login_base_url": root + "/login", "open_base_url": root + "/open"}}

    def directory_add(self, user_id: str, *, name: str, department: str = "", mobile: str = "",
                      email: str = "") -> dict[str, Any]:
        self._person({"id": user_id, "name": name}, department)
        with self.lock:
            self.users[user_id].update({"mobile": mobile, "email": email})
        return self.users[user_id]

    def directory_remove(self, user_id: str) -> None:
        with self.lock:
            self.users.pop(user_id, None)  # WeCom deletes a member who left

    def _people(self):
        return [(uid, u["name"]) for uid, u in self.users.items()]

    def _wc_authorize(self, req: SimRequest, _m) -> SimResponse:
        q = req.query
        if q.get("appid") != self.corp_id or str(q.get("agentid")) != str(self.agent_id):
            return SimResponse(400, "appid 或 agentid 错误".encode(), "text/plain; charset=utf-8")
        if "login_type" in q and q["login_type"] != "CorpApp":
            return SimResponse(400, b"login_type must be CorpApp", "text/plain")
        return self._authorize(req, redirect_uri=q.get("redirect_uri", ""))

    def _wc_userinfo(self, req: SimRequest, _m) -> SimResponse:
        if error := self._token_error(req):
            return error
        grant = self._take_code(req.query.get("code", ""))
        if grant is None:
            return SimResponse.of_json({"errcode": 40029, "errmsg": "invalid code"})
        if grant["user"] not in self.users:  # left since: WeCom answers as for a non-member
            return SimResponse.of_json({"errcode": 0, "errmsg": "ok",
                                        "openid": "o" + secrets.token_hex(12)})
        return SimResponse.of_json({"errcode": 0, "errmsg": "ok", "userid": grant["user"]})

    def _wc_dept_list(self, req: SimRequest, _m) -> SimResponse:
        if error := self._token_error(req):
            return error
        with self.lock:
            depts = [{"id": int(i), "name": n, "parentid": 0 if i == "1" else 1, "order": 1}
                     for i, n in self.departments.items()]
        return SimResponse.of_json({"errcode": 0, "errmsg": "ok", "department": depts})

    def _wc_user_list(self, req: SimRequest, _m) -> SimResponse:
        if error := self._token_error(req):
            return error
        dept = req.query.get("department_id", "")
        if dept not in self.departments:
            return SimResponse.of_json({"errcode": 60123, "errmsg": "invalid department id"})
        with self.lock:
            members = [{"userid": uid, "name": u["name"], "department": [int(u["department"])],
                        "main_department": int(u["department"]), "mobile": u.get("mobile", ""),
                        "email": u.get("email", ""), "status": 1}
                       for uid, u in self.users.items() if u["department"] == dept]
        return SimResponse.of_json({"errcode": 0, "errmsg": "ok", "userlist": members})
