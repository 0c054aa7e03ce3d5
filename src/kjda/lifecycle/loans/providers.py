"""What the loans give the rest of KJDA: the grants (records lent, kjda.accounts.grants), the
record page's mentions and the dashboard's to-dos."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from kjda.accounts.grants import Grant
from kjda.accounts.selectors import Actor, actor_profile, actor_roles
from kjda.archives.models import Record
from kjda.lifecycle.loans.models import Loan, LoanItem, LoanState
from kjda.lifecycle.loans.selectors import grants_of, loan_effective_state, loans_of_record
from kjda.lifecycle.loans.workflow import APPROVERS, HEADS, LOAN
from kjda.lifecycle.mentions import Mention
from kjda.lifecycle.todos import Todo


def grants(actor: Actor) -> dict[int, Grant]:
    return grants_of(actor)


def record_mentions(record: Record) -> list[Mention]:
    """The loans of the record: number and state only (the record page is read by others than
    archivists; the borrower's name is on the loan's page, which is scoped)."""
    return [Mention("loan", f"借阅单 {loan.loan_no}", LOAN.state_label(
        loan_effective_state(loan)) + f"（至 {loan.ends_on}）", f"/loans/{loan.pk}/",
        loan.requested_at) for loan in loans_of_record(record)]


def todos(actor: Actor) -> list[Todo]:
    if actor is None or not actor.is_authenticated:
        return []
    out: list[Todo] = []
    roles = actor_roles(actor)
    scope = actor_profile(actor).fonds
    for state, wanted, label in ((LoanState.REQUESTED, APPROVERS, "审批借阅"),
                                 (LoanState.APPROVED, HEADS, "审批借出单位外")):
        if not roles & wanted:
            continue
        qs = Loan.objects.filter(state=state).exclude(borrower_id=actor.pk)
        if state == LoanState.REQUESTED:
            qs = qs.exclude(mode="oa").exclude(mode="auto")  # the OA or the rule decides those
        else:
            qs = qs.exclude(decided_by_id=actor.pk)
        if scope:
            outside = LoanItem.objects.exclude(record__fonds__code__in=scope).values("loan_id")
            qs = qs.exclude(pk__in=outside)
        out += [Todo("loan", f"{label}：{loan.loan_no}（{loan.borrower_name}）",
                     f"/loans/{loan.pk}/", loan.requested_at) for loan in qs.order_by("pk")[:50]]
    soon = timezone.localdate() + timedelta(days=1)
    for loan in Loan.objects.filter(borrower_id=actor.pk, state=LoanState.ACTIVE,
                                    ends_on__lte=soon, ends_on__gte=timezone.localdate()):
        out.append(Todo("loan", f"归还或续借：{loan.loan_no}（{loan.ends_on} 到期）",
                        f"/loans/{loan.pk}/", loan.activated_at))
    return out
