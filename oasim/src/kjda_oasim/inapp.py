"""In-app login (免登) of the simulated DingTalk and Feishu: stand-ins for the vendors' JSSDK
scripts and the server endpoints that resolve their codes (WeCom's in-app login is a redirect:
kjda_oasim.wecom.login serves its authorize page).

The real scripts exist only inside the OA client, which knows who is signed in; here the
simulator's `login_user` is that person. Each script is served fresh (no-store) with one
single-use code minted for them, so the page's call returns it without a request of its own
(the page's CSP need only admit the script's host). With nobody signed in the script behaves
as the real one outside the client: DingTalk's `dd.env.platform` is "notInDingTalk" and
`dd.ready` never fires; Feishu injects no `tt`.

JS API shapes, from the vendors' docs: DingTalk `dd.ready(fn)`, `dd.error(fn)`,
`dd.getAuthCode({corpId, success({code}), fail, complete})` (also a Promise) and the older
`dd.runtime.permission.requestAuthCode({corpId, onSuccess({code}), onFail})`; Feishu
`window.h5sdk.ready(fn)`, `tt.requestAccess({appID, scopeList, state, success({code, state}),
fail})` and the older `tt.requestAuthCode({appId, success({code}), fail})`.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from kjda_oasim.core import SimRequest, SimResponse

_JS = "application/javascript; charset=utf-8"

DINGTALK_JS = """/* KJDA OA simulator: stand-in for DingTalk's dingtalk.open.js */
(function () {
  var corpId = %(id)s, code = %(code)s, inApp = code !== null;
  function take(id) {
    if (!inApp) return {errorCode: "7", errorMessage: "notInDingTalk"};
    if (id !== corpId) return {errorCode: "3", errorMessage: "corpId 不正确"};
    if (!code) return {errorCode: "9", errorMessage: "授权码已使用，请重新进入应用"};
    var c = code; code = ""; return {code: c};
  }
  function later(fn) { setTimeout(fn, 0); }
  window.dd = {
    env: {platform: inApp ? "android" : "notInDingTalk", version: "7.5.0"},
    ready: function (fn) { if (inApp) later(fn); },
    error: function (fn) { if (!inApp) later(function () { fn({errorCode: "7", errorMessage: "notInDingTalk"}); }); },
    getAuthCode: function (o) {
      o = o || {};
      var r = take(o.corpId);
      return new Promise(function (resolve, reject) {
        later(function () {
          if (r.code) { if (o.success) o.success({code: r.code}); resolve({code: r.code}); }
          else { if (o.fail) o.fail(r); reject(r); }
          if (o.complete) o.complete();
        });
      });
    },
    runtime: {permission: {requestAuthCode: function (o) {
      o = o || {};
      var r = take(o.corpId);
      later(function () {
        if (r.code) { if (o.onSuccess) o.onSuccess({code: r.code}); }
        else if (o.onFail) o.onFail(r);
      });
    }}}
  };
})();
"""

FEISHU_JS = """/* KJDA OA simulator: stand-in for Feishu's H5 JSSDK (h5-js-sdk) */
(function () {
  var appId = %(id)s, code = %(code)s, inApp = code !== null;
  window.h5sdk = {
    ready: function (fn) { if (inApp) setTimeout(fn, 0); },
    error: function (fn) {},
    config: function (o) { if (o && o.onSuccess) setTimeout(o.onSuccess, 0); }
  };
  if (!inApp) return; /* tt is injected only inside the Feishu client */
  function take(id) {
    if (id !== appId) return {errno: 103, errString: "invalid appID"};
    if (!code) return {errno: 2700003, errString: "code already used"};
    var c = code; code = ""; return {code: c};
  }
  function call(o, id, extra) {
    o = o || {};
    var r = take(id);
    setTimeout(function () {
      if (r.code) { var res = {code: r.code}; if (extra) res.state = extra; if (o.success) o.success(res); }
      else if (o.fail) o.fail(r);
      if (o.complete) o.complete();
    }, 0);
  }
  window.tt = {
    requestAccess: function (o) { call(o, o && o.appID, o && o.state); },
    requestAuthCode: function (o) { call(o, o && o.appId); }
  };
})();
"""

CODE_TTL = 300.0  # DingTalk: 5 min; Feishu requestAccess: 3 min (the token endpoint checks)


def _script(template: str, *, app_id: str, code: str | None) -> SimResponse:
    body = template % {"id": json.dumps(app_id), "code": json.dumps(code)}
    return SimResponse(200, body.encode(), _JS, {"Cache-Control": "no-store"})


class InAppCodes:
    """The code the OA client hands the page: minted for the signed-in `login_user`."""

    login_user: str = ""
    login_codes: dict[str, dict[str, Any]]

    def _mint_inapp_code(self) -> str | None:
        if not self.login_user:
            return None
        code = secrets.token_hex(16)
        with self.lock:  # type: ignore[attr-defined]
            self.login_codes[code] = {"user": self.login_user, "expiry": time.time() + CODE_TTL,
                                      "redirect_uri": "", "challenge": "", "kind": "jsapi"}
        return code


class DingTalkInAppSim(InAppCodes):
    """GET /jsapi/dingtalk.open.js, POST /oapi/topapi/v2/user/getuserinfo."""

    def inapp_routes(self):
        return [("GET", r"/jsapi/dingtalk\.open\.js", self._dt_jsapi),
                ("POST", r"/oapi/topapi/v2/user/getuserinfo", self._dt_getuserinfo)]

    def _dt_jsapi(self, req: SimRequest, _m) -> SimResponse:
        return _script(DINGTALK_JS, app_id=self.corp_id,  # type: ignore[attr-defined]
                       code=self._mint_inapp_code())

    def _dt_getuserinfo(self, req: SimRequest, _m) -> SimResponse:
        if denied := self._oapi_auth(req):  # type: ignore[attr-defined]
            return denied
        grant = self._take_code(str(req.json().get("code", "")))  # type: ignore[attr-defined]
        if grant is None or grant.get("kind") != "jsapi":
            return SimResponse.of_json({"errcode": 40078, "errmsg": "不存在的临时授权码"})
        user = self.users.get(grant["user"])  # type: ignore[attr-defined]
        if user is None:  # left the organisation since
            return SimResponse.of_json({"errcode": 60121, "errmsg": "找不到该用户"})
        return SimResponse.of_json({"errcode": 0, "errmsg": "ok", "request_id": secrets.token_hex(8),
                                    "result": {"userid": user["userid"], "device_id": "",
                                               "sys": False, "sys_level": 0,
                                               "associated_unionid": "",
                                               "unionid": user["unionid"], "name": user["name"]}})


class FeishuInAppSim(InAppCodes):
    """GET /jsapi/h5-js-sdk.js; its codes go to authen/v2/oauth/token (kjda_oasim.sso)."""

    def inapp_routes(self):
        return [("GET", r"/jsapi/h5-js-sdk\.js", self._fs_jsapi)]

    def _fs_jsapi(self, req: SimRequest, _m) -> SimResponse:
        return _script(FEISHU_JS, app_id=self.app_id,  # type: ignore[attr-defined]
                       code=self._mint_inapp_code())
