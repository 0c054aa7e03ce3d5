"""The transfer's one transition table (kjda.lifecycle.workflow)."""

from __future__ import annotations

from kjda.accounts.roles import Role
from kjda.lifecycle.transfers.models import TransferState as S
from kjda.lifecycle.workflow import Transition, Workflow

ACCOUNTING_ROLES = frozenset({Role.ACCOUNTANT, Role.ACCOUNTING_HEAD})
ARCHIVES_ROLES = frozenset({Role.ARCHIVIST, Role.ARCHIVES_HEAD})
SYSTEM = "system"  # the checks finishing is the system's step, no person's

TRANSFER = Workflow("transfer", S, [
    Transition("submit", {S.DRAFT}, S.SUBMITTED, ACCOUNTING_ROLES, "提交并签署移交清册"),
    Transition("checks_done", {S.SUBMITTED}, S.CHECKED, {SYSTEM}, "完成移交检测"),
    Transition("decide", {S.CHECKED}, S.CHECKED, ARCHIVES_ROLES, "逐件接收或退回"),
    Transition("accept", {S.CHECKED}, S.ACCEPTED, ARCHIVES_ROLES, "接收并签署"),
    Transition("accept_partially", {S.CHECKED}, S.PARTIALLY_ACCEPTED, ARCHIVES_ROLES,
               "部分接收并签署"),
    Transition("reject", {S.CHECKED}, S.REJECTED, ARCHIVES_ROLES, "全部退回并签署"),
    Transition("cancel", {S.DRAFT, S.SUBMITTED, S.CHECKED}, S.CANCELLED, ACCOUNTING_ROLES,
               "取消移交"),
])
