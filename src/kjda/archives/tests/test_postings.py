"""PostgreSQL: search counts from posting bitmaps agree with the GIN count, record by record,
through inserts, edits and deletes, before and after the bitmaps are brought up to date, and
with writers running beside the refresh."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from django.db import connection, connections

from kjda.archives import postings, search
from kjda.archives.models import Fonds, Record, RecordText, RetentionRule
from kjda.archives.search import search_index_record
from kjda.archives.selectors import RecordFilters, record_list

pg_only = pytest.mark.skipif("connection.vendor != 'postgresql'")

WORDS = ["报销差旅费", "采购办公用品", "差旅补助", "银行付款"]


def _make(rule, fonds, i: int, *, department: str = "财务部") -> Record:
    record = Record.objects.create(
        rule=rule, category=rule.category, class_code="PZ·2024·D30", title=WORDS[i % 4] + f" {i}",
        date=date(2024, 3, 15), fiscal_year=2024, retention=rule.retention,
        responsible="本公司财务部", department=department, fonds=fonds)
    RecordText.objects.create(record=record, content="")
    search_index_record(record=record)
    return record


def _user(username: str, roles: list[str], **scope):
    from django.contrib.auth import get_user_model

    from kjda.accounts.models import Profile

    user = get_user_model().objects.create_user(username=username, password="x")  # noqa: S106
    Profile.objects.create(user=user, roles=roles, **scope)
    return user


def _counts(actor, q: str) -> tuple[int, int | None, int]:
    """(count the API gives, count from the bitmaps or None, rows the join finds)."""
    qs = record_list(actor=actor, filters=RecordFilters(q=q))
    api = qs.count()
    bitmaps = postings.postings_count(qs._bitmap, qs._tsquery)
    rows = record_list(actor=actor, filters=RecordFilters()).filter(title__contains=q).count()
    return api, bitmaps.matches if bitmaps else None, rows


@pytest.fixture
def worker_now(monkeypatch):
    """What a search asks the worker for (postings_refresh_task, after commit) done at once."""
    from kjda.archives.tasks import postings_refresh_task

    monkeypatch.setattr(search, "_postings_ask",
                        lambda tokens: postings_refresh_task.call(list(tokens)))


@pytest.fixture
def corpus(db, fonds, monkeypatch, worker_now):
    monkeypatch.setattr(postings, "SLOW_COUNT_SECONDS", 0.0)  # every count asks for bitmaps
    rule = RetentionRule.objects.select_related("category").get(name="记账凭证")
    other = Fonds.objects.create(code="Z009", name="子公司", unit_name="子公司")
    records = [_make(rule, other if i % 5 == 0 else fonds, i,
                     department="销售部" if i % 3 else "财务部") for i in range(40)]
    return rule, other, records


@pg_only
def test_counts_come_from_the_bitmaps_once_asked_for_and_stay_exact(corpus, archivist, fonds):
    rule, other, records = corpus
    accountant = _user("acc", ["accountant"], fonds=[fonds.code], departments=["销售部"])
    queries = ["差旅", "办公用品", "付款", "报销"]
    for actor in (archivist, accountant):
        for q in queries:
            api, bitmaps, rows = _counts(actor, q)
            assert api == rows and bitmaps == rows  # the worker built them, asked by the first
    assert postings.postings_count(("tok", "差旅"), "'差旅'").unrefreshed == 0

    # writes after the refresh: new entries (the tail), an edit and a delete (dirty)
    _make(rule, fonds, 100, department="销售部")  # 报销差旅费
    _make(rule, other, 101)
    edited = records[4]  # 银行付款 → 差旅补助
    edited.title = "差旅补助 改"
    edited.save()
    search_index_record(record=edited)
    Record.objects.filter(pk=records[8].pk).delete()  # 报销差旅费, Z001, 销售部
    found = postings.postings_count(("tok", "差旅"), "'差旅'")
    assert found.unrefreshed == 2 + 2  # two new entries, two dirty
    for actor in (archivist, accountant):
        for q in queries:
            api, bitmaps, rows = _counts(actor, q)
            assert api == rows and bitmaps == rows, (actor.username, q)

    done = postings.postings_refresh()
    assert done["dirty"] == 2 and not done["built"]
    assert postings.postings_count(("tok", "差旅"), "'差旅'").unrefreshed == 0
    for actor in (archivist, accountant):
        for q in queries:
            api, bitmaps, rows = _counts(actor, q)
            assert api == rows and bitmaps == rows, (actor.username, q)


@pg_only
def test_a_term_without_a_bitmap_and_prefix_queries_count_through_gin(corpus, archivist):
    assert postings.postings_count(("tok", "银行"), "'银行'") is None  # not asked for yet
    qs = record_list(actor=archivist, filters=RecordFilters(q="办公用"))  # a prefix: no bitmap
    assert qs._bitmap is None and qs.count() == 10


@pg_only
def test_a_reindex_forgets_the_bitmaps_and_they_come_back(corpus, archivist):
    assert _counts(archivist, "差旅")[1] == 20
    search.search_reindex()
    assert postings.postings_count(("tok", "差旅"), "'差旅'") is None
    assert _counts(archivist, "差旅") == (20, 20, 20)


@pg_only
@pytest.mark.django_db(transaction=True)
def test_writers_beside_the_refresh_lose_no_entry(fonds, archivist, monkeypatch, worker_now):
    monkeypatch.setattr(postings, "SLOW_COUNT_SECONDS", 0.0)
    rule = RetentionRule.objects.select_related("category").get(name="记账凭证")
    for i in range(20):
        _make(rule, fonds, i)
    assert _counts(archivist, "差旅")[1] == 10
    errors: list[BaseException] = []

    def writer(start: int) -> None:
        try:
            for i in range(start, start + 60, 2):
                _make(rule, fonds, i)
                if i % 6 == 0:
                    Record.objects.filter(title=f"{WORDS[(i - 4) % 4]} {i - 4}").delete()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(1000 + k,)) for k in range(2)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        postings.postings_refresh()
    for t in threads:
        t.join()
    assert not errors
    api, bitmaps, rows = _counts(archivist, "差旅")
    assert api == bitmaps == rows
    postings.postings_refresh()
    found = postings.postings_count(("tok", "差旅"), "'差旅'")
    assert found.unrefreshed == 0 and found.matches == rows
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM archives_search WHERE grams @@ '差旅'::tsquery")
        assert cur.fetchone()[0] == rows


@pg_only
def test_pages_from_the_bitmaps_are_the_pages_the_walk_gives(corpus, archivist, fonds):
    rule, other, records = corpus
    accountant = _user("acc", ["accountant"], fonds=[fonds.code], departments=["销售部"])
    slices = [(0, 3), (0, 20), (2, 7), (15, 40)]

    def pages(actor, q: str) -> list[list[int]]:
        qs = record_list(actor=actor, filters=RecordFilters(q=q))
        return [[r.pk for r in qs[a:b]] for a, b in slices]

    def walked(actor, q: str) -> list[list[int]]:
        ids = [r.pk for r in record_list(actor=actor, filters=RecordFilters())
               if q in r.title]
        return [ids[a:b] for a, b in slices]

    for actor in (archivist, accountant):
        for q in ["差旅", "办公用品"]:
            assert pages(actor, q) == walked(actor, q)  # the first count asks for the bitmaps
    _make(rule, fonds, 200, department="销售部")  # a tail entry
    edited = records[-4]  # 报销差旅费 36 → 办公用品
    edited.title = "办公用品 改"
    edited.save()
    search_index_record(record=edited)
    unrefreshed = []
    for actor in (archivist, accountant):
        for q in ["差旅", "办公用品"]:
            qs = record_list(actor=actor, filters=RecordFilters(q=q))
            qs.count()
            assert qs._found is not None  # from the bitmaps
            unrefreshed += qs._found.others
            assert pages(actor, q) == walked(actor, q), (actor.username, q)
    assert unrefreshed  # some page held entries the bitmaps don't cover yet


def test_the_newest_ids_come_from_every_segment_and_the_unrefreshed_ones():
    ids = [3, 65535, 65536, 70000, 200000, 262143]
    found = postings.PostingsCount(matches=8, unrefreshed=2,
                                   base=sum(1 << i for i in ids), others=(300000, 1))
    assert found.newest(3) == [300000, 262143, 200000]
    assert found.newest(100) == [300000, *sorted(ids, reverse=True), 1]
    assert postings.PostingsCount(matches=0, unrefreshed=0).newest(5) == []


@pg_only
def test_a_long_tail_is_refreshed_a_chunk_at_a_time_and_counts_stay_exact(corpus, archivist,
                                                                          monkeypatch):
    rule, other, records = corpus
    assert _counts(archivist, "差旅")[1] == 20  # bitmaps built
    assert not postings.postings_refresh_due()
    monkeypatch.setattr(postings, "REFRESH_CHUNK", 3)
    monkeypatch.setattr(postings, "REFRESH_TAIL", 100)  # no refresh from the counts
    added = [_make(rule, records[0].fonds, 300 + i) for i in range(8)]  # 4 with 差旅
    assert postings.postings_refresh_due()
    steps = 0
    while postings.postings_refresh_due():
        postings.postings_refresh()
        steps += 1
        assert _counts(archivist, "差旅") == (24, 24, 24)
    assert steps == 3  # 8 new ids, 3 at a time
    found = postings.postings_count(("tok", "差旅"), "'差旅'")
    assert found.unrefreshed == 0 and found.newest(1) == [added[-2].pk]
