"""Ingest reads fonds, category codes and retention rules from a per-process cache: a change
made here shows at once, one made by another process within the cache's lifetime."""

from __future__ import annotations

import pytest

from kjda.archives import reference
from kjda.archives.models import Category, Fonds, FondsCategoryCode, RetentionRule
from kjda.archives.services import fonds_update


@pytest.fixture(autouse=True)
def _fresh_cache():
    reference.reference_cache_clear()
    yield
    reference.reference_cache_clear()


def test_a_category_code_changed_in_this_process_is_used_at_once(fonds):
    vouchers = Category.objects.get(name="会计凭证")
    assert reference.category_code_for(fonds, vouchers) == "PZ"
    fonds_update(fonds=fonds, category_codes={"会计凭证": "KJPZ"})
    assert reference.category_code_for(fonds, vouchers) == "KJPZ"


def test_a_change_made_elsewhere_is_seen_when_the_entry_expires(fonds, monkeypatch):
    vouchers = Category.objects.get(name="会计凭证")
    assert reference.category_code_for(fonds, vouchers) == "PZ"
    # Another process's write: a queryset write sends no signal to this process.
    FondsCategoryCode.objects.bulk_create([FondsCategoryCode(fonds=fonds, category=vouchers,
                                                             code="QQ")])
    assert reference.category_code_for(fonds, vouchers) == "PZ"  # still cached
    now = reference.time.monotonic()
    monkeypatch.setattr(reference.time, "monotonic", lambda: now + reference.TTL + 0.1)
    assert reference.category_code_for(fonds, vouchers) == "QQ"


def test_fonds_and_rules_resolve_by_code_and_name(fonds):
    other = Fonds.objects.create(code="Z002", name="子公司", unit_name="子公司")
    assert reference.fonds_for_ingest("Z002").pk == other.pk
    assert reference.fonds_for_ingest(None).pk == fonds.pk  # the first fonds by default
    assert reference.fonds_for_ingest("Z999") is None
    rule = reference.rule_by_name("记账凭证")
    assert rule == RetentionRule.objects.get(name="记账凭证")
    assert reference.rule_by_name("没有这种档案") is None
