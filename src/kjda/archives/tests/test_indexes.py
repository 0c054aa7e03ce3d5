"""The indexes a filing writes: only those some query needs, and the queries use them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kjda.archives.selectors import record_find_existing

pytestmark = pytest.mark.django_db


def _index_columns(table: str) -> list[tuple[str, ...]]:
    with connection.cursor() as cur:
        constraints = connection.introspection.get_constraints(cur, table)
    return [tuple(c["columns"]) for c in constraints.values()
            if (c["index"] or c["unique"]) and not c["primary_key"]]


def test_a_record_has_no_index_another_index_already_leads_with():
    columns = _index_columns("archives_record")
    for single in [("status",), ("fonds_id",), ("created_at",)]:
        assert single not in columns
    assert ("status", "fonds_id") in columns
    assert ("fonds_id", "fiscal_year", "category_id") in columns
    assert ("source_system", "external_id") in columns  # the partial unique index, once
    assert columns.count(("source_system", "external_id")) == 1
    assert ("record_id",) not in _index_columns("archives_recordfile")
    assert ("record_id", "sequence") in _index_columns("archives_recordfile")
    assert ("sm3",) not in _index_columns("storage_blob")


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's planner proves less")
def test_idempotency_lookup_is_served_by_the_partial_unique_index():
    with CaptureQueriesContext(connection) as queries:
        assert record_find_existing(source_system="dingtalk", external_id="PROC-1") is None
    (sql,) = [q["sql"] for q in queries.captured_queries]
    with connection.cursor() as cur:
        cur.execute("EXPLAIN QUERY PLAN " + sql)
        plan = " ".join(row[-1] for row in cur.fetchall())
    assert "uniq_record_source_external_id" in plan, plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="only PostgreSQL has them")
def test_no_prefix_search_index_is_written_per_filing_on_postgresql():
    with connection.cursor() as cur:
        cur.execute("SELECT indexname FROM pg_indexes WHERE tablename IN ('archives_record', "
                    "'archives_recordfile', 'storage_blob') AND indexdef LIKE '%%pattern_ops%%'")
        assert cur.fetchall() == []
