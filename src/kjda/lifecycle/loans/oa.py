"""Borrowing through the borrower's OA (issue 18 item 3): a request under a fonds whose rule
says `oa` becomes an approval in the OA the borrower signs in with, and the OA's decision comes
back through the connectors' callback path to `loan_oa_result`.

Written against kjda.connectors.approvals (built in parallel): `approval_submit(*, user, kind,
reference, title, fields, url) -> OutgoingApproval | None` and
`approval_handler_register(kind, handler)`. Until it exists, `loan_submit_to_oa` answers False
and the archivist decides."""

from __future__ import annotations

import logging

from kjda.lifecycle.loans.models import RIGHT_LABELS, Loan
from kjda.lifecycle.loans.routing import oa_submitter_set
from kjda.lifecycle.loans.selectors import loan_by_no
from kjda.lifecycle.loans.services import loan_decide

log = logging.getLogger(__name__)
KIND = "loan"

try:
    from kjda.connectors.approvals import (  # type: ignore[import-not-found,import-untyped,unused-ignore]
        approval_handler_register,
        approval_submit,
    )
except ImportError:  # the connectors side is not there yet
    approval_submit = None
    approval_handler_register = None


def oa_register() -> None:
    """At start-up: route OA requests here and take the OA's decisions on loans."""
    oa_submitter_set(loan_submit_to_oa)
    if approval_handler_register is not None:
        approval_handler_register(KIND, loan_oa_result)


def loan_submit_to_oa(loan: Loan) -> bool:
    """Submit `loan` as an approval in its borrower's OA (inside the request's transaction);
    False when there is no OA to submit to (no linked account, no template for loans)."""
    if approval_submit is None:
        return False
    fields = [("借阅单号", loan.loan_no), ("借阅人", loan.borrower_name),
              ("部门", loan.borrower_department), ("借阅目的", loan.purpose),
              ("借阅期限", f"{loan.starts_on} 至 {loan.ends_on}"),
              ("权限", "、".join(RIGHT_LABELS.get(r, r) for r in loan.rights)),
              ("档案件数", str(loan.items.count()))]
    if loan.renewal_of_id:
        fields.append(("续借", loan.renewal_of.loan_no if loan.renewal_of else ""))
    if loan.external:
        fields.append(("借出单位外", loan.organisation))
    outgoing = approval_submit(user=loan.borrower, kind=KIND, reference=loan.loan_no,
                               title=f"档案借阅 {loan.loan_no}", fields=fields,
                               url=f"/loans/{loan.pk}/")
    return outgoing is not None


def loan_oa_result(*, reference: str, approved: bool, approver: str, comment: str,
                   instance_id: str) -> None:
    """The OA's decision on the loan `reference` (its loan number), by the OA person
    `approver` (not a KJDA user)."""
    loan = loan_by_no(loan_no=reference)
    if loan is None:
        log.warning("OA approval result for unknown loan %s", reference[:40])
        return
    loan_decide(loan_id=loan.pk, approve=approved, approver_name=approver, channel="oa",
                comment=comment, instance_id=instance_id)

