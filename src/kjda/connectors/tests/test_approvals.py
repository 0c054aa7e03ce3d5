"""Approvals KJDA starts in a user's OA (a loan request), end to end against each simulated
platform through real HTTP: the instance is created with the form, the approver decides in the
OA, the vendor's signed callback comes back through the inbox, the instance is re-fetched and
the handler registered for the kind learns the result exactly once; a missed callback is
recovered by the sweep; nothing of it is ever archived as a record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model

from kjda.archives.models import Record
from kjda.audit.models import AuditEvent
from kjda.connectors import approvals
from kjda.connectors.approvals import (
    approval_find,
    approval_handler_register,
    approval_send,
    approval_submit,
)
from kjda.connectors.models import Connector, InboxEvent, OutgoingApproval
from kjda.connectors.processing import inbox_due, inbox_process
from kjda.connectors.services import connector_create, mapping_create
from kjda.connectors.tasks import sweep_connector
from kjda_oasim.dingtalk import DingTalkSim
from kjda_oasim.feishu import FeishuSim
from kjda_oasim.wecom.sim import WeComSim

pytestmark = pytest.mark.django_db(transaction=True)

LABELS = ["借阅单号", "档案", "借阅目的", "借阅期限"]
FIELDS = [("借阅单号", "JY-2026-0007"), ("档案", "Z001-PZ·2024·D30-0001 差旅费报销"),
          ("借阅目的", "年度审计抽查"), ("借阅期限", "2026-12-07 至 2026-12-14")]
TEMPLATES = {"dingtalk": "PROC-3F2A9C1E-LOAN", "wecom": "C4RYzCPX9h9GXHuzr5FR1eChWK56V5zYvy3dQNde9",
             "feishu": "7C468A54-8745-2245-9675-08B7C63E7A85"}
APPROVER = {"id": "wangjingli", "name": "王经理"}


@dataclass
class OA:
    kind: str
    sim: Any
    connector: Connector
    callback_url: str
    user: Any
    uid: str

    def form(self, instance_id: str) -> dict[str, str]:
        """The instance's form as the platform keeps it, label → value."""
        inst = self.sim.instances[instance_id]
        if self.kind == "dingtalk":
            return {c["name"]: c["value"] for c in inst["result"]["formComponentValues"]}
        if self.kind == "wecom":
            return {c["title"][0]["text"]: c["value"]["text"]
                    for c in inst["apply_data"]["contents"]}
        return {w["name"]: w["value"] for w in inst["form"]}

    def originator(self, instance_id: str) -> str:
        inst = self.sim.instances[instance_id]
        if self.kind == "dingtalk":
            return inst["result"]["originatorUserId"]
        if self.kind == "wecom":
            return inst["applyer"]["userid"]
        return inst["open_id"]


def _sim(kind: str):
    if kind == "dingtalk":
        sim = DingTalkSim()
        return sim, lambda: sim.add_user({"id": "zhangsan", "name": "张三"})
    if kind == "wecom":
        sim = WeComSim()
        return sim, lambda: sim.add_user({"id": "zhangsan", "name": "张三"})
    sim = FeishuSim()
    return sim, lambda: sim.person({"id": "zhangsan", "name": "张三"})["open_id"]


@pytest.fixture(params=["dingtalk", "wecom", "feishu"])
def oa(request, make_sim, live_server, fonds) -> OA:
    kind = request.param
    sim, add_originator = _sim(kind)
    make_sim(sim)
    sim.add_template(TEMPLATES[kind], "档案借阅", LABELS)
    uid = add_originator()
    connector = connector_create(kind=kind, name=f"{kind}（测试）",
                                 settings={**sim.connector_settings(),
                                           "loan_template": TEMPLATES[kind]})
    user = get_user_model().objects.create_user("zhangsan", password="Borrower-Pass-2026")
    SocialAccount.objects.create(user=user, provider=kind, uid=uid)
    return OA(kind, sim, connector, f"{live_server.url}/oa/{connector.pk}/callback", user, uid)


@pytest.fixture
def results(monkeypatch) -> list[dict]:
    """The loan side: a handler that records each result it is told."""
    calls: list[dict] = []
    monkeypatch.setattr(approvals, "_handlers", {})

    def on_loan_result(*, reference: str, approved: bool, approver: str, comment: str,
                       instance_id: str) -> None:
        calls.append({"reference": reference, "approved": approved, "approver": approver,
                      "comment": comment, "instance_id": instance_id})

    approval_handler_register("loan", on_loan_result)
    return calls


def _submit(oa: OA) -> OutgoingApproval:
    approval = approval_submit(user=oa.user, kind="loan", reference="JY-2026-0007",
                               title="档案借阅 JY-2026-0007", fields=FIELDS,
                               url="/m/loans/7/")
    assert approval is not None and approval.state == "pending"
    assert approval_send(approval_pk=approval.pk) == "submitted"
    approval.refresh_from_db()
    return approval


def _process_inbox() -> None:
    for pk in inbox_due():
        inbox_process(event_pk=pk)


def test_a_loan_becomes_an_oa_approval_and_its_approval_comes_back_once(oa, results):
    # Even with an archive mapping for the loan template, a loan approval is never archived.
    mapping_create(connector=oa.connector, process_code=TEMPLATES[oa.kind],
                   scenario="contract", category="原始凭证", fields={})
    approval = _submit(oa)
    assert approval.instance_id in oa.sim.instances
    assert oa.form(approval.instance_id) == dict(FIELDS)
    assert oa.originator(approval.instance_id) == oa.uid
    assert approval.url.endswith("/m/loans/7/")
    if oa.kind == "feishu":  # Feishu sends a definition's events only once subscribed
        assert oa.sim.subscribed == {TEMPLATES["feishu"]}

    delivered = oa.sim.instance_decide(approval.instance_id, approved=True, approver=APPROVER,
                                       comment="同意，按期归还", callback_url=oa.callback_url)
    assert delivered["status"] == 200
    _process_inbox()
    assert results == [{"reference": "JY-2026-0007", "approved": True, "approver": "王经理",
                        "comment": "同意，按期归还", "instance_id": approval.instance_id}]
    approval.refresh_from_db()
    assert (approval.state, approval.approver) == ("approved", "王经理")
    assert approval_find(kind="loan", reference="JY-2026-0007") == approval

    # The OA delivering the result again, and a poll racing it: the handler is not called again.
    oa.sim.fire(callback_url=oa.callback_url, instance_id=approval.instance_id)
    _process_inbox()
    assert sweep_connector(connector_pk=str(oa.connector.pk)) == 0
    assert len(results) == 1
    assert not Record.objects.exists()
    assert set(InboxEvent.objects.values_list("status", flat=True)) == {"done"}
    actions = list(AuditEvent.objects.filter(object_type="outgoing_approval")
                   .order_by("pk").values_list("action", flat=True))
    assert actions == ["oa.approval_submit", "oa.approval_submitted", "oa.approval_result"]


def test_a_refusal_comes_back_as_not_approved_with_the_approvers_comment(oa, results):
    approval = _submit(oa)
    oa.sim.instance_decide(approval.instance_id, approved=False, approver=APPROVER,
                           comment="用途不明，请补充说明", callback_url=oa.callback_url)
    _process_inbox()
    assert results == [{"reference": "JY-2026-0007", "approved": False, "approver": "王经理",
                        "comment": "用途不明，请补充说明", "instance_id": approval.instance_id}]
    approval.refresh_from_db()
    assert approval.state == "rejected" and approval.comment == "用途不明，请补充说明"
    assert not Record.objects.exists()


def test_a_missed_callback_is_recovered_by_the_sweep(oa, results):
    approval = _submit(oa)
    assert sweep_connector(connector_pk=str(oa.connector.pk)) == 0
    assert results == []  # still running in the OA
    oa.sim.instance_decide(approval.instance_id, approved=True, approver=APPROVER,
                           comment="同意")  # the callback never arrives
    sweep_connector(connector_pk=str(oa.connector.pk))
    assert [(r["approved"], r["approver"]) for r in results] == [(True, "王经理")]
    sweep_connector(connector_pk=str(oa.connector.pk))
    assert len(results) == 1
    assert not Record.objects.exists()


def test_no_oa_link_or_no_template_means_no_oa_approval(oa, results):
    stranger = get_user_model().objects.create_user("lisi", password="Stranger-Pass-2026")
    assert approval_submit(user=stranger, kind="loan", reference="JY-1", title="借阅",
                           fields=FIELDS, url="/") is None
    # a kind the connector has no template for
    assert approval_submit(user=oa.user, kind="transfer", reference="YJ-1", title="移交",
                           fields=FIELDS, url="/") is None
    assert not OutgoingApproval.objects.exists()


def test_a_form_the_template_does_not_have_fails_visibly(oa, results):
    approval = approval_submit(user=oa.user, kind="loan", reference="JY-9", title="借阅",
                               fields=[*FIELDS, ("密级", "秘密")], url="/")
    assert approval is not None
    assert approval_send(approval_pk=approval.pk) == "failed"
    approval.refresh_from_db()
    assert approval.state == "failed" and "密级" in approval.last_error
    event = AuditEvent.objects.get(action="oa.approval_failed")
    # DingTalk's create names components by label: the platform itself refuses the field.
    code = "dingtalk_error" if oa.kind == "dingtalk" else "approval_form_mismatch"
    assert event.outcome == "failure" and event.detail["code"] == code
    assert results == []


def test_an_unreachable_oa_is_retried_later_not_failed(oa, results):
    approval = approval_submit(user=oa.user, kind="loan", reference="JY-8", title="借阅",
                               fields=FIELDS, url="/")
    assert approval is not None
    Connector.objects.filter(pk=oa.connector.pk).update(
        settings={**oa.connector.settings, **_unreachable(oa.kind)})
    assert approval_send(approval_pk=approval.pk) == "pending"
    approval.refresh_from_db()
    assert approval.state == "pending" and approval.next_attempt_at is not None
    assert approval.last_error and approval.attempts == 1


def _unreachable(kind: str) -> dict[str, str]:
    dead = "http://127.0.0.1:9"  # discard port: connection refused
    if kind == "dingtalk":
        return {"api_base_url": dead, "oapi_base_url": dead}
    return {"api_base_url": dead}


@pytest.mark.parametrize("oa", ["dingtalk"], indirect=True)
def test_a_handler_that_fails_leaves_the_result_to_be_delivered_again(oa, results):
    failing = {"left": 1}

    def flaky(**kwargs) -> None:
        if failing["left"]:
            failing["left"] -= 1
            raise RuntimeError("loans database briefly unavailable")
        results.append(kwargs)

    approval_handler_register("loan", flaky)
    approval = _submit(oa)
    oa.sim.instance_decide(approval.instance_id, approved=True, approver=APPROVER,
                           comment="同意", callback_url=oa.callback_url)
    _process_inbox()
    approval.refresh_from_db()
    assert approval.state == "submitted" and results == []  # rolled back with the handler
    event = InboxEvent.objects.get()
    assert event.status == "received" and "briefly unavailable" in event.last_error
    InboxEvent.objects.filter(pk=event.pk).update(next_attempt_at=None)  # the retry is due
    _process_inbox()
    assert [r["approved"] for r in results] == [True]
    approval.refresh_from_db()
    assert approval.state == "approved"
    assert AuditEvent.objects.filter(action="oa.approval_result").count() == 1
