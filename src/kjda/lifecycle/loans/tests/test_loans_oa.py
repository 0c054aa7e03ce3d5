"""Borrowing through the borrower's OA (issue 18 item 3), end to end against each simulated
platform over real HTTP: the fonds' rule routes the request to the OA, the approver decides
there, the vendor's signed callback comes back through the connectors' inbox and the loan is
decided — the record becomes visible to the borrower, or stays hidden; an OA that refuses to
take the approval hands the request to the archivists."""

from __future__ import annotations

from datetime import timedelta

import pytest
from allauth.socialaccount.models import SocialAccount
from django.utils import timezone

from kjda.archives import selectors as archive_selectors
from kjda.archives.models import BusinessEvent
from kjda.audit.models import AuditEvent
from kjda.connectors.approvals import approval_find, approval_send
from kjda.connectors.models import Notice
from kjda.connectors.processing import inbox_due, inbox_process
from kjda.connectors.services import connector_create
from kjda.lifecycle.loans import services
from kjda.lifecycle.loans.models import LoanState
from kjda.lifecycle.loans.oa import OA_FORM_LABELS
from kjda_oasim.dingtalk import DingTalkSim
from kjda_oasim.feishu import FeishuSim
from kjda_oasim.wecom.sim import WeComSim

pytestmark = pytest.mark.django_db(transaction=True)

TEMPLATES = {"dingtalk": "PROC-LOAN-0001", "wecom": "C4RYzCPX9h9GXHuzr5FR1eChWK56V5zYvy3dQNde9",
             "feishu": "7C468A54-8745-2245-9675-08B7C63E7A85"}
APPROVER = {"id": "qianjingli", "name": "钱经理"}


def _sim(kind: str):
    sim = {"dingtalk": DingTalkSim, "wecom": WeComSim, "feishu": FeishuSim}[kind]()
    if kind == "feishu":
        return sim, lambda: sim.person({"id": "lisi", "name": "李四"})["open_id"]
    return sim, lambda: (sim.add_user({"id": "lisi", "name": "李四"}), "lisi")[1]


@pytest.fixture(params=["dingtalk", "wecom", "feishu"])
def oa(request, make_sim, live_server, people):
    kind = request.param
    sim, add_borrower = _sim(kind)
    make_sim(sim)
    sim.add_template(TEMPLATES[kind], "档案借阅", OA_FORM_LABELS)
    uid = add_borrower()
    connector = connector_create(kind=kind, name=f"{kind}（测试）",
                                 settings={**sim.connector_settings(),
                                           "loan_template": TEMPLATES[kind]})
    SocialAccount.objects.create(user=people["lisi"], provider=kind, uid=uid)
    return sim, f"{live_server.url}/oa/{connector.pk}/callback"


def _sees(user, record) -> bool:
    """What the borrower sees on their next request (grants are read once per request)."""
    from django.contrib.auth import get_user_model

    fresh = get_user_model().objects.get(pk=user.pk)
    return archive_selectors.record_list(actor=fresh).filter(pk=record.pk).exists()


def _process_inbox() -> None:
    for pk in inbox_due():
        inbox_process(event_pk=pk)


def _request(people, record):
    services.loan_rule_set(actor=people["dangan"], fonds_code="Z001", mode="oa")
    loan = services.loan_request(actor=people["lisi"], purpose="年度审计抽查",
                                 ends_on=timezone.localdate() + timedelta(days=5),
                                 rights=["download"], records=[record.pk])
    assert loan.mode == "oa" and loan.state == LoanState.REQUESTED
    approval = approval_find(kind="loan", reference=loan.loan_no)
    assert approval is not None
    return loan, approval


def test_a_loan_approved_in_the_oa_lends_the_record(oa, people, ingest):
    sim, callback_url = oa
    record = ingest(1)
    assert not _sees(people["lisi"], record)
    loan, approval = _request(people, record)
    assert approval_send(approval_pk=approval.pk) == "submitted"
    approval.refresh_from_db()
    assert approval.instance_id in sim.instances

    sim.instance_decide(approval.instance_id, approved=True, approver=APPROVER,
                        comment="同意，按期归还", callback_url=callback_url)
    _process_inbox()
    loan.refresh_from_db()
    assert loan.state == LoanState.ACTIVE
    assert (loan.decided_by_name, loan.decided_channel) == ("钱经理", "oa")
    assert loan.decided_by is None  # an OA person, not a KJDA user
    assert _sees(people["lisi"], record)
    assert BusinessEvent.objects.filter(record_id=record.pk, action="利用",
                                        description__contains=loan.loan_no).exists()
    # the borrower hears of it in the OA as news, not as a task to do
    news = Notice.objects.get(reason="loan", title__contains=loan.loan_no)
    assert news.todo is False and "借阅中" in news.title


def test_a_loan_refused_in_the_oa_lends_nothing(oa, people, ingest):
    sim, callback_url = oa
    record = ingest(1)
    loan, approval = _request(people, record)
    approval_send(approval_pk=approval.pk)
    approval.refresh_from_db()
    sim.instance_decide(approval.instance_id, approved=False, approver=APPROVER,
                        comment="用途不明", callback_url=callback_url)
    _process_inbox()
    loan.refresh_from_db()
    assert loan.state == LoanState.REJECTED and loan.decision_comment == "用途不明"
    assert not _sees(people["lisi"], record)


def test_an_oa_that_refuses_the_approval_hands_the_request_to_the_archivists(oa, people,
                                                                            ingest):
    sim, _callback_url = oa
    record = ingest(1)
    # The OA's loan template was set up without the loan's fields: the platform refuses.
    code = next(iter(sim.templates))
    sim.add_template(code, "档案借阅", ["借阅单号"])
    loan, approval = _request(people, record)
    assert approval_send(approval_pk=approval.pk) == "failed"
    loan.refresh_from_db()
    assert loan.mode == "archivist" and loan.state == LoanState.REQUESTED
    assert AuditEvent.objects.filter(action="loan.oa_failed", object_id=str(loan.pk)).exists()
    loan = services.loan_decide(loan_id=loan.pk, approve=True, actor=people["dangan"])
    assert loan.state == LoanState.ACTIVE
