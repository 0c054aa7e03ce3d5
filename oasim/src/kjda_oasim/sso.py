"""Login (SSO) and directory (contacts) endpoints of the simulated DingTalk and Feishu (WeCom's:
kjda_oasim.wecom.login), with the authorize page and code bookkeeping all three share,
written from oa-protocols.md §1.7, §2.6 and §3.6 and the vendors' contact APIs. Mixed into the
vendor simulators; their routes come before the vendor's own (more general) ones.

The authorize page signs in the simulated user named by `sim_user` (or `login_user`, as if
already logged in to the app), else shows the people to choose from; it then redirects back
with a single-use code (5 min), as the vendor does. `directory_add` / `directory_remove` put a
person in or take them out of the organisation (a leaver).
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from kjda_oasim.core import SimRequest, SimResponse
from kjda_oasim.inapp import DingTalkInAppSim, FeishuInAppSim

CODE_TTL = 300.0


def _redirect(uri: str, **params: str) -> SimResponse:
    sep = "&" if "?" in uri else "?"
    return SimResponse(302, b"", "text/plain", {"Location": uri + sep + urlencode(params)})


class LoginMixin:
    """The authorize page and code bookkeeping shared by the three vendors."""

    login_user: str = ""

    def _login_init(self) -> None:
        self.login_codes: dict[str, dict[str, Any]] = {}
        self.user_tokens: dict[str, tuple[str, float]] = {}  # user token → (user, expiry)

    def _people(self) -> list[tuple[str, str]]:  # (key, display name)
        raise NotImplementedError

    def _authorize(self, req: SimRequest, *, redirect_uri: str, code_param: str = "code",
                   **grant: Any) -> SimResponse:
        who = req.query.get("sim_user") or self.login_user
        people = dict(self._people())
        if who not in people:
            items = "".join(
                f'<li><a href="?{html.escape(urlencode({**req.query, "sim_user": key}))}">'
                f"{html.escape(name)} ({html.escape(key)})</a></li>" for key, name in people.items())
            page = (f"<!doctype html><meta charset=utf-8><title>{self.name} 登录</title>"
                    f"<h1>{self.name} 模拟登录 / simulated login</h1><ul>{items}</ul>")
            return SimResponse(200, page.encode(), "text/html; charset=utf-8")
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.login_codes[code] = {"user": who, "expiry": time.time() + CODE_TTL,
                                      "redirect_uri": redirect_uri, **grant}
        params = {code_param: code}
        if req.query.get("state"):
            params["state"] = req.query["state"]
        return _redirect(redirect_uri, **params)

    def _take_code(self, code: str) -> dict[str, Any] | None:
        with self.lock:
            grant = self.login_codes.pop(code, None)  # single use
        return grant if grant and grant["expiry"] > time.time() else None

    def _user_token(self, user: str, prefix: str = "") -> str:
        token = prefix + secrets.token_hex(20)
        with self.lock:
            self.user_tokens[token] = (user, time.time() + 7200)
        return token

    def _token_user(self, token: str) -> str | None:
        hit = self.user_tokens.get(token)
        return hit[0] if hit and hit[1] > time.time() else None


# --- DingTalk ------------------------------------------------------------------------------

class DingTalkLoginSim(DingTalkInAppSim, LoginMixin):
    """login.dingtalk.com/oauth2/auth, v1.0 userAccessToken + contact/users/me, and the oapi
    directory: topapi/user/getbyunionid, v2/department/get|listsub, v2/user/list."""

    def sso_routes(self):
        return [
            ("GET", r"/login/oauth2/auth", self._dt_authorize),
            ("POST", r"/api/v1\.0/oauth2/userAccessToken", self._dt_user_token),
            ("GET", r"/api/v1\.0/contact/users/me", self._dt_me),
            ("POST", r"/oapi/topapi/user/getbyunionid", self._dt_by_union),
            ("POST", r"/oapi/topapi/v2/department/get", self._dt_dept_get),
            ("POST", r"/oapi/topapi/v2/department/listsub", self._dt_dept_listsub),
            ("POST", r"/oapi/topapi/v2/user/list", self._dt_user_list),
            *self.inapp_routes(),
        ]

    def sso_settings(self) -> dict[str, Any]:
        root = self.base_url + self.prefix
        return {"client_id": self.app_key, "secret": self.app_secret,
                "settings": {"login_base_url": root + "/login", "api_base_url": root + "/api",
                             "oapi_base_url": root + "/oapi", "corp_id": self.corp_id,
                             "jsapi_url": root + "/jsapi/dingtalk.open.js"}}

    def _dept_tree(self) -> dict[int, dict[str, Any]]:
        if not hasattr(self, "dept_tree"):
            self.dept_tree = {1: {"dept_id": 1, "name": "总公司", "parent_id": 0}}
        return self.dept_tree

    def _dept_for(self, name: str) -> int:
        tree = self._dept_tree()
        for dept_id, dept in tree.items():
            if dept["name"] == name:
                return dept_id
        dept_id = max(tree) + 1
        tree[dept_id] = {"dept_id": dept_id, "name": name, "parent_id": 1}
        return dept_id

    def directory_add(self, user_id: str, *, name: str, department: str = "", mobile: str = "",
                      email: str = "") -> dict[str, Any]:
        self.add_user({"id": user_id, "name": name})
        with self.lock:
            user = self.users[user_id]
            user["dept_id_list"] = [self._dept_for(department) if department else 1]
            user.update({"mobile": mobile, "email": email, "active": True})
            user.pop("department", None)
        return user

    def directory_remove(self, user_id: str) -> None:
        with self.lock:
            self.users.pop(user_id, None)  # DingTalk deletes a leaver from the organisation

    def _people(self):
        return [(uid, u["name"]) for uid, u in self.users.items()]

    def _dt_authorize(self, req: SimRequest, _m) -> SimResponse:
        if req.query.get("client_id") != self.app_key or req.query.get("response_type") != "code":
            return SimResponse.of_json({"code": "invalidClientId", "message": "无效的client_id"}, 400)
        return self._authorize(req, redirect_uri=req.query.get("redirect_uri", ""),
                               code_param="authCode")

    def _dt_user_token(self, req: SimRequest, _m) -> SimResponse:
        body = req.json()
        if body.get("clientId") != self.app_key or body.get("clientSecret") != self.app_secret:
            return SimResponse.of_json({"code": "invalidClientIdOrSecret",
                                        "message": "无效的clientId或者clientSecret"}, 400)
        grant = self._take_code(str(body.get("code", "")))
        if body.get("grantType") != "authorization_code" or grant is None:
            return SimResponse.of_json({"code": "invalidAuthCode", "message": "不合法的临时授权码"}, 400)
        return SimResponse.of_json({"accessToken": self._user_token(grant["user"]),
                                    "refreshToken": secrets.token_hex(16), "expireIn": 7200,
                                    "corpId": self.corp_id})

    def _dt_me(self, req: SimRequest, _m) -> SimResponse:
        uid = self._token_user(req.headers.get("x-acs-dingtalk-access-token", ""))
        user = self.users.get(uid or "")
        if user is None:
            return SimResponse.of_json({"code": "InvalidAuthentication",
                                        "message": "不合法的access_token"}, 401)
        return SimResponse.of_json({
            "nick": user["name"], "unionId": user["unionid"],
            "openId": hashlib.sha256(uid.encode()).hexdigest()[:24], "avatarUrl": "",
            "mobile": user.get("mobile", ""), "email": user.get("email", ""),
            "stateCode": "86"})

    def _dt_oapi(self, req: SimRequest) -> tuple[dict[str, Any], SimResponse | None]:
        return req.json(), self._oapi_auth(req)

    def _dt_by_union(self, req: SimRequest, _m) -> SimResponse:
        body, denied = self._dt_oapi(req)
        if denied:
            return denied
        uid = next((u for u, d in self.users.items() if d["unionid"] == body.get("unionid")), None)
        if uid is None:
            return SimResponse.of_json({"errcode": 60121, "errmsg": "找不到该用户"})
        return SimResponse.of_json({"errcode": 0, "errmsg": "ok",
                                    "result": {"contact_type": 0, "userid": uid}})

    def _dt_dept_get(self, req: SimRequest, _m) -> SimResponse:
        body, denied = self._dt_oapi(req)
        if denied:
            return denied
        dept = self._dept_tree().get(int(body.get("dept_id") or 0))
        if dept is None:
            return SimResponse.of_json({"errcode": 60003, "errmsg": "部门不存在"})
        return SimResponse.of_json({"errcode": 0, "errmsg": "ok", "result": dept})

    def _dt_dept_listsub(self, req: SimRequest, _m) -> SimResponse:
        body, denied = self._dt_oapi(req)
        if denied:
            return denied
        parent = int(body.get("dept_id") or 1)
        return SimResponse.of_json({"errcode": 0, "errmsg": "ok", "result": [
            d for d in self._dept_tree().values() if d["parent_id"] == parent]})

    def _dt_user_list(self, req: SimRequest, _m) -> SimResponse:
        body, denied = self._dt_oapi(req)
        if denied:
            return denied
        dept, cursor, size = int(body.get("dept_id") or 0), int(body.get("cursor") or 0), \
            min(int(body.get("size") or 10), 100)
        if dept not in self._dept_tree():
            return SimResponse.of_json({"errcode": 60003, "errmsg": "部门不存在"})
        members = [u for u in self.users.values() if dept in (u.get("dept_id_list") or [])]
        page = members[cursor:cursor + size]
        result: dict[str, Any] = {"has_more": cursor + size < len(members), "list": [
            {"userid": u["userid"], "unionid": u["unionid"], "name": u["name"],
             "mobile": u.get("mobile", ""), "email": u.get("email", ""),
             "dept_id_list": u.get("dept_id_list", []), "active": u.get("active", True)}
            for u in page]}
        if result["has_more"]:
            result["next_cursor"] = cursor + size
        return SimResponse.of_json({"errcode": 0, "errmsg": "ok", "result": result})


# --- Feishu --------------------------------------------------------------------------------

class FeishuLoginSim(FeishuInAppSim, LoginMixin):
    """accounts.feishu.cn authen/v1/authorize (PKCE), authen/v2/oauth/token, authen/v1/
    user_info; contact v3 departments/:id/children and users/find_by_department."""

    def sso_routes(self):
        return [
            ("GET", r"/accounts/open-apis/authen/v1/authorize", self._fs_authorize),
            ("POST", r"/open-apis/authen/v2/oauth/token", self._fs_token),
            ("GET", r"/open-apis/authen/v1/user_info", self._fs_user_info),
            ("GET", r"/open-apis/contact/v3/departments/(?P<id>[^/]+)/children",
             self._fs_children),
            ("GET", r"/open-apis/contact/v3/users/find_by_department", self._fs_by_department),
            *self.inapp_routes(),
        ]

    def sso_settings(self) -> dict[str, Any]:
        root = self.base_url + self.prefix
        return {"client_id": self.app_id, "secret": self.app_secret,
                "settings": {"accounts_base_url": root + "/accounts", "api_base_url": root,
                             "jsapi_url": root + "/jsapi/h5-js-sdk.js"}}

    def directory_add(self, user_id: str, *, name: str, department: str = "", mobile: str = "",
                      email: str = "") -> dict[str, Any]:
        user = self.person({"id": user_id, "name": name}, department)
        with self.lock:
            user.update({"mobile": mobile, "email": email, "enterprise_email": email,
                         "status": {"is_resigned": False, "is_activated": True,
                                    "is_frozen": False}})
        return user

    def open_id(self, user_id: str) -> str:
        return next(o for o, u in self.users.items() if u["user_id"] == user_id)

    def directory_remove(self, user_id: str) -> None:
        with self.lock:  # Feishu keeps a resigned member, marked, out of department listings
            user = self.users[self.open_id(user_id)]
            user["status"] = {**user.get("status", {}), "is_resigned": True}
            user["department_ids"] = []

    def _people(self):
        return [(u["user_id"], u["name"]) for u in self.users.values()
                if not u.get("status", {}).get("is_resigned")]

    def _fs_authorize(self, req: SimRequest, _m) -> SimResponse:
        q = req.query
        if q.get("client_id") != self.app_id:
            return _fs_error(20002, "invalid_client", "client_id is invalid")
        if q.get("code_challenge") and q.get("code_challenge_method") != "S256":
            return _fs_error(20050, "invalid_request", "code_challenge_method must be S256")
        return self._authorize(req, redirect_uri=q.get("redirect_uri", ""),
                               challenge=q.get("code_challenge", ""))

    def _fs_token(self, req: SimRequest, _m) -> SimResponse:
        body = req.json()
        if body.get("client_id") != self.app_id or body.get("client_secret") != self.app_secret:
            return _fs_error(20002, "invalid_client", "client secret is invalid", 401)
        grant = self._take_code(str(body.get("code", "")))
        if body.get("grant_type") != "authorization_code" or grant is None or \
                grant["redirect_uri"] != body.get("redirect_uri", ""):  # JSSDK codes: none
            return _fs_error(20003, "invalid_grant", "code is invalid or expired")
        verifier = str(body.get("code_verifier") or "")
        if grant["challenge"] or verifier:
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            if digest.rstrip(b"=").decode() != grant["challenge"]:
                return _fs_error(20049, "invalid_grant", "PKCE code_verifier mismatch")
        open_id = self.open_id(grant["user"])
        return SimResponse.of_json({"code": 0, "access_token": self._user_token(open_id, "u-"),
                                    "expires_in": 7200, "token_type": "Bearer",
                                    "scope": "contact:user.base:readonly"})

    def _fs_user_info(self, req: SimRequest, _m) -> SimResponse:
        auth = req.headers.get("authorization", "")
        open_id = self._token_user(auth[7:]) if auth.startswith("Bearer ") else None
        if open_id is None:
            return _fs_error(20005, "invalid_token", "user access token is invalid", 401)
        u = self.users[open_id]
        return SimResponse.of_json({"code": 0, "msg": "success", "data": {
            "name": u["name"], "en_name": "", "avatar_url": "", "open_id": open_id,
            "union_id": u["union_id"], "user_id": u["user_id"], "email": u.get("email", ""),
            "enterprise_email": u.get("enterprise_email", ""), "mobile": u.get("mobile", ""),
            "tenant_key": self.tenant_key, "employee_no": ""}})

    def _fs_children(self, req: SimRequest, m) -> SimResponse:
        if denied := self._auth(req):
            return denied
        if m["id"] != "0":  # the simulated organisation is one level deep
            return SimResponse.of_json({"code": 0, "msg": "success",
                                        "data": {"has_more": False, "items": []}})
        items = [{"name": n, "open_department_id": d, "department_id": d,
                  "parent_department_id": "0", "status": {"is_deleted": False}}
                 for d, n in self.departments.items()]
        return SimResponse.of_json({"code": 0, "msg": "success",
                                    "data": {"has_more": False, "items": items}})

    def _fs_by_department(self, req: SimRequest, _m) -> SimResponse:
        if denied := self._auth(req):
            return denied
        dept = req.query.get("department_id", "")
        size = min(int(req.query.get("page_size") or 10), 50)
        start = int(req.query.get("page_token") or 0)
        members = [u for u in self.users.values() if dept in u.get("department_ids", [])
                   or (dept == "0" and not u.get("department_ids")
                       and not u.get("status", {}).get("is_resigned"))]
        page = members[start:start + size]
        data: dict[str, Any] = {"has_more": start + size < len(members), "items": page}
        if data["has_more"]:
            data["page_token"] = str(start + size)
        return SimResponse.of_json({"code": 0, "msg": "success", "data": data})


def _fs_error(code: int, error: str, description: str, status: int = 400) -> SimResponse:
    return SimResponse.of_json({"code": code, "error": error, "error_description": description},
                               status)
