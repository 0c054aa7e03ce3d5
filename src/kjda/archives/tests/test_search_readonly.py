"""Searches never write: they read through the read-only `search` alias (kjda.db.routers), and
the posting bitmaps are the worker's to build and refresh, asked for after commit."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.db.utils import load_backend
from django.test.utils import CaptureQueriesContext

from kjda.archives import postings, search
from kjda.archives.models import Record, RecordText, RetentionRule
from kjda.archives.search import search_index_record
from kjda.archives.selectors import RecordFilters, record_list

pg_only = pytest.mark.skipif("connection.vendor != 'postgresql'")
_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|TRUNCATE)\b", re.I)


def _make(fonds, i: int, title: str) -> Record:
    rule = RetentionRule.objects.select_related("category").get(name="记账凭证")
    record = Record.objects.create(
        rule=rule, category=rule.category, class_code="PZ·2024·D30", title=f"{title} {i}",
        date=date(2024, 3, 15), fiscal_year=2024, retention=rule.retention,
        responsible="本公司财务部", department="财务部", fonds=fonds)
    RecordText.objects.create(record=record, content="")
    search_index_record(record=record)
    return record


@pytest.fixture(autouse=True)
def _forget_asks():
    search._ASKED.clear()
    yield
    search._ASKED.clear()


@pytest.mark.django_db(transaction=True)
def test_a_search_reads_through_the_search_alias_and_writes_nothing(fonds, archivist,
                                                                   monkeypatch):
    monkeypatch.setattr(postings, "SLOW_COUNT_SECONDS", 0.0)  # every count is "slow"
    for i in range(6):
        _make(fonds, i, "报销差旅费" if i % 2 else "采购办公用品")
    with (CaptureQueriesContext(connections["search"]) as read,
          CaptureQueriesContext(connections["default"]) as default):
        qs = record_list(actor=archivist, filters=RecordFilters(q="差旅"))
        assert qs.db == "search"
        assert qs.count() == 3
        assert [r.title for r in qs[:10]] == ["报销差旅费 5", "报销差旅费 3", "报销差旅费 1"]
    assert read.captured_queries
    assert [q["sql"] for q in read.captured_queries if _WRITE.match(q["sql"])] == []
    # on `default` at most the request to the worker (a queued task), never the bitmaps
    written = [q["sql"] for q in default.captured_queries if _WRITE.match(q["sql"])]
    assert all("django_tasks_database" in sql for sql in written), written


@pytest.mark.django_db(transaction=True)
def test_nothing_can_be_written_through_the_search_alias(fonds):
    record = _make(fonds, 1, "银行付款")
    with pytest.raises(DatabaseError):
        Record.objects.using("search").filter(pk=record.pk).update(title="改")
    with pytest.raises(DatabaseError), connections["search"].cursor() as cur:
        cur.execute("DELETE FROM archives_recordtext")
    assert Record.objects.get(pk=record.pk).title == "银行付款 1"


@pytest.mark.django_db(transaction=True)
def test_a_record_read_through_search_is_saved_to_default(fonds, archivist):
    _make(fonds, 1, "银行付款")
    found = record_list(actor=archivist, filters=RecordFilters(q="付款")).first()
    assert found._state.db == "search"
    found.title = "银行付款 改"
    found.save(update_fields=["title"])  # the router sends writes to default
    assert Record.objects.get(pk=found.pk).title == "银行付款 改"


@pytest.mark.django_db
def test_inside_a_transaction_a_search_reads_its_own_uncommitted_rows(fonds, archivist):
    _make(fonds, 1, "差旅补助")  # in the test's transaction: only `default` sees it
    qs = record_list(actor=archivist, filters=RecordFilters(q="差旅"))
    assert qs.db == "default" and qs.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_slow_count_asks_the_worker_once_after_commit(monkeypatch):
    calls: list[list[str]] = []

    class _Task:
        @staticmethod
        def enqueue(tokens: list[str]) -> None:
            calls.append(tokens)

    monkeypatch.setattr(search, "postings_refresh_task", _Task)
    with transaction.atomic():
        search._postings_ask(["差旅", "报销"])
        assert calls == []  # not before the caller's transaction commits
    search._postings_ask(["报销", "差旅"])  # the same, within a minute: not again
    search._postings_ask([])
    assert calls == [sorted(["差旅", "报销"]), []]


@pg_only
@pytest.mark.django_db(transaction=True)
def test_search_works_through_a_read_only_role_and_every_write_through_it_fails(
        fonds, archivist, monkeypatch):
    from kjda.archives.tasks import postings_refresh_task

    for i in range(8):
        _make(fonds, i, "报销差旅费" if i % 2 else "采购办公用品")
    monkeypatch.setattr(postings, "SLOW_COUNT_SECONDS", 10.0)  # no asking: built below
    postings_refresh_task.call(["差旅"])  # the worker built the bitmap of 差旅
    role = "kjda_test_search_ro"
    name = connections["default"].settings_dict["NAME"]
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cur.fetchone():
            cur.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")
        cur.execute(f"CREATE ROLE {role} LOGIN")
        cur.execute(f'GRANT CONNECT ON DATABASE "{name}" TO {role}')
        cur.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    # the role alone makes it read-only: no default_transaction_read_only here
    settings_dict = {**connections["search"].settings_dict, "USER": role, "PASSWORD": "",
                     "OPTIONS": {}}
    readonly = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, "search")
    saved = connections["search"]
    connections["search"] = readonly
    try:
        qs = record_list(actor=archivist, filters=RecordFilters(q="差旅"))
        assert qs.db == "search" and qs.count() == 4
        assert qs._found is not None  # counted from the bitmaps
        _make(fonds, 100, "差旅补助")  # filed after the bitmaps were built: the tail
        qs = record_list(actor=archivist, filters=RecordFilters(q="差旅"))
        assert qs.count() == 5 and qs[:1][0].title == "差旅补助 100"
        with readonly.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone()[0] == role
        for sql in ("UPDATE archives_record SET title = 'x'",
                    "INSERT INTO archives_search_postings_token (token, built) VALUES ('x', false)",
                    "DELETE FROM archives_search_dirty"):
            with pytest.raises(DatabaseError, match="permission denied"), readonly.cursor() as cur:
                cur.execute(sql)
        with pytest.raises(DatabaseError):  # through the ORM too
            Record.objects.using("search").filter(title__startswith="差旅").update(title="x")
    finally:
        readonly.close()
        connections["search"] = saved
        with connection.cursor() as cur:
            cur.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")
