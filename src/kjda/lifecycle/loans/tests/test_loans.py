"""Borrowing through the services: every transition, who may take it, the grants it gives
(exactly those records, rights and period), expiry at read time, renewals, the use events."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from kjda.accounts.grants import actor_grant, actor_grants
from kjda.archives import selectors as archive_selectors
from kjda.archives.models import BusinessEvent
from kjda.archives.selectors import RecordFilters
from kjda.audit.models import AuditEvent
from kjda.errors import DomainError
from kjda.lifecycle.loans import services
from kjda.lifecycle.loans.models import Loan, LoanState
from kjda.lifecycle.loans.selectors import loan_item_views
from kjda.lifecycle.todos import todos_for


def _fresh(user):
    """The same person on a new request (grants and profile are cached per request)."""
    return type(user).objects.get(pk=user.pk)


def _visible(user, **filters) -> set[int]:
    return set(archive_selectors.record_list(actor=_fresh(user), filters=RecordFilters(
        **filters)).values_list("pk", flat=True))


def _until(days: int):
    return timezone.localdate() + timedelta(days=days)


def test_an_approved_loan_shows_exactly_those_records_with_those_rights_until_it_ends(
        people, ingest):
    lent, other = ingest(1), ingest(2)
    lisi = people["lisi"]
    assert _visible(lisi) == set()
    loan = services.loan_request(actor=lisi, purpose="年度审计抽查", ends_on=_until(7),
                                 rights=["view"], records=[lent.archive_no])
    assert loan.loan_no.startswith(f"JY-{timezone.localdate().year}-")
    assert loan.state == LoanState.REQUESTED and AuditEvent.objects.filter(action="loan.request", object_id=str(loan.pk)).exists()
    assert _visible(lisi) == set()  # nothing before approval
    # the borrower sees only the archive number they named, never the title
    view = loan_item_views(actor=_fresh(lisi), loan=loan)
    assert [(v.archive_no, v.title) for v in view] == [(lent.archive_no, "")]
    todo = [t.title for t in todos_for(_fresh(people["dangan"]))]
    assert f"审批借阅：{loan.loan_no}（李四）" in todo

    loan = services.loan_decide(loan_id=loan.pk, approve=True, actor=people["dangan"],
                                comment="同意")
    assert loan.state == LoanState.ACTIVE and AuditEvent.objects.filter(action="loan.decide", object_id=str(loan.pk)).exists()
    assert _visible(lisi) == {lent.pk}
    assert other.pk not in _visible(lisi)
    assert _visible(lisi, q="差旅费") == {lent.pk}  # the search counts through the join
    grant = actor_grant(_fresh(lisi), lent.pk)
    assert grant is not None and grant.loan_no == loan.loan_no
    assert grant.allows("view") and not grant.allows("download") and not grant.allows("print")
    assert archive_selectors.record_get(actor=_fresh(lisi), record_id=lent.pk).pk == lent.pk
    assert BusinessEvent.objects.filter(record=lent, action="利用",
                                        description__contains=f"借阅 {loan.loan_no}：批准"
                                        ).exists()
    assert not BusinessEvent.objects.filter(record=other, action="利用").exists()
    # no volume becomes visible through a lent record
    from kjda.lifecycle.volumes.selectors import volume_list
    assert not volume_list(actor=_fresh(lisi)).exists()

    # expiry takes effect at read time, before the daily job
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        assert _visible(lisi) == set()
        assert actor_grants(_fresh(lisi)) == {}
        with pytest.raises(DomainError):
            archive_selectors.record_get(actor=_fresh(lisi), record_id=lent.pk)
        assert [x.pk for x in services.loans_expire()] == [loan.pk]
    loan.refresh_from_db()
    assert loan.state == LoanState.EXPIRED and AuditEvent.objects.filter(action="loan.expire", object_id=str(loan.pk)).exists()
    assert BusinessEvent.objects.filter(record=lent, description__contains="到期").exists()


def test_return_ends_the_loan_early_and_only_borrower_or_archivist_may(people, ingest):
    record = ingest(1)
    lisi = people["lisi"]
    loan = services.loan_request(actor=lisi, purpose="核对", ends_on=_until(5),
                                 rights=["view", "download"], records=[record.pk])
    with pytest.raises(DomainError) as exc:  # nobody approves their own loan, nor an employee
        services.loan_decide(loan_id=loan.pk, approve=True, actor=people["wangwu"])
    assert exc.value.status == 403
    services.loan_decide(loan_id=loan.pk, approve=True, actor=people["dangan"])
    assert actor_grant(_fresh(lisi), record.pk).allows("download")
    # an archivist who borrows cannot approve their own request
    own = services.loan_request(actor=people["dangan"], purpose="自查", ends_on=_until(2),
                                rights=[], records=[record.pk])
    with pytest.raises(DomainError) as exc:
        services.loan_decide(loan_id=own.pk, approve=True, actor=people["dangan"])
    assert exc.value.status == 403
    with pytest.raises(DomainError) as exc:
        services.loan_return(actor=people["wangwu"], loan_id=loan.pk)
    assert exc.value.status == 403
    loan = services.loan_return(actor=lisi, loan_id=loan.pk)
    assert loan.state == LoanState.RETURNED and loan.returned_at and AuditEvent.objects.filter(action="loan.return", object_id=str(loan.pk)).exists()
    assert _visible(lisi) == set()
    with pytest.raises(DomainError) as exc:
        services.loan_return(actor=lisi, loan_id=loan.pk)
    assert exc.value.status == 409


def test_a_rejected_or_cancelled_request_lends_nothing(people, ingest):
    record = ingest(1)
    lisi = people["lisi"]
    a = services.loan_request(actor=lisi, purpose="查阅", ends_on=_until(3), rights=[],
                              records=[record.pk])
    a = services.loan_decide(loan_id=a.pk, approve=False, actor=people["dangan"],
                             comment="无查阅必要")
    assert a.state == LoanState.REJECTED and a.decision_comment == "无查阅必要"
    b = services.loan_request(actor=lisi, purpose="查阅", ends_on=_until(3), rights=[],
                              records=[record.pk])
    with pytest.raises(DomainError):
        services.loan_cancel(actor=people["wangwu"], loan_id=b.pk)
    b = services.loan_cancel(actor=lisi, loan_id=b.pk)
    assert b.state == LoanState.CANCELLED and AuditEvent.objects.filter(action="loan.cancel", object_id=str(b.pk)).exists()
    with pytest.raises(DomainError) as exc:
        services.loan_decide(loan_id=b.pk, approve=True, actor=people["dangan"])
    assert exc.value.status == 409
    assert _visible(lisi) == set()


def test_lending_outside_the_unit_needs_the_heads_second_approval_by_another_person(
        people, ingest):
    record = ingest(1)
    lisi = people["lisi"]
    with pytest.raises(DomainError):
        services.loan_request(actor=lisi, purpose="外部审计", ends_on=_until(5),
                              rights=["view"], records=[record.pk], external=True)
    loan = services.loan_request(actor=lisi, purpose="外部审计", ends_on=_until(5),
                                 rights=["view"], records=[record.pk], external=True,
                                 organisation="某会计师事务所")
    loan = services.loan_decide(loan_id=loan.pk, approve=True, actor=people["dazhuguan"])
    assert loan.state == LoanState.APPROVED
    assert _visible(lisi) == set()  # not lent until the second approval
    with pytest.raises(DomainError) as exc:  # the same person cannot give the second approval
        services.loan_decide(loan_id=loan.pk, approve=True, actor=people["dazhuguan"])
    assert exc.value.status == 403
    with pytest.raises(DomainError) as exc:  # an archivist is not the head
        services.loan_decide(loan_id=loan.pk, approve=True, actor=people["dangan"])
    assert exc.value.status == 403
    assert any(loan.loan_no in t.title for t in todos_for(_fresh(people["fuzeren"])))
    loan = services.loan_decide(loan_id=loan.pk, approve=True, actor=people["fuzeren"],
                                comment="同意借出")
    assert loan.state == LoanState.ACTIVE and loan.second_by_name == "fuzeren"
    assert _visible(lisi) == {record.pk}
    assert actor_grant(_fresh(lisi), record.pk).external


def test_the_auto_rule_approves_own_department_records_within_ten_years_only(people, ingest):
    own = ingest(1, department="销售部")
    old = ingest(2, year=2010, department="销售部")
    other = ingest(3, department="财务部")
    lisi = people["lisi"]
    rule = services.loan_rule_set(actor=people["dangan"], fonds_code="Z001", mode="auto",
                                  max_days=15)
    assert rule.auto_max_age_years == 10
    assert AuditEvent.objects.filter(action="loan_rule.set", object_id="Z001").exists()
    auto = services.loan_request(actor=lisi, purpose="复核", ends_on=_until(3), rights=["view"],
                                 records=[own.pk])
    assert auto.state == LoanState.ACTIVE and auto.decided_channel == "auto"
    for record in (old, other):
        loan = services.loan_request(actor=lisi, purpose="复核", ends_on=_until(3),
                                     rights=["view"], records=[record.pk])
        assert loan.state == LoanState.REQUESTED  # falls back to the archivist
    printed = services.loan_request(actor=lisi, purpose="复核", ends_on=_until(3),
                                    rights=["view", "print"], records=[own.pk])
    assert printed.state == LoanState.REQUESTED  # printing is not in the rule's rights
    with pytest.raises(DomainError) as exc:
        services.loan_request(actor=lisi, purpose="复核", ends_on=_until(20), rights=["view"],
                              records=[own.pk])
    assert exc.value.code == "loan_period_too_long"
    ext = services.loan_request(actor=lisi, purpose="复核", ends_on=_until(3), rights=["view"],
                                records=[own.pk], external=True, organisation="税务局")
    assert ext.state == LoanState.REQUESTED  # never automatic outside the unit


def test_a_renewal_asks_again_and_approved_extends_the_loan(people, ingest):
    record = ingest(1)
    lisi = people["lisi"]
    loan = services.loan_request(actor=lisi, purpose="审计", ends_on=_until(1), rights=[],
                                 records=[record.pk])
    services.loan_decide(loan_id=loan.pk, approve=True, actor=people["dangan"])
    assert services.loans_remind() == [Loan.objects.get(pk=loan.pk)]
    assert services.loans_remind() == []  # once
    assert AuditEvent.objects.filter(action="loan.remind", object_id=str(loan.pk)).exists()
    assert any("归还或续借" in t.title for t in todos_for(_fresh(lisi)))
    renewal = services.loan_renew(actor=lisi, loan_id=loan.pk, ends_on=_until(10))
    assert renewal.renewal_of_id == loan.pk and renewal.state == LoanState.REQUESTED
    assert AuditEvent.objects.filter(action="loan.renew", object_id=str(renewal.pk)).exists()
    with pytest.raises(DomainError):
        services.loan_renew(actor=lisi, loan_id=loan.pk, ends_on=_until(12))  # one at a time
    services.loan_decide(loan_id=renewal.pk, approve=True, actor=people["dangan"])
    renewal.refresh_from_db()
    loan.refresh_from_db()
    assert renewal.state == LoanState.EXTENDED and loan.ends_on == _until(10)
    with time_machine.travel(timezone.now() + timedelta(days=5)):
        assert _visible(lisi) == {record.pk}


def test_a_volume_or_a_search_is_resolved_without_showing_the_borrower_what_it_found(
        people, ingest):
    a, b = ingest(1, title="差旅费报销 甲"), ingest(2, title="差旅费报销 乙")
    ingest(3, title="办公用品采购")
    lisi = people["lisi"]
    loan = services.loan_request(actor=lisi, purpose="专项检查", ends_on=_until(3), rights=[],
                                 query={"q": "差旅费", "fonds": "Z001"})
    assert set(loan.items.values_list("record_id", flat=True)) == {a.pk, b.pk}
    assert all(v.archive_no == "" and v.title == "" for v in loan_item_views(
        actor=_fresh(lisi), loan=loan))
    with pytest.raises(DomainError) as exc:
        services.loan_request(actor=lisi, purpose="x", ends_on=_until(3), rights=[], query={})
    assert exc.value.status == 400
    with pytest.raises(DomainError) as exc:
        services.loan_request(actor=lisi, purpose="x", ends_on=_until(3), rights=[],
                              records=["Z001-NOPE"])
    assert exc.value.status == 404


def test_the_oa_decision_comes_back_by_loan_number_from_an_oa_person(people, ingest):
    from kjda.lifecycle.loans import oa

    record = ingest(1)
    services.loan_rule_set(actor=people["dangan"], fonds_code="Z001", mode="oa")
    loan = services.loan_request(actor=people["lisi"], purpose="审计", ends_on=_until(3),
                                 rights=[], records=[record.pk])
    if loan.mode == "oa":  # the connectors' approvals exist and the borrower has an OA
        oa.loan_oa_result(reference=loan.loan_no, approved=True, approver="钱经理",
                          comment="同意", instance_id="PROC-1")
        loan.refresh_from_db()
        assert loan.state == LoanState.ACTIVE and loan.decided_by_name == "钱经理"
    else:  # no OA to submit to: the archivist decides, and an OA result is refused
        assert loan.mode == "archivist"
        with pytest.raises(DomainError) as exc:
            oa.loan_oa_result(reference=loan.loan_no, approved=True, approver="钱经理",
                              comment="", instance_id="")
        assert exc.value.status == 409
    # loan_decide is callable with an OA person's name and no KJDA user
    Loan.objects.filter(pk=loan.pk).update(mode="oa", state="requested")
    loan = services.loan_decide(loan_id=loan.pk, approve=False, approver_name="钱经理",
                                channel="oa", comment="不同意", instance_id="PROC-2")
    assert loan.state == LoanState.REJECTED and loan.decided_by is None
    event = AuditEvent.objects.filter(action="loan.decide", object_id=str(loan.pk)).last()
    assert event.detail["approver"] == "钱经理" and event.detail["channel"] == "oa"


def test_records_out_on_an_open_loan_are_never_destroyed(people, ingest):
    from kjda.lifecycle.destruction.selectors import destruction_refusals, records_in_open_loan

    a, b = ingest(1, year=1990), ingest(2, year=1990)  # a 30-year term ended long ago
    loan = services.loan_request(actor=people["lisi"], purpose="审计", ends_on=_until(3),
                                 rights=[], records=[a.pk])
    assert records_in_open_loan(record_ids=[a.pk, b.pk]) == {a.pk}
    codes = {r.record_id: r.code for r in destruction_refusals(record_ids=[a.pk, b.pk])}
    assert codes[a.pk] == "on_loan" and codes.get(b.pk) != "on_loan"
    services.loan_cancel(actor=people["lisi"], loan_id=loan.pk)
    assert records_in_open_loan(record_ids=[a.pk, b.pk]) == set()


def test_a_volume_is_lent_as_its_filed_records(people, ingest, fonds):
    from kjda.archives.models import Record
    from kjda.lifecycle.volumes.services import volumes_assemble

    a, b = ingest(1), ingest(2)
    volumes_assemble(fonds=fonds, fiscal_year=2024, actor=people["dangan"])
    volume_id = Record.objects.get(pk=a.pk).volume_id
    assert volume_id and Record.objects.get(pk=b.pk).volume_id == volume_id
    loan = services.loan_request(actor=people["lisi"], purpose="查阅整卷", ends_on=_until(2),
                                 rights=["view"], volume_id=volume_id)
    assert loan.source == "volume"
    assert set(loan.items.values_list("record_id", flat=True)) == {a.pk, b.pk}
    services.loan_decide(loan_id=loan.pk, approve=True, actor=people["dangan"])
    assert _visible(people["lisi"]) == {a.pk, b.pk}
