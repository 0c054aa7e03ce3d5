"""The simulated OA clients' in-app login: the JSSDK stand-ins mint one code for the signed-in
person (none outside the client), DingTalk's `topapi/v2/user/getuserinfo` and Feishu's token
endpoint take it once, as the vendors document."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from kjda_oasim.dingtalk import DingTalkSim
from kjda_oasim.feishu import FeishuSim


def _code(url: str) -> str | None:
    body = httpx.get(url, timeout=10)
    assert body.headers["content-type"].startswith("application/javascript")
    assert body.headers["cache-control"] == "no-store"
    return json.loads(re.search(r"code = (null|\"[^\"]*\")", body.text).group(1))


@pytest.fixture
def dingtalk(make_sim):
    vendor = DingTalkSim()
    sim = make_sim(vendor)
    vendor.directory_add("zhangsan", name="张三", department="销售部")
    return sim, vendor


def _getuserinfo(sim, vendor, code: str) -> dict:
    token = httpx.get(f"{sim.base_url}/dingtalk/oapi/gettoken",
                      params={"appkey": vendor.app_key, "appsecret": vendor.app_secret}).json()
    return httpx.post(f"{sim.base_url}/dingtalk/oapi/topapi/v2/user/getuserinfo",
                      params={"access_token": token["access_token"]}, json={"code": code}).json()


def test_dingtalk_script_code_resolves_once_to_the_signed_in_userid(dingtalk):
    sim, vendor = dingtalk
    script = vendor.sso_settings()["settings"]["jsapi_url"]
    assert _code(script) is None  # nobody signed in: outside the client
    httpx.post(f"{sim.base_url}/_sim/dingtalk/login_user", json={"user": "zhangsan"})
    code = _code(script)
    answer = _getuserinfo(sim, vendor, code)
    assert answer["errcode"] == 0 and answer["result"]["userid"] == "zhangsan"
    assert set(answer["result"]) == {"userid", "device_id", "sys", "sys_level",
                                     "associated_unionid", "unionid", "name"}
    assert _getuserinfo(sim, vendor, code)["errcode"] == 40078  # single use


def test_dingtalk_getuserinfo_takes_no_web_login_code_and_needs_the_app_token(dingtalk):
    sim, vendor = dingtalk
    vendor.login_user = "zhangsan"
    page = httpx.get(f"{sim.base_url}/dingtalk/login/oauth2/auth", params={
        "client_id": vendor.app_key, "response_type": "code",
        "redirect_uri": "http://kjda.test/cb"})
    web_code = re.search(r"authCode=([^&]+)", page.headers["location"]).group(1)
    assert _getuserinfo(sim, vendor, web_code)["errcode"] == 40078
    no_token = httpx.post(f"{sim.base_url}/dingtalk/oapi/topapi/v2/user/getuserinfo",
                          json={"code": _code(vendor.sso_settings()["settings"]["jsapi_url"])})
    assert no_token.json()["errcode"] == 41001


def test_feishu_script_code_goes_to_the_token_endpoint_without_redirect_uri(make_sim):
    vendor = FeishuSim()
    sim = make_sim(vendor)
    vendor.directory_add("lisi", name="李四", department="采购部")
    script = vendor.sso_settings()["settings"]["jsapi_url"]
    assert "window.tt" not in httpx.get(script).text.split("if (!inApp) return;")[0]
    vendor.login_user = "lisi"
    code = _code(script)
    body = {"grant_type": "authorization_code", "client_id": vendor.app_id,
            "client_secret": vendor.app_secret, "code": code}
    token = httpx.post(f"{sim.base_url}/feishu/open-apis/authen/v2/oauth/token", json=body).json()
    assert token["code"] == 0
    info = httpx.get(f"{sim.base_url}/feishu/open-apis/authen/v1/user_info",
                     headers={"Authorization": f"Bearer {token['access_token']}"}).json()
    assert info["data"]["user_id"] == "lisi"
    again = httpx.post(f"{sim.base_url}/feishu/open-apis/authen/v2/oauth/token", json=body)
    assert again.json()["error"] == "invalid_grant"
