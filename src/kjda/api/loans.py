"""Borrowing (借阅, issue 18): /api/v1/loans, the 借阅登记簿, the statistics and the lending
rules. Thin over kjda.lifecycle.loans (services write, selectors read in the user's scope)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.utils import timezone
from ninja import Query, Router, Schema, Status

from kjda.accounts.requests import AuthedRequest
from kjda.accounts.roles import Perm
from kjda.lifecycle.loans import selectors, services
from kjda.lifecycle.loans.models import Loan
from kjda.lifecycle.loans.registers import loan_register
from kjda.lifecycle.loans.workflow import LOAN
from kjda.lifecycle.registers import register_download

from .permissions import require, require_token_scope

router = Router(tags=["loans"])


class LoanIn(Schema):
    records: list[int | str] = []  # record ids or archive numbers (档号)
    volume: int | None = None
    query: dict[str, str] | None = None  # q, fonds, fiscal_year, category, department
    purpose: str
    starts_on: date | None = None
    until: date
    rights: list[str] = ["view"]
    external: bool = False
    organisation: str = ""


class DecideIn(Schema):
    comment: str = ""


class RenewIn(Schema):
    until: date
    purpose: str = ""


class LoanQuery(Schema):
    mine: bool = False
    state: str = ""
    year: int | None = None


class YearQuery(Schema):
    year: int | None = None


class RuleIn(Schema):
    mode: str
    max_days: int = 30
    auto_own_department: bool = True
    auto_max_age_years: int = 10
    auto_rights: list[str] = ["view", "download"]


class ItemOut(Schema):
    record_id: int
    archive_no: str
    title: str


class LoanOut(Schema):
    id: int
    loan_no: str
    borrower: str
    borrower_name: str
    department: str
    purpose: str
    starts_on: date
    until: date
    rights: list[str]
    external: bool
    organisation: str
    source: str
    mode: str
    state: str
    state_label: str
    renewal_of: str | None
    requested_at: datetime
    decided_by: str
    decided_at: datetime | None
    decision_comment: str
    second_by: str
    second_at: datetime | None
    returned_at: datetime | None
    item_count: int
    next_steps: list[str]


class LoanDetailOut(LoanOut):
    items: list[ItemOut]


class RuleOut(Schema):
    fonds: str
    mode: str
    max_days: int
    auto_own_department: bool
    auto_max_age_years: int
    auto_rights: list[str]


def _out(request: AuthedRequest, loan: Loan, *, detail: bool = False) -> dict[str, Any]:
    count = getattr(loan, "item_count", None)
    state = selectors.loan_effective_state(loan)
    data: dict[str, Any] = {
        "id": loan.pk, "loan_no": loan.loan_no, "borrower": loan.borrower.get_username(),
        "borrower_name": loan.borrower_name, "department": loan.borrower_department,
        "purpose": loan.purpose, "starts_on": loan.starts_on, "until": loan.ends_on,
        "rights": loan.rights, "external": loan.external, "organisation": loan.organisation,
        "source": loan.source, "mode": loan.mode, "state": state,
        "state_label": LOAN.state_label(state),
        "renewal_of": loan.renewal_of.loan_no if loan.renewal_of_id and loan.renewal_of
        else None,
        "requested_at": loan.requested_at, "decided_by": loan.decided_by_name,
        "decided_at": loan.decided_at, "decision_comment": loan.decision_comment,
        "second_by": loan.second_by_name, "second_at": loan.second_at,
        "returned_at": loan.returned_at,
        "item_count": count if count is not None else loan.items.count(),
        "next_steps": selectors.loan_next_steps(actor=request.user, loan=loan)}
    if detail:
        data["items"] = [{"record_id": v.record_id, "archive_no": v.archive_no,
                          "title": v.title}
                         for v in selectors.loan_item_views(actor=request.user, loan=loan)]
    return data


def _detail(request: AuthedRequest, loan_id: int) -> dict[str, Any]:
    return _out(request, selectors.loan_get(actor=request.user, loan_id=loan_id), detail=True)


def _writable(request: AuthedRequest, loan_id: int) -> None:
    require_token_scope(request, "ingest")
    selectors.loan_get(actor=request.user, loan_id=loan_id)


@router.post("/loans", response={201: LoanDetailOut})
def loan_request(request: AuthedRequest, body: LoanIn):
    require(request, Perm.RECORD_READ)
    loan = services.loan_request(
        actor=request.user, purpose=body.purpose, ends_on=body.until, rights=body.rights,
        records=body.records, volume_id=body.volume, query=body.query,
        starts_on=body.starts_on, external=body.external, organisation=body.organisation,
        channel="api", request=request)
    return Status(201, _detail(request, loan.pk))


@router.get("/loans", response=list[LoanOut])
def loan_list(request: AuthedRequest, q: Query[LoanQuery]):
    """The caller's own loans and, for archivists, heads and auditors, the loans of their
    fonds (`mine=true`: own only)."""
    require_token_scope(request, "read")
    return [_out(request, loan) for loan in selectors.loan_list(
        actor=request.user, mine=q.mine, state=q.state, year=q.year)[:500]]


@router.get("/loans/register")
def loan_register_download(request: AuthedRequest, q: Query[YearQuery],
                           format: str = "pdf"):  # noqa: A002 - the query parameter's name
    """The 借阅登记簿 of a year (default: this year) as PDF/A or Excel (`format=xlsx`)."""
    require(request, Perm.LOAN_READ)
    year = q.year or timezone.localdate().year
    kind = "xlsx" if format == "xlsx" else "pdf"
    return register_download(request, loan_register(actor=request.user, year=year), kind=kind,
                             label="会计档案借阅登记簿", object_type="loan_register",
                             object_id=str(year), filename=f"loans-{year}")


@router.get("/loans/statistics", response=dict[str, Any])
def loan_statistics(request: AuthedRequest, q: Query[YearQuery]):
    require(request, Perm.LOAN_READ)
    return selectors.loan_statistics(actor=request.user, year=q.year)


@router.get("/loans/{loan_id}", response=LoanDetailOut)
def loan_detail(request: AuthedRequest, loan_id: int):
    require_token_scope(request, "read")
    return _detail(request, loan_id)


@router.post("/loans/{loan_id}/approve", response=LoanDetailOut)
def loan_approve(request: AuthedRequest, loan_id: int, body: DecideIn | None = None):
    """The archivist's approval; lending outside the unit, then the head's second one."""
    _writable(request, loan_id)
    services.loan_decide(loan_id=loan_id, approve=True, actor=request.user, channel="api",
                         comment=body.comment if body else "", request=request)
    return _detail(request, loan_id)


@router.post("/loans/{loan_id}/reject", response=LoanDetailOut)
def loan_reject(request: AuthedRequest, loan_id: int, body: DecideIn | None = None):
    _writable(request, loan_id)
    services.loan_decide(loan_id=loan_id, approve=False, actor=request.user, channel="api",
                         comment=body.comment if body else "", request=request)
    return _detail(request, loan_id)


@router.post("/loans/{loan_id}/return", response=LoanDetailOut)
def loan_return(request: AuthedRequest, loan_id: int):
    _writable(request, loan_id)
    services.loan_return(actor=request.user, loan_id=loan_id, request=request)
    return _detail(request, loan_id)


@router.post("/loans/{loan_id}/cancel", response=LoanDetailOut)
def loan_cancel(request: AuthedRequest, loan_id: int):
    _writable(request, loan_id)
    services.loan_cancel(actor=request.user, loan_id=loan_id, request=request)
    return _detail(request, loan_id)


@router.post("/loans/{loan_id}/renew", response={201: LoanDetailOut})
def loan_renew(request: AuthedRequest, loan_id: int, body: RenewIn):
    """A renewal request (a new loan linked to this one); approved, it extends this loan."""
    _writable(request, loan_id)
    renewal = services.loan_renew(actor=request.user, loan_id=loan_id, ends_on=body.until,
                                  purpose=body.purpose, request=request)
    return Status(201, _detail(request, renewal.pk))


@router.get("/loan-rules", response=list[RuleOut])
def loan_rules(request: AuthedRequest):
    require(request, Perm.LOAN_READ)
    return [_rule_out(f.code, r) for f, r in selectors.loan_rules(actor=request.user)]


@router.put("/loan-rules/{fonds}", response=RuleOut)
def loan_rule_set(request: AuthedRequest, fonds: str, body: RuleIn):
    require(request, Perm.LOAN_RULES)
    rule = services.loan_rule_set(
        actor=request.user, fonds_code=fonds, mode=body.mode, max_days=body.max_days,
        auto_own_department=body.auto_own_department,
        auto_max_age_years=body.auto_max_age_years, auto_rights=body.auto_rights,
        request=request)
    return _rule_out(fonds, rule)


def _rule_out(code: str, rule: Any) -> dict[str, Any]:
    return {"fonds": code, "mode": rule.mode, "max_days": rule.max_days,
            "auto_own_department": rule.auto_own_department,
            "auto_max_age_years": rule.auto_max_age_years,
            "auto_rights": list(rule.auto_rights or [])}

