"""The whole loop through real HTTP: the simulated platform fires a signed callback at a live
KJDA, the inbox commits it, processing re-fetches the instance, files one record with the form,
invoices and approval trail, and problems come back to the applicant as a to-do."""

from __future__ import annotations

import base64
import json
from datetime import date
from decimal import Decimal

import pytest
from django.test import Client

from kjda.archives.models import Record
from kjda.connectors.models import InboxEvent, Notice
from kjda.connectors.notices import notice_send
from kjda.connectors.processing import inbox_due, inbox_process
from kjda_oasim.dingtalk import DingTalkSim
from kjda_oasim.factories import invoice_pdf

pytestmark = pytest.mark.django_db(transaction=True)
INVOICE = invoice_pdf(number="24310000000012345678", seller="某某酒店有限公司",
                      amount=Decimal("1280.50"), day=date(2024, 3, 15))


def _spec(*, with_invoice: bool = True, title: str = "差旅费报销-张三") -> dict:
    files = [{"name": "住宿发票.pdf", "content_b64": base64.b64encode(INVOICE).decode()}]
    return {
        "process_code": "PROC-REIMB-001", "title": title,
        "originator": {"id": "zhangsan", "name": "张三", "department": "销售部"},
        "create_time": "2024-03-16T09:00:00+08:00", "finish_time": "2024-03-18T17:30:00+08:00",
        "form": [
            {"name": "报销事由", "value": "上海出差（客户拜访）"},
            {"name": "报销金额", "kind": "money", "value": "1280.50"},
            {"name": "发票", "kind": "attachment", "files": files if with_invoice else []},
        ],
        "trail": [{"actor": {"id": "zhangsan", "name": "张三"}, "action": "发起", "result": "none",
                   "time": "2024-03-16T09:00:00+08:00"},
                  {"actor": {"id": "lisi", "name": "李四"}, "action": "审批", "result": "agree",
                   "time": "2024-03-18T17:30:00+08:00", "remark": "同意"}],
    }


@pytest.fixture
def api_client(fonds, token):
    client = Client()
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


@pytest.fixture
def sysadmin_client(db):
    """Platform addresses (here the simulator's) are the system administrator's to set."""
    from django.contrib.auth import get_user_model

    from kjda.accounts.models import Profile
    from kjda.accounts.services import token_issue
    from kjda_oasim.factories import totp_activate

    user = get_user_model().objects.create_user("sysadmin", password="Sys-Admin-Pass-2024")
    Profile.objects.create(user=user, roles=["sysadmin"])
    totp_activate(user)  # an administrator has TOTP (issue 15, item 3)
    client = Client()
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token_issue(user=user, name='t')[1]}"
    return client


@pytest.fixture
def dingtalk(make_sim, api_client, sysadmin_client, live_server):
    sim_vendor = DingTalkSim()
    make_sim(sim_vendor)
    resp = sysadmin_client.post("/api/v1/connectors", json.dumps({
        "kind": "dingtalk", "name": "钉钉（测试）", "settings": sim_vendor.connector_settings(),
        "finance_owner_ids": ["finance01"]}), content_type="application/json")
    assert resp.status_code == 201, resp.content
    connector = resp.json()
    assert connector["settings"]["app_secret"] == "******"
    resp = api_client.post(f"/api/v1/connectors/{connector['id']}/mappings", json.dumps({
        "process_code": "PROC-REIMB-001", "scenario": "reimbursement", "category": "原始凭证",
        "fields": {"amount": "报销金额", "summary": "报销事由", "invoices": "发票"}}),
        content_type="application/json")
    assert resp.status_code == 201, resp.content
    return sim_vendor, live_server.url + connector["callback_url"]


def _process_all() -> None:
    for pk in inbox_due():
        inbox_process(event_pk=pk)


def test_approved_reimbursement_is_filed_once_with_form_invoice_and_trail(dingtalk):
    sim, callback_url = dingtalk
    instance_id = sim.create_instance(_spec())
    first = sim.fire(callback_url=callback_url, instance_id=instance_id)
    assert first["status"] == 200 and first["acknowledged"]
    again = sim.fire(callback_url=callback_url, instance_id=instance_id)  # the OA retrying
    assert again["status"] == 200
    assert InboxEvent.objects.count() == 1
    _process_all()
    record = Record.objects.get()
    assert record.status == "filed", record.check_report
    assert record.archive_no.startswith("Z001-PZ·2024·D30-")
    assert (record.source_system, record.external_id) == ("dingtalk", instance_id)
    assert record.amount == Decimal("1280.50") and record.applicant == "张三"
    kinds = [f.document_type for f in record.files.order_by("sequence")]
    assert kinds[0] == "审批单" and "原始凭证" in kinds and "审批记录" in kinds
    invoice = record.files.get(document_type="原始凭证")
    from kjda.storage.services import blob_open

    with blob_open(sha256=invoice.sha256) as fh:
        assert fh.read() == INVOICE
    # Delivered again after filing: still one record.
    sim.fire(callback_url=callback_url, instance_id=instance_id)
    _process_all()
    assert Record.objects.count() == 1


def test_wrongly_signed_callbacks_are_refused_and_replays_not_archived_twice(dingtalk):
    import httpx

    sim, callback_url = dingtalk
    instance_id = sim.create_instance(_spec())
    payload = sim.event_for(instance_id)
    other = DingTalkSim()  # same protocol, other keys: a forged sender
    forged = other.send(callback_url, payload)
    assert forged["status"] in (401, 403)
    # A byte-identical replay of an accepted delivery.
    request = sim.build_request(callback_url, payload) if hasattr(sim, "build_request") else None
    if request is not None:
        assert httpx.post(**request).status_code == 200
        assert httpx.post(**request).status_code == 200  # acknowledged, not queued again
        from kjda.connectors.models import InboxEvent

        assert InboxEvent.objects.count() == 1
    assert not Record.objects.exists()
    from kjda.audit.models import AuditEvent

    assert AuditEvent.objects.filter(action="oa.callback_rejected").exists()


def test_missing_invoice_files_pending_record_and_sends_applicant_a_todo(dingtalk):
    sim, callback_url = dingtalk
    instance_id = sim.create_instance(_spec(with_invoice=False))
    sim.fire(callback_url=callback_url, instance_id=instance_id)
    _process_all()
    record = Record.objects.get()
    assert record.status == "pending" and "GD-2-8" in record.check_report["blocking_failures"]
    notices = list(Notice.objects.order_by("pk"))
    assert {n.reason for n in notices} == {"invoice_missing"}
    for notice in notices:
        assert notice_send(notice_pk=notice.pk) == "sent"
    todo_users = {n.get("user") or n.get("userid") for n in sim.notices}
    assert sim.notices, "the applicant got nothing in DingTalk"
    assert any("zhangsan" in json.dumps(n, ensure_ascii=False) for n in sim.notices), todo_users


def test_the_applicants_todo_leads_to_the_fix_and_the_record_is_filed(dingtalk):
    """Issue 17 item 1: the OA to-do's link opens the pending record, where its applicant adds
    the missing invoice and re-checks; the record is filed with its 档号."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from kjda.archives.models import CheckReportHistory
    from kjda_oasim.factories import user_with_roles

    sim, callback_url = dingtalk
    sim.fire(callback_url=callback_url,
             instance_id=sim.create_instance(_spec(with_invoice=False)))
    _process_all()
    record = Record.objects.get()
    todo = Notice.objects.get(todo=True)
    zhangsan = user_with_roles("zhangsan", ["employee"], password="Zhang-San-Pass-2024")
    zhangsan.kjda_profile.person_name = "张三"
    zhangsan.kjda_profile.save()
    web = Client()
    web.force_login(zhangsan)
    # the link goes through the in-app entry page (a signed-in person goes straight on)
    path = todo.url.split(sim_host(todo.url), 1)[1]
    assert path == f"/m/dingtalk/?next=/records/{record.pk}/"
    page = web.get(path, follow=True).content.decode()
    assert "GD-2-8" in page and f"/records/{record.pk}/files/" in page
    web.post(f"/records/{record.pk}/files/", {
        "file": SimpleUploadedFile("住宿发票.pdf", INVOICE), "document_type": "原始凭证"})
    web.post(f"/records/{record.pk}/recheck/")
    record.refresh_from_db()
    assert record.status == "filed" and record.archive_no
    assert CheckReportHistory.objects.get(record=record).report["blocking_failures"] == ["GD-2-8"]


def sim_host(url: str) -> str:
    """The scheme and host of an absolute URL (KJDA_PUBLIC_URL), to request its path."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{rest.split('/', 1)[0]}"


def test_platform_down_then_back_loses_nothing(dingtalk, make_sim):
    sim, callback_url = dingtalk
    instance_id = sim.create_instance(_spec())
    sim.fire(callback_url=callback_url, instance_id=instance_id)
    simulator = next(iter(s for s in [sim]))
    event = InboxEvent.objects.get()
    # Simulate a worker killed mid-way: the event is claimed, then its process dies.
    from kjda.connectors.processing import inbox_claim

    assert inbox_claim(event_pk=event.pk) is not None
    assert inbox_process(event_pk=event.pk) == "skipped"  # leased by the "dead" worker
    InboxEvent.objects.filter(pk=event.pk).update(lease_until="2000-01-01T00:00:00Z")
    assert event.pk in inbox_due()
    assert inbox_process(event_pk=event.pk) == "done"
    assert Record.objects.count() == 1
    assert simulator is sim


def test_payment_is_linked_to_its_reimbursement_whichever_is_filed_first(dingtalk, api_client):
    sim, callback_url = dingtalk
    resp = api_client.get("/api/v1/connectors")
    connector_id = resp.json()[0]["id"]
    api_client.post(f"/api/v1/connectors/{connector_id}/mappings", json.dumps({
        "process_code": "PROC-PAY-001", "scenario": "payment", "category": "记账凭证",
        "fields": {"amount": "付款金额", "payee": "收款单位", "related": "关联报销单"}}),
        content_type="application/json")
    reimbursement = sim.create_instance(_spec())
    payment = sim.create_instance({
        "process_code": "PROC-PAY-001", "title": "付款申请-差旅费",
        "originator": {"id": "zhangsan", "name": "张三", "department": "销售部"},
        "form": [{"name": "付款金额", "kind": "money", "value": "1280.50"},
                 {"name": "收款单位", "value": "张三"}, {"name": "关联报销单", "value": reimbursement}],
        "trail": _spec()["trail"]})
    sim.fire(callback_url=callback_url, instance_id=payment)  # the payment arrives first
    _process_all()
    sim.fire(callback_url=callback_url, instance_id=reimbursement)
    _process_all()
    pay = Record.objects.get(external_id=payment)
    reimb = Record.objects.get(external_id=reimbursement)
    assert pay.files.filter(document_type="记账凭证").exists()  # the generated 付款凭证
    assert pay.voucher_type == "付" and pay.status == "filed"
    assert pay.relations.get().target == reimb
