"""Reference data that every ingest reads — fonds, their category codes, retention rules —
cached per process, because three ORM lookups per record were a tenth of the cost of filing it.

An entry lives `TTL` seconds; a change saved in this process clears the cache at once (model
signals), and other worker processes see it within `TTL`. The objects are shared between
threads: callers must not modify them.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.db.models.signals import post_delete, post_save

from kjda.archives.models import Category, Fonds, FondsCategoryCode, RetentionRule
from kjda.archives.selectors import retention_rule_find

TTL = 2.0
_lock = threading.Lock()
_entries: dict[tuple, tuple[float, Any]] = {}


def _cached(key: tuple, load):
    now = time.monotonic()
    hit = _entries.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    value = load()
    with _lock:
        _entries[key] = (now + TTL, value)
    return value


def reference_cache_clear(**_kwargs) -> None:
    with _lock:
        _entries.clear()


def fonds_for_ingest(code: str | None) -> Fonds | None:
    """The fonds with `code`, or the first fonds when no code is given."""
    return _cached(("fonds", code or ""), lambda: (
        Fonds.objects.filter(code=code).first() if code else Fonds.objects.order_by("id").first()))


def rule_by_name(name: str, schedule: str | None = None) -> RetentionRule | None:
    return _cached(("rule", name, schedule or ""),
                   lambda: retention_rule_find(name=name, schedule=schedule))


def category_code_for(fonds: Fonds, category: Category) -> str:
    def load() -> str:
        row = FondsCategoryCode.objects.filter(fonds=fonds, category=category).first()
        return row.code if row else category.default_code

    return _cached(("code", fonds.pk, category.pk), load)


for _model in (Fonds, FondsCategoryCode, RetentionRule, Category):
    post_save.connect(reference_cache_clear, sender=_model, dispatch_uid=f"kjda-ref-{_model.__name__}")
    post_delete.connect(reference_cache_clear, sender=_model,
                        dispatch_uid=f"kjda-ref-del-{_model.__name__}")
