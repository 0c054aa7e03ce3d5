"""Borrowing through the borrower's OA (issue 18 item 3): a request under a fonds whose rule
says `oa` becomes an approval in the OA the borrower signs in with, and the OA's decision comes
back through the connectors' callback path to `loan_oa_result`.

When the borrower has no OA account or the OA has no loan template, `loan_submit_to_oa` answers
False and the archivist decides; when the OA refuses to create the approval, the archivists are
told and decide in KJDA (`loan_oa_failed`)."""

from __future__ import annotations

import logging

from kjda.connectors.approvals import (
    approval_failure_register,
    approval_handler_register,
    approval_submit,
)
from kjda.lifecycle.loans.models import RIGHT_LABELS, Loan
from kjda.lifecycle.loans.routing import oa_submitter_set
from kjda.lifecycle.loans.selectors import loan_by_no
from kjda.lifecycle.loans.services import loan_decide, loan_oa_failed

log = logging.getLogger(__name__)
KIND = "loan"
# The text fields the OA's loan template must have (README "Borrowing through the OA").
OA_FORM_LABELS = ["借阅单号", "借阅人", "部门", "借阅目的", "借阅期限", "权限", "档案件数"]



def oa_register() -> None:
    """At start-up: route OA requests here and take the OA's decisions on loans."""
    oa_submitter_set(loan_submit_to_oa)
    approval_handler_register(KIND, loan_oa_result)
    approval_failure_register(KIND, loan_oa_unavailable)


def loan_submit_to_oa(loan: Loan) -> bool:
    """Submit `loan` as an approval in its borrower's OA (inside the request's transaction);
    False when there is no OA to submit to (no linked account, no template for loans)."""
    # The template's fields (README "Borrowing through the OA"): always these seven text fields,
    # since WeCom and Feishu refuse a field their template lacks; renewal and lending outside
    # the unit are said in the purpose.
    purpose = loan.purpose
    if loan.renewal_of_id and loan.renewal_of is not None:
        purpose = f"续借 {loan.renewal_of.loan_no}：{purpose}"
    if loan.external:
        purpose = f"借出单位外（{loan.organisation}）：{purpose}"
    fields = [("借阅单号", loan.loan_no), ("借阅人", loan.borrower_name),
              ("部门", loan.borrower_department), ("借阅目的", purpose),
              ("借阅期限", f"{loan.starts_on} 至 {loan.ends_on}"),
              ("权限", "、".join(RIGHT_LABELS.get(r, r) for r in loan.rights)),
              ("档案件数", str(loan.items.count()))]
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



def loan_oa_unavailable(*, reference: str, error: str) -> None:
    """The OA refused to create the approval for the loan `reference`: the archivists decide."""
    loan = loan_by_no(loan_no=reference)
    if loan is not None:
        loan_oa_failed(loan_id=loan.pk, error=error)
