"""The simulators take the vendors' create-instance calls as documented (required fields
checked, the documented answer and nothing more), and the control API lets a demo add a
template and decide an instance."""

from __future__ import annotations

import json

import httpx
import pytest

from kjda_oasim.core import OASimulator
from kjda_oasim.dingtalk import DingTalkSim
from kjda_oasim.feishu import FeishuSim
from kjda_oasim.wecom.sim import WeComSim


@pytest.fixture
def sims():
    vendors = (DingTalkSim(), WeComSim(), FeishuSim())
    sim = OASimulator(list(vendors))
    sim.start()
    yield sim, *vendors
    sim.stop()


def _dingtalk_token(base: str, dt: DingTalkSim) -> dict[str, str]:
    token = httpx.post(f"{base}/dingtalk/api/v1.0/oauth2/accessToken",
                       json={"appKey": dt.app_key, "appSecret": dt.app_secret}).json()
    return {"x-acs-dingtalk-access-token": token["accessToken"]}


def test_dingtalk_answers_only_the_instance_id_and_checks_the_form(sims):
    sim, dt, _wc, _fs = sims
    base = sim.base_url
    httpx.post(f"{base}/_sim/dingtalk/templates",
               json={"code": "PROC-LOAN", "name": "档案借阅", "labels": ["借阅目的"]})
    dt.add_user({"id": "zhangsan", "name": "张三"})
    headers = _dingtalk_token(base, dt)
    url = f"{base}/dingtalk/api/v1.0/workflow/processInstances"
    missing = httpx.post(url, headers=headers, json={"processCode": "PROC-LOAN"})
    assert missing.status_code == 400 and missing.json()["code"] == "MissingParameter"
    wrong = httpx.post(url, headers=headers, json={
        "processCode": "PROC-LOAN", "originatorUserId": "zhangsan",
        "formComponentValues": [{"name": "密级", "value": "秘密"}]})
    assert wrong.status_code == 400 and "密级" in wrong.json()["message"]
    made = httpx.post(url, headers=headers, json={
        "processCode": "PROC-LOAN", "originatorUserId": "zhangsan",
        "formComponentValues": [{"name": "借阅目的", "value": "审计"}]})
    assert made.status_code == 200 and list(made.json()) == ["instanceId"]
    pid = made.json()["instanceId"]
    assert dt.instances[pid]["result"]["status"] == "RUNNING"
    decided = httpx.post(f"{base}/_sim/dingtalk/decide", json={
        "instance_id": pid, "approved": False, "approver": {"id": "wang", "name": "王经理"},
        "comment": "不同意"})
    assert decided.json() == {"ok": True}
    raw = dt.instances[pid]["result"]
    assert (raw["status"], raw["result"]) == ("COMPLETED", "refuse")
    assert raw["operationRecords"][-1]["remark"] == "不同意"


def test_wecom_applyevent_needs_the_documented_fields_and_answers_the_sp_no(sims):
    sim, _dt, wc, _fs = sims
    base = sim.base_url
    wc.add_template("TPL-LOAN", "档案借阅", ["借阅目的"])
    wc.add_user({"id": "zhangsan", "name": "张三"})
    token = httpx.get(f"{base}/wecom/cgi-bin/gettoken",
                      params={"corpid": wc.corp_id, "corpsecret": wc.corp_secret}
                      ).json()["access_token"]
    detail = httpx.post(f"{base}/wecom/cgi-bin/oa/gettemplatedetail",
                        params={"access_token": token}, json={"template_id": "TPL-LOAN"}).json()
    [control] = detail["template_content"]["controls"]
    body = {"creator_userid": "zhangsan", "template_id": "TPL-LOAN", "use_template_approver": 1,
            "apply_data": {"contents": [{"control": "Text", "id": control["property"]["id"],
                                         "value": {"text": "审计"}}]}}
    no_summary = httpx.post(f"{base}/wecom/cgi-bin/oa/applyevent",
                            params={"access_token": token}, json=body).json()
    assert no_summary["errcode"] == 301025
    body["summary_list"] = [{"summary_info": [{"text": "档案借阅", "lang": "zh_CN"}]}]
    made = httpx.post(f"{base}/wecom/cgi-bin/oa/applyevent",
                      params={"access_token": token}, json=body).json()
    assert set(made) == {"errcode", "errmsg", "sp_no"} and made["errcode"] == 0
    assert wc.instances[made["sp_no"]]["sp_status"] == 1


def test_feishu_create_is_idempotent_by_uuid_and_answers_the_instance_code(sims):
    sim, _dt, _wc, fs = sims
    base = sim.base_url
    fs.add_template("7C468A54-8745-2245-9675-08B7C63E7A85", "档案借阅", ["借阅目的"])
    user = fs.person({"id": "zhangsan", "name": "张三"})
    token = httpx.post(f"{base}/feishu/open-apis/auth/v3/tenant_access_token/internal",
                       json={"app_id": fs.app_id, "app_secret": fs.app_secret}
                       ).json()["tenant_access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    definition = httpx.get(f"{base}/feishu/open-apis/approval/v4/approvals/"
                           "7C468A54-8745-2245-9675-08B7C63E7A85", headers=headers).json()
    [widget] = json.loads(definition["data"]["form"])
    body = {"approval_code": "7C468A54-8745-2245-9675-08B7C63E7A85", "open_id": user["open_id"],
            "uuid": "kjda-approval-1",
            "form": json.dumps([{"id": widget["id"], "type": "input", "value": "审计"}])}
    url = f"{base}/feishu/open-apis/approval/v4/instances"
    made = httpx.post(url, headers=headers, json=body).json()
    assert made["code"] == 0 and list(made["data"]) == ["instance_code"]
    again = httpx.post(url, headers=headers, json=body).json()
    assert again["code"] == 60012
    by_uuid = httpx.get(f"{url}/kjda-approval-1", headers=headers).json()
    assert by_uuid["data"]["instance_code"] == made["data"]["instance_code"]
    assert by_uuid["data"]["status"] == "PENDING"
