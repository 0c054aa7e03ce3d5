"""The loan's one transition table (kjda.lifecycle.workflow).

`borrower`, `oa` and `system` are not roles anyone holds: the services add `borrower` for the
loan's own borrower, `oa` for a decision that came back from the borrower's OA approval and
`system` for the rule's automatic approval and the daily expiry."""

from __future__ import annotations

from kjda.accounts.roles import Role
from kjda.lifecycle.loans.models import LoanState as S
from kjda.lifecycle.workflow import Transition, Workflow

BORROWER, OA, SYSTEM = "borrower", "oa", "system"
APPROVERS = frozenset({Role.ARCHIVIST, Role.ARCHIVES_HEAD})
# 79号令 Art.13: lending outside the unit follows strict procedure; the second approval is the
# unit head's or the head of the archives'.
HEADS = frozenset({Role.HEAD, Role.ARCHIVES_HEAD})
OPEN_STATES = (S.REQUESTED, S.APPROVED, S.ACTIVE)

LOAN = Workflow("loan", S, [
    Transition("approve", {S.REQUESTED}, S.ACTIVE, APPROVERS | {OA, SYSTEM}, "批准借阅"),
    Transition("approve_external", {S.REQUESTED}, S.APPROVED, APPROVERS | {OA},
               "批准（借出单位外，待单位负责人审批）"),
    Transition("confirm", {S.APPROVED}, S.ACTIVE, HEADS, "批准借出单位外"),
    Transition("reject", {S.REQUESTED, S.APPROVED}, S.REJECTED, APPROVERS | HEADS | {OA},
               "驳回"),
    Transition("cancel", {S.REQUESTED}, S.CANCELLED, {BORROWER}, "撤回申请"),
    Transition("return", {S.ACTIVE}, S.RETURNED, APPROVERS | {BORROWER}, "归还"),
    Transition("expire", {S.ACTIVE}, S.EXPIRED, {SYSTEM}, "到期结束"),
    Transition("merge", {S.ACTIVE}, S.EXTENDED, {SYSTEM}, "续借并入原借阅单"),
])
