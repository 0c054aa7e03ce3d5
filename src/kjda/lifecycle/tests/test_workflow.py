from __future__ import annotations

import pytest
from django.db import models

from kjda.errors import DomainError
from kjda.lifecycle.workflow import Transition, Workflow


class State(models.TextChoices):
    DRAFT = "draft", "草稿"
    SIGNED = "signed", "已签署"
    DONE = "done", "已完成"
    CANCELLED = "cancelled", "已取消"


FLOW = Workflow("demo", State, [
    Transition("sign", {State.DRAFT}, State.SIGNED, {"head"}, "签署"),
    Transition("execute", {State.SIGNED}, State.DONE, {"archivist"}, "执行"),
    Transition("cancel", {State.DRAFT, State.SIGNED}, State.CANCELLED, {"archivist"}, "取消"),
])


def test_a_step_from_its_state_by_its_role_leads_to_its_target():
    assert FLOW.check("sign", state="draft", roles={"head", "employee"}).target == "signed"


def test_a_step_from_the_wrong_state_is_a_conflict_with_both_languages():
    with pytest.raises(DomainError) as err:
        FLOW.check("execute", state="draft", roles={"archivist"})
    assert err.value.status == 409
    assert "草稿" in err.value.zh and "execute" in err.value.en


def test_a_step_without_its_role_is_forbidden_and_an_unknown_step_not_found():
    with pytest.raises(DomainError) as err:
        FLOW.check("sign", state="draft", roles={"archivist"})
    assert err.value.status == 403
    with pytest.raises(DomainError) as err:
        FLOW.check("burn", state="draft", roles={"archivist"})
    assert err.value.status == 404


def test_the_table_says_what_each_role_may_do_next_and_who_is_waited_on():
    assert [t.name for t in FLOW.allowed(state="signed", roles={"archivist"})] == [
        "execute", "cancel"]
    assert FLOW.allowed(state="done", roles={"archivist", "head"}) == []
    assert FLOW.waiting_on(state="draft") == {"head", "archivist"}
    assert FLOW.is_final("cancelled") and not FLOW.is_final("signed")


def test_a_table_naming_a_state_that_does_not_exist_is_refused_at_import():
    with pytest.raises(ValueError, match="unknown states"):
        Workflow("bad", State, [Transition("x", {"draft"}, "nowhere", {"head"})])
