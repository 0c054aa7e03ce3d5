"""A duplicate claim arriving through an OA: the second approval's record is held, linked to
the first, and its applicant gets a to-do through the notices outbox."""

from __future__ import annotations

import base64
import json

import pytest
from django.test import Client

from kjda.archives.models import Record
from kjda.connectors.models import Notice
from kjda.connectors.notices import notice_send
from kjda.connectors.processing import inbox_due, inbox_process
from kjda.invoices.models import Invoice
from kjda_oasim.core import OASimulator
from kjda_oasim.dingtalk import DingTalkSim

pytestmark = pytest.mark.django_db(transaction=True)


def _spec(title: str, applicant: str, name: str, content: bytes) -> dict:
    files = [{"name": name, "content_b64": base64.b64encode(content).decode()}]
    return {
        "process_code": "PROC-REIMB-001", "title": title,
        "originator": {"id": applicant, "name": applicant, "department": "销售部"},
        "create_time": "2024-03-16T09:00:00+08:00", "finish_time": "2024-03-18T17:30:00+08:00",
        "form": [{"name": "报销事由", "value": "差旅"},
                 {"name": "报销金额", "kind": "money", "value": "318.00"},
                 {"name": "发票", "kind": "attachment", "files": files}],
        "trail": [{"actor": {"id": applicant, "name": applicant}, "action": "发起",
                   "result": "none", "time": "2024-03-16T09:00:00+08:00"}],
    }


@pytest.fixture
def dingtalk(fonds, token, live_server):
    from django.contrib.auth import get_user_model

    from kjda.accounts.models import Profile
    from kjda.accounts.services import token_issue
    from kjda_oasim.factories import totp_activate

    sim_vendor = DingTalkSim()
    sim = OASimulator([sim_vendor])
    sim.start()
    sysadmin = get_user_model().objects.create_user("sysadmin", password="Sys-Admin-Pass-2024")
    Profile.objects.create(user=sysadmin, roles=["sysadmin"])  # sets platform addresses
    totp_activate(sysadmin)  # an administrator has TOTP (issue 15, item 3)
    admin = Client()
    admin.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token_issue(user=sysadmin, name='t')[1]}"
    client = Client()
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    resp = admin.post("/api/v1/connectors", json.dumps({
        "kind": "dingtalk", "name": "钉钉（测试）", "settings": sim_vendor.connector_settings(),
        "finance_owner_ids": ["finance01"]}), content_type="application/json")
    assert resp.status_code == 201, resp.content
    connector = resp.json()
    resp = client.post(f"/api/v1/connectors/{connector['id']}/mappings", json.dumps({
        "process_code": "PROC-REIMB-001", "scenario": "reimbursement", "category": "原始凭证",
        "fields": {"amount": "报销金额", "summary": "报销事由", "invoices": "发票"}}),
        content_type="application/json")
    assert resp.status_code == 201, resp.content
    yield sim_vendor, live_server.url + connector["callback_url"]
    sim.stop()


def test_second_claim_of_an_invoice_through_the_oa_is_held_and_the_applicant_told(dingtalk,
                                                                                  samples):
    sim, url = dingtalk
    first = (samples / "ofd_invoices" / "ofdrw_converter_发票示例.ofd").read_bytes()
    second = (samples / "ofd_invoices" / "ofdrw_sign_v4signed.ofd").read_bytes()
    sim.fire(callback_url=url, instance_id=sim.create_instance(
        _spec("差旅费报销-张三", "zhangsan", "发票.ofd", first)))
    for pk in inbox_due():
        inbox_process(event_pk=pk)
    sim.fire(callback_url=url, instance_id=sim.create_instance(
        _spec("差旅费报销-李四", "lisi", "发票（签章）.ofd", second)))
    for pk in inbox_due():
        inbox_process(event_pk=pk)
    one, two = Record.objects.order_by("pk")
    assert one.status == "filed" and two.status == "pending"
    assert "GD-1-8" in two.check_report["blocking_failures"]
    assert Invoice.objects.get(record=two).duplicate_of_id == one.pk
    notices = list(Notice.objects.filter(record_id=two.pk).order_by("pk"))
    assert {n.reason for n in notices} == {"duplicate_claim"}
    assert ["lisi"] in [n.user_ids for n in notices]
    for notice in notices:
        assert notice_send(notice_pk=notice.pk) == "sent"
    assert any("lisi" in json.dumps(n, ensure_ascii=False) for n in sim.notices)
