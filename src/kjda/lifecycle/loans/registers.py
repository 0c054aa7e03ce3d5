"""The 借阅登记簿 (79号令 Art.13: every loan registered) of a year as a
`kjda.lifecycle.registers.Register` (PDF/A and Excel)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from kjda.accounts.selectors import Actor
from kjda.lifecycle.loans.models import RIGHT_LABELS, Loan, LoanItem, LoanState
from kjda.lifecycle.loans.selectors import loan_effective_state, loan_register_loans
from kjda.lifecycle.loans.workflow import LOAN
from kjda.lifecycle.registers import Column, Register

COLUMNS = [
    Column("序号", 0.5, "center"), Column("借阅单号", 1.3), Column("借阅人", 0.9),
    Column("部门", 1.0), Column("档号 / 题名", 3.4), Column("借阅目的", 1.6),
    Column("权限", 0.9), Column("借阅期限", 1.4, "center"), Column("审批人", 1.2),
    Column("归还 / 到期", 1.2), Column("借出单位外", 1.1),
]


def _items(loan_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    rows = (LoanItem.objects.filter(loan_id__in=loan_ids)
            .values_list("loan_id", "record__archive_no", "record__title")
            .order_by("loan_id", "record__archive_no"))
    for loan_id, archive_no, title in rows:
        out.setdefault(loan_id, []).append(f"{archive_no or ''} {title}".strip())
    return out


def _end(loan: Loan) -> str:
    state = loan_effective_state(loan)
    if state == LoanState.RETURNED and loan.returned_at:
        return f"已归还 {timezone.localtime(loan.returned_at):%Y-%m-%d}"
    if state == LoanState.EXPIRED:
        return f"已到期 {loan.ends_on}"
    return LOAN.state_label(state)


def _rows(loans: list[Loan]) -> Iterable[list[Any]]:
    items = _items([loan.pk for loan in loans])
    for n, loan in enumerate(loans, 1):
        approvers = "；".join(x for x in (loan.decided_by_name, loan.second_by_name) if x)
        renewed = [r.loan_no for r in loan.renewals.all() if r.state == LoanState.EXTENDED]
        period = f"{loan.starts_on} 至 {loan.ends_on}" + (
            f"（续借 {'、'.join(renewed)}）" if renewed else "")
        yield [n, loan.loan_no, loan.borrower_name, loan.borrower_department,
               "\n".join(items.get(loan.pk, [])), loan.purpose,
               "、".join(RIGHT_LABELS.get(r, r) for r in loan.rights), period, approvers,
               _end(loan),
               f"是：{loan.organisation}" if loan.external else "否"]


def loan_register(*, actor: Actor, year: int) -> Register:
    loans = list(loan_register_loans(actor=actor, year=year).prefetch_related("renewals"))
    now = timezone.now()
    external = sum(loan.external for loan in loans)
    return Register(
        title="会计档案借阅登记簿", columns=COLUMNS, rows=list(_rows(loans)),
        particulars=[("年度", str(year)), ("编制日期", timezone.localdate(now).isoformat())],
        summary=[("共计", f"{len(loans)} 次借阅"),
                 ("借出单位外", f"{external} 次（经单位负责人或档案机构负责人批准）"),
                 ("已归还", str(sum(loan.state == LoanState.RETURNED for loan in loans))),
                 ("已到期", str(sum(loan_effective_state(loan) == LoanState.EXPIRED
                                   for loan in loans)))],
        created=now, notes="会计档案的查阅、复制、借出均须登记；借出单位外须严格按规定办理，"
                           "并按期归还（《会计档案管理办法》第十三条）")
