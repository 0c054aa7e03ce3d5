"""The destruction batch's one transition table (style.md: RODA / Open Archiefbeheer)."""

from __future__ import annotations

from kjda.accounts.roles import Role
from kjda.lifecycle.destruction.models import DestructionState, Signatory, Witness
from kjda.lifecycle.workflow import Transition, Workflow

S = DestructionState

# Who may sign or witness in each capacity.
SIGNATORY_ROLES: dict[str, frozenset[str]] = {
    Signatory.HEAD: frozenset({Role.HEAD}),
    Signatory.ARCHIVES_HEAD: frozenset({Role.ARCHIVES_HEAD}),
    Signatory.ACCOUNTING_HEAD: frozenset({Role.ACCOUNTING_HEAD}),
    Signatory.ARCHIVIST: frozenset({Role.ARCHIVIST}),
    Signatory.ACCOUNTANT: frozenset({Role.ACCOUNTANT}),
}
WITNESS_ROLES: dict[str, frozenset[str]] = {
    Witness.ARCHIVES: frozenset({Role.ARCHIVIST, Role.ARCHIVES_HEAD}),
    Witness.ACCOUNTING: frozenset({Role.ACCOUNTANT, Role.ACCOUNTING_HEAD}),
    Witness.IT: frozenset({Role.IT_OFFICER}),
}
ARCHIVES_SIDE = frozenset({Role.ARCHIVIST, Role.ARCHIVES_HEAD})

DESTRUCTION = Workflow("destruction", DestructionState, [
    Transition("submit", {S.DRAFT}, S.UNDER_APPRAISAL, ARCHIVES_SIDE, "提交签署"),
    # Each of the five signs once; the fifth signature moves the batch to `signed`.
    Transition("sign", {S.UNDER_APPRAISAL}, S.SIGNED,
               frozenset().union(*SIGNATORY_ROLES.values()), "签署销毁意见"),
    # Each of the three witnesses confirms the items against the register (stays `signed`).
    Transition("witness", {S.SIGNED}, S.SIGNED, frozenset().union(*WITNESS_ROLES.values()),
               "监销确认"),
    Transition("execute", {S.SIGNED}, S.EXECUTING, ARCHIVES_SIDE, "执行销毁"),
    # Taken by the task worker when every item is done.
    Transition("complete", {S.EXECUTING}, S.DESTROYED, ARCHIVES_SIDE, "完成销毁"),
    Transition("cancel", {S.DRAFT, S.UNDER_APPRAISAL, S.SIGNED}, S.CANCELLED,
               ARCHIVES_SIDE | {Role.HEAD}, "撤销"),
])
