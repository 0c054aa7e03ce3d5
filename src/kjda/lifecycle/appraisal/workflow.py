"""The appraisal batch's one transition table (style.md): draft → in review → decided, or
cancelled. Opinions and per-item outcomes are recorded while in review (steps that keep
the state)."""

from __future__ import annotations

from kjda.accounts.roles import Role
from kjda.lifecycle.appraisal.models import AppraisalState, Side
from kjda.lifecycle.workflow import Transition, Workflow

ARCHIVES = {Role.ARCHIVIST, Role.ARCHIVES_HEAD}
SIDE_ROLES: dict[str, frozenset[str]] = {
    Side.ARCHIVES: frozenset(ARCHIVES),
    Side.ACCOUNTING: frozenset({Role.ACCOUNTING_HEAD, Role.ACCOUNTANT}),
    Side.AUDIT: frozenset({Role.AUDITOR}),
    Side.INSPECTION: frozenset({Role.INSPECTOR}),
}
PARTICIPANTS = frozenset().union(*SIDE_ROLES.values())

S = AppraisalState
APPRAISAL = Workflow("appraisal", AppraisalState, [
    Transition("submit", {S.DRAFT}, S.IN_REVIEW, ARCHIVES, "提交鉴定"),
    Transition("opinion", {S.IN_REVIEW}, S.IN_REVIEW, PARTICIPANTS, "填写鉴定意见"),
    Transition("outcome", {S.IN_REVIEW}, S.IN_REVIEW, ARCHIVES, "填写逐项鉴定结论"),
    Transition("decide", {S.IN_REVIEW}, S.DECIDED, ARCHIVES, "作出鉴定结论"),
    Transition("cancel", {S.DRAFT, S.IN_REVIEW}, S.CANCELLED, ARCHIVES, "取消鉴定"),
])
