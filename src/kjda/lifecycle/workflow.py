"""One transition table per workflow (style.md: RODA, Open Archiefbeheer).

A workflow names its states, and for each transition the states it may start from, the state it
leads to and the roles that may take it. Services ask the table before they write, so the web
page, the API and the CLI refuse the same way, and the dashboard asks it what each person may do
next::

    DESTRUCTION = Workflow("destruction", DestructionState, [
        Transition("submit", {"draft"}, "under_appraisal", {Role.ARCHIVIST}),
        ...
    ])
    step = DESTRUCTION.check("submit", state=batch.state, roles=actor_roles(actor))
    batch.state = step.target
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import TextChoices

from kjda.errors import DomainError


@dataclass(frozen=True)
class Transition:
    name: str
    sources: frozenset[str]
    target: str
    roles: frozenset[str]
    label: str = ""  # shown on the button and in the to-do, e.g. "签署销毁意见"

    def __init__(self, name: str, sources: Iterable[str], target: str, roles: Iterable[str],
                 label: str = "") -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "sources", frozenset(str(s) for s in sources))
        object.__setattr__(self, "target", str(target))
        object.__setattr__(self, "roles", frozenset(str(r) for r in roles))
        object.__setattr__(self, "label", label or name)


class Workflow:
    def __init__(self, name: str, states: type[TextChoices],
                 transitions: Iterable[Transition]) -> None:
        self.name = name
        self.states = states
        self.transitions: dict[str, Transition] = {}
        for t in transitions:
            unknown = (set(t.sources) | {t.target}) - set(states.values)
            if unknown:
                raise ValueError(f"{name}.{t.name}: unknown states {sorted(unknown)}")
            if t.name in self.transitions:
                raise ValueError(f"{name}: transition {t.name} twice")
            self.transitions[t.name] = t

    def check(self, name: str, *, state: str, roles: Iterable[str]) -> Transition:
        """The transition `name` from `state` for someone holding `roles`, or the error the
        caller should raise: 404 for an unknown step, 409 from the wrong state, 403 without a
        role that may take it."""
        t = self.transitions.get(name)
        if t is None:
            raise DomainError("transition_unknown", f"没有“{name}”这一步骤",
                              f"{self.name} has no step '{name}'", status=404)
        if state not in t.sources:
            label = self.state_label(state)
            raise DomainError("transition_not_allowed",
                              f"当前状态“{label}”下不能执行“{t.label}”",
                              f"'{name}' is not allowed while the {self.name} is '{state}'",
                              status=409)
        if not (set(roles) & t.roles):
            needed = "、".join(sorted(t.roles))
            raise DomainError("transition_forbidden", f"“{t.label}”需要以下角色之一：{needed}",
                              f"'{name}' needs one of the roles: {needed}", status=403)
        return t

    def allowed(self, *, state: str, roles: Iterable[str]) -> list[Transition]:
        """The steps someone holding `roles` may take from `state` (buttons, to-dos)."""
        held = set(roles)
        return [t for t in self.transitions.values() if state in t.sources and held & t.roles]

    def waiting_on(self, *, state: str) -> frozenset[str]:
        """The roles any of whose holders may move the workflow on from `state`."""
        return frozenset(r for t in self.transitions.values() if state in t.sources
                         for r in t.roles)

    def state_label(self, state: str) -> str:
        return str(dict(self.states.choices).get(state, state))

    def is_final(self, state: str) -> bool:
        return not any(state in t.sources for t in self.transitions.values())
