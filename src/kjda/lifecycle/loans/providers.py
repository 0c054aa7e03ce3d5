"""What the loans give the rest of KJDA: the grants (records lent, kjda.accounts.grants), the
record page's mentions and the dashboard's to-dos."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from kjda.accounts.grants import Grant
from kjda.accounts.selectors import Actor, actor_profile, actor_roles
from kjda.archives.models import Record
from kjda.lifecycle.loans.models import ApprovalMode, Loan, LoanItem, LoanState
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
    """Requests waiting on an approver (the OA's and the rule's excluded), lending outside the
    unit waiting on a head, and the actor's own loans ending by tomorrow: one query."""
    if actor is None or not actor.is_authenticated:
        return []
    roles = actor_roles(actor)
    today = timezone.localdate()
    wanted = Q(borrower_id=actor.pk, state=LoanState.ACTIVE, ends_on__gte=today,
               ends_on__lte=today + timedelta(days=1))
    others = Q()
    if roles & APPROVERS:
        others |= Q(state=LoanState.REQUESTED, mode=ApprovalMode.ARCHIVIST)
    if roles & HEADS:
        others |= Q(state=LoanState.APPROVED) & ~Q(decided_by_id=actor.pk)
    if others:
        mine = ~Q(borrower_id=actor.pk) & others
        scope = actor_profile(actor).fonds
        if scope:
            outside = LoanItem.objects.exclude(record__fonds__code__in=scope).values("loan_id")
            mine &= ~Q(pk__in=outside)
        wanted |= mine
    out: list[Todo] = []
    for loan in Loan.objects.filter(wanted).order_by("pk")[:100]:
        if loan.borrower_id == actor.pk:
            out.append(Todo("loan", f"归还或续借：{loan.loan_no}（{loan.ends_on} 到期）",
                            f"/loans/{loan.pk}/", loan.activated_at))
        else:
            label = "审批借阅" if loan.state == LoanState.REQUESTED else "审批借出单位外"
            out.append(Todo("loan", f"{label}：{loan.loan_no}（{loan.borrower_name}）",
                            f"/loans/{loan.pk}/", loan.requested_at))
    return out
