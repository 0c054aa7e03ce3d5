/* In-app login (免登) on the entry page /m/<platform>/: ask the OA client's JSSDK for a login
   code and post it to KJDA, which resolves it server side. DingTalk: dd.getAuthCode (older
   clients: dd.runtime.permission.requestAuthCode) with the corpId; Feishu: tt.requestAccess
   (before 6.9: tt.requestAuthCode) with the App ID. No code: the failure page. */
(function () {
  "use strict";
  var root = document.getElementById("m-login");
  if (!root) { return; }
  var form = document.getElementById("m-login-form");
  var id = root.getAttribute("data-client-id");
  var done = false;
  var timer = null;

  function fail(reason) {
    if (done) { return; }
    done = true;
    if (timer) { clearTimeout(timer); }
    var url = root.getAttribute("data-failed");
    window.location.replace(url + (url.indexOf("?") < 0 ? "?" : "&") + "reason=" + encodeURIComponent(reason));
  }

  function submit(result) {
    var code = result && (result.code || result.authCode);
    if (!code) { fail("refused"); return; }
    if (done) { return; }
    done = true;
    if (timer) { clearTimeout(timer); }
    form.elements.code.value = code;
    form.submit();
  }

  function refused() { fail("refused"); }

  function dingtalk() {
    var dd = window.dd;
    if (!dd || (dd.env && dd.env.platform === "notInDingTalk")) { fail("not_in_app"); return; }
    if (dd.error) { dd.error(function () { fail("refused"); }); }
    dd.ready(function () {
      if (dd.getAuthCode) {
        var p = dd.getAuthCode({corpId: id, success: submit, fail: refused});
        if (p && p.catch) { p.catch(function () { return null; }); }
      } else {
        dd.runtime.permission.requestAuthCode({corpId: id, onSuccess: submit, onFail: refused});
      }
    });
  }

  function feishu() {
    var sdk = window.h5sdk;
    var tt = window.tt;
    if (!sdk || !tt) { fail("not_in_app"); return; }
    sdk.ready(function () {
      if (tt.requestAccess) {
        tt.requestAccess({appID: id, scopeList: [], success: submit, fail: refused});
      } else {
        tt.requestAuthCode({appId: id, success: submit, fail: refused});
      }
    });
  }

  timer = setTimeout(function () { fail("timeout"); }, 10000);
  var platform = root.getAttribute("data-platform");
  if (platform === "dingtalk") { dingtalk(); } else if (platform === "feishu") { feishu(); } else { fail("not_in_app"); }
}());
