"""Full-text search: Chinese words of any length, Latin words and numbers, extracted text,
re-indexing, the user's scope, and the counts the API returns. Runs on SQLite (FTS5) and on
PostgreSQL (tsvector + GIN) alike."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kjda.accounts.selectors import ScopePart
from kjda.archives import selectors
from kjda.archives.models import Fonds, Record, RecordText, RetentionRule
from kjda.archives.search import (
    _pg_tsquery,
    grams_for_text,
    pg_tsvector_for_text,
    record_facet_tokens,
    search_filter,
    search_index_bulk,
    search_index_record,
    search_reindex,
)
from kjda.archives.selectors import RecordFilters, record_list


@pytest.fixture
def make(fonds):
    rule = RetentionRule.objects.select_related("category").get(name="记账凭证")

    def _make(title: str, text: str = "", *, department: str = "财务部", index: bool = True,
              **values) -> Record:
        values.setdefault("fonds", fonds)
        record = Record.objects.create(
            rule=rule, category=rule.category, class_code="PZ·2024·D30",
            title=title, date=date(2024, 3, 15), fiscal_year=2024, retention=rule.retention,
            responsible="本公司财务部", department=department, **values)
        RecordText.objects.create(record=record, content=text)
        if index:
            search_index_record(record=record)
        return record

    return _make


def _search(actor, q: str, **filters) -> list[str]:
    return [r.title for r in record_list(actor=actor, filters=RecordFilters(q=q, **filters))]


def _count(actor, q: str, **filters) -> int:
    return record_list(actor=actor, filters=RecordFilters(q=q, **filters)).count()


def test_grams_are_bigrams_plus_unigrams_and_latin_words():
    assert grams_for_text("报销差旅费 Hilton 2024") == (
        "报销 销差 差旅 旅费 hilton 2024 u报 u销 u差 u旅 u费")


def test_postgresql_tokens_bigrams_exact_and_4_grams_with_positions():
    vector = pg_tsvector_for_text("报销差旅费，差旅")
    lexemes = dict(t.split(":") if ":" in t else (t, "") for t in vector.split())
    # 4-grams carry positions (phrases are made of them); every bigram is a lexeme, once
    assert lexemes["'报销差旅'"] == "1" and lexemes["'销差旅费'"] == "2"
    assert lexemes["'差旅'"] == "" and lexemes["'旅费'"] == "" and lexemes["'报销'"] == ""
    assert lexemes["'差旅费'"] == ""  # the run's end: for three-character prefix queries
    assert "'费差'" not in lexemes  # nothing across the punctuation
    # two characters: the bigram lexeme itself, no prefix query over the 4-grams
    assert _pg_tsquery("差旅") == "'差旅'"
    assert _pg_tsquery("差旅费") == "'差旅费':*"
    assert _pg_tsquery("报销差旅") == "'报销差旅'"
    assert _pg_tsquery("报销差旅费") == "('报销差旅' <-> '销差旅费')"


@pytest.mark.django_db
def test_every_two_character_word_of_a_run_is_found_and_none_across_punctuation(make, archivist):
    text = "甲乙丙丁戊己庚辛，壬癸"
    make("长串", text)
    make("别的", "乙甲 丁丙")
    run = text.split("，")[0]
    for i in range(len(run) - 1):
        assert _search(archivist, run[i:i + 2]) == ["长串"], run[i:i + 2]
        assert _count(archivist, run[i:i + 2]) == 1
    assert _search(archivist, "壬癸") == ["长串"]
    assert _search(archivist, "辛壬") == []
    assert _search(archivist, "乙甲") == ["别的"]
    assert _count(archivist, "丙丁 乙甲") == 0


@pytest.mark.django_db
def test_two_character_word_is_found_inside_a_longer_title(make, archivist):
    make("报销差旅费")
    make("采购办公用品")
    assert _search(archivist, "差旅") == ["报销差旅费"]
    assert _count(archivist, "差旅") == 1


@pytest.mark.django_db
def test_one_character_query(make, archivist):
    make("报销差旅费")
    make("银行手续费")
    make("计提工资")
    assert sorted(_search(archivist, "费")) == ["报销差旅费", "银行手续费"]
    assert _search(archivist, "资") == ["计提工资"]
    assert _count(archivist, "费") == 2


@pytest.mark.django_db
def test_four_character_phrase_matches_only_as_a_contiguous_substring(make, archivist):
    make("报销差旅费")
    make("差旅报销单")  # holds 差旅 and 报销, but not 报销差旅
    make("报销费用，差旅补助")  # both words, apart
    assert _search(archivist, "报销差旅") == ["报销差旅费"]
    assert _count(archivist, "报销差旅") == 1
    assert _search(archivist, "差旅报销") == ["差旅报销单"]
    assert _search(archivist, "报销差旅费") == ["报销差旅费"]
    assert _search(archivist, "销差旅费用") == []


@pytest.mark.django_db
def test_latin_words_and_invoice_numbers(make, archivist):
    make("报销住宿费", "电子发票 发票号码：24310000000012345678 销售方：Hilton Shanghai")
    make("报销餐费", "发票号码：24310000000087654321")
    assert _search(archivist, "24310000000012345678") == ["报销住宿费"]
    assert _search(archivist, "hilton") == ["报销住宿费"]
    assert _search(archivist, "HILTON") == ["报销住宿费"]
    assert _search(archivist, "2431000000001234") == []  # numbers match whole, not by prefix
    assert _search(archivist, "记-0015") == []
    make("报销通讯费", document_no="记-0015")
    assert _search(archivist, "记-0015") == ["报销通讯费"]


@pytest.mark.django_db
def test_a_phrase_does_not_match_across_punctuation(make, archivist):
    make("报销，销售部")
    assert _search(archivist, "报销售") == []
    assert _search(archivist, "销售部") == ["报销，销售部"]
    assert _search(archivist, "报销") == ["报销，销售部"]


@pytest.mark.django_db
def test_and_of_two_terms(make, archivist):
    make("报销北京出差差旅费")
    make("报销上海出差差旅费")
    make("北京办事处房租")
    assert _search(archivist, "差旅 北京") == ["报销北京出差差旅费"]
    assert _search(archivist, "北京 房租") == ["北京办事处房租"]
    assert _count(archivist, "差旅 北京") == 1
    assert _search(archivist, "差旅 广州") == []


@pytest.mark.django_db
def test_extracted_text_is_searchable(make, archivist):
    make("记账凭证 记-0015", "摘要：报销差旅费 借：管理费用—差旅费 贷：银行存款")
    make("记账凭证 记-0016", "摘要：支付供应商货款")
    assert _search(archivist, "管理费用") == ["记账凭证 记-0015"]
    assert _search(archivist, "供应商") == ["记账凭证 记-0016"]


@pytest.mark.django_db
def test_reindexing_a_record_replaces_its_old_tokens(make, archivist):
    record = make("报销差旅费")
    record.title = "采购办公用品"
    record.save(update_fields=["title"])
    RecordText.objects.filter(record=record).update(content="发票 打印纸")
    search_index_record(record=record)
    assert _search(archivist, "差旅") == []
    assert _search(archivist, "办公用品") == ["采购办公用品"]
    assert _search(archivist, "打印纸") == ["采购办公用品"]
    search_index_record(record=record)  # indexing twice keeps one entry
    assert _count(archivist, "办公") == 1
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM archives_search")
        assert cur.fetchone()[0] == 1


@pytest.mark.django_db
def test_scope_applies_to_items_and_count(make, archivist, monkeypatch):
    make("报销差旅费（财务）", department="财务部")
    make("报销差旅费（销售）", department="销售部")
    make("报销差旅费（采购）", department="采购部")
    assert _count(archivist, "差旅") == 3
    monkeypatch.setattr(selectors, "record_scope_parts",
                        lambda actor: [ScopePart(departments=("财务部", "采购部"))])
    assert sorted(_search(archivist, "差旅")) == ["报销差旅费（财务）", "报销差旅费（采购）"]
    assert _count(archivist, "差旅") == 2
    assert _count(archivist, "差旅", department="销售部") == 0
    monkeypatch.setattr(selectors, "record_scope_parts", lambda actor: None)
    assert _search(archivist, "差旅") == []
    assert _count(archivist, "差旅") == 0


def _user(username: str, roles: list[str], *, fonds: list[str] | None = None,
          departments: list[str] | None = None, person_name: str = ""):
    from django.contrib.auth import get_user_model

    from kjda.accounts.models import Profile

    user = get_user_model().objects.create_user(username=username, password="x")  # noqa: S106
    Profile.objects.create(user=user, roles=roles, fonds=fonds or [],
                           departments=departments or [], person_name=person_name)
    return user


@pytest.mark.django_db
def test_scoped_counts_come_from_the_index_and_agree_with_the_rows(make, fonds):
    other = Fonds.objects.create(code="Z009", name="子公司", unit_name="子公司")
    for i, (dept, applicant) in enumerate([("财务部", "张三"), ("销售部", "李四"),
                                           ("采购部", "张三"), ("销售部", "王五")] * 3):
        make(f"报销差旅费 {i}", department=dept, applicant=applicant,
             **({"fonds": other} if i % 3 == 0 else {}))
    make("其他 采购办公用品", department="销售部", applicant="李四")
    users = [
        _user("a1", ["archivist"], fonds=[fonds.code]),
        _user("a2", ["accountant"], fonds=[other.code], departments=["销售部", "采购部"]),
        _user("a3", ["employee"], person_name="张三"),
        _user("a4", ["employee", "auditor"], fonds=[other.code], person_name="李四"),
        _user("a5", ["archivist"], fonds=["NOPE"]),
        _user("a6", ["archivist"], departments=["销售部"]),
        _user("a7", ["viewer-of-nothing"]),
    ]
    filters = [{}, {"department": "销售部"}, {"applicant": "张三"}, {"fonds": other.code},
               {"fonds": "NOPE"}, {"fiscal_year": 2024}, {"fiscal_year": 2023},
               {"status": "draft"}]
    for user in users:
        for flt in filters:
            qs = record_list(actor=user, filters=RecordFilters(q="差旅", **flt))
            rows = list(qs.all())
            assert qs.count() == len(rows), (user.username, flt)
            expected = list(record_list(actor=user, filters=RecordFilters(**flt)))
            expected = [r for r in expected if "差旅" in r.title]
            assert [r.pk for r in rows] == [r.pk for r in expected], (user.username, flt)
    # the count of a scoped search is one statement over the index, no join to the records
    qs = record_list(actor=users[1], filters=RecordFilters(q="差旅", department="销售部"))
    with CaptureQueriesContext(connection) as ctx:
        assert qs.count() == 2
    assert "archives_record" not in " ".join(q["sql"] for q in ctx.captured_queries)


@pytest.mark.django_db
def test_facet_tokens_cannot_be_hit_by_a_query(make):
    make("报销差旅费", department="财务部", applicant="张三")
    assert record_facet_tokens(Record.objects.get())[1] == "ξd" + "财务部".encode().hex()
    for q in ["财务部".encode().hex(), "ξd" + "财务部".encode().hex(), "d" + "财务部".encode().hex()]:
        qs = search_filter(Record.objects.all(), q)
        assert qs is None or qs.count() == 0


@pytest.mark.django_db
def test_list_filters_combine_with_the_search(make, archivist):
    make("报销差旅费", department="财务部", applicant="张三")
    make("报销差旅费", department="销售部", applicant="李四")
    assert _count(archivist, "差旅", department="销售部") == 1
    assert [r.applicant for r in record_list(
        actor=archivist, filters=RecordFilters(q="差旅", applicant="张三"))] == ["张三"]


@pytest.mark.django_db
def test_results_are_newest_first_and_counts_agree_with_the_rows(make, archivist):
    ids = [make(f"报销差旅费 第{i}笔").pk for i in range(25)]
    qs = record_list(actor=archivist, filters=RecordFilters(q="差旅"))
    assert [r.pk for r in qs[:20]] == sorted(ids, reverse=True)[:20]
    assert [r.pk for r in qs[20:40]] == sorted(ids, reverse=True)[20:]
    assert qs.count() == 25 == len(list(qs))
    narrowed = qs.filter(pk__in=ids[:3])  # chaining drops the index-only count
    assert narrowed.count() == 3 == len(list(narrowed))


@pytest.mark.django_db
def test_count_from_the_index_matches_the_join(make, archivist, fonds):
    for i in range(5):
        make(f"支付供应商货款 {i}")
    make("计提工资")
    qs = Record.objects.all()
    searched = search_filter(qs, "货款")
    assert searched.count() == 5  # answered from the index alone
    assert searched.filter(fonds=fonds).count() == 5  # answered through the join
    assert search_filter(qs, "。，") is None  # punctuation only: no search


@pytest.mark.django_db
def test_deleting_a_record_deletes_its_index_entry(make, archivist):
    keep = make("报销差旅费 A")
    gone = make("报销差旅费 B")
    RecordText.objects.filter(record=gone).delete()
    gone.delete()
    assert _count(archivist, "差旅") == 1  # the count that reads the index alone
    assert _search(archivist, "差旅") == [keep.title]


@pytest.mark.django_db
def test_long_texts_and_repeated_words(make, archivist):
    body = "，".join(["报销差旅费"] * 400) + "，最后一行写着采购办公用品"
    make("长文本", body)
    make("短", "")
    assert _search(archivist, "办公用品") == ["长文本"]
    assert _search(archivist, "报销差旅费") == ["长文本"]
    assert _search(archivist, "短") == ["短"]


@pytest.mark.django_db
def test_query_without_searchable_characters_lists_everything(make, archivist):
    make("报销差旅费")
    make("计提工资")
    assert _count(archivist, "，。！") == 2


@pytest.mark.django_db
def test_unindexed_record_is_not_found_until_indexed(make, archivist):
    record = make("报销差旅费", index=False)
    assert _search(archivist, "差旅") == []
    search_index_record(record=record)
    assert _search(archivist, "差旅") == ["报销差旅费"]


@pytest.mark.django_db
def test_bulk_index_and_reindex_give_the_same_results(make, archivist):
    a = make("报销差旅费", "发票号码：11112222", index=False)
    b = make("采购办公用品", "打印纸 墨盒", index=False)
    rule_loaded = Record.objects.select_related("rule").filter(pk__in=[a.pk, b.pk])
    texts = dict(RecordText.objects.values_list("record_id", "content"))
    assert search_index_bulk((r, texts[r.pk]) for r in rule_loaded) == 2
    assert _search(archivist, "11112222") == ["报销差旅费"]
    assert _search(archivist, "墨盒") == ["采购办公用品"]
    Record.objects.filter(pk=a.pk).update(title="计提工资")
    assert search_reindex(batch_size=1) == 2
    assert _search(archivist, "差旅") == []
    assert _search(archivist, "工资") == ["计提工资"]
    assert _count(archivist, "墨盒") == 1


@pytest.mark.django_db
def test_file_names_are_indexed(make, archivist):
    from kjda.archives.models import RecordFile
    from kjda.storage.models import Blob

    record = make("报销差旅费", index=False)
    sha = "a" * 64
    blob = Blob.objects.create(sha256=sha, sm3="b" * 64, size=3)
    RecordFile.objects.create(record=record, blob=blob, sequence=1, filename="酒店发票-0042.pdf",
                              size=3, sha256=sha, sm3="b" * 64)
    search_index_record(record=record)
    assert _search(archivist, "酒店发票") == ["报销差旅费"]
    search_index_bulk([(Record.objects.select_related("rule").get(pk=record.pk), "")])
    assert _search(archivist, "0042") == ["报销差旅费"]


@pytest.mark.django_db
def test_search_through_the_api_returns_the_page_the_count_and_logs_it(api, make):
    from kjda.audit.models import AuditEvent

    for i in range(3):
        make(f"报销差旅费 {i}")
    make("采购办公用品")
    resp = api.get("/api/v1/records", q="差旅", limit=2)
    assert resp.status_code == 200
    body = resp.json()
    assert body["count"] == 3
    assert [item["title"] for item in body["items"]] == ["报销差旅费 2", "报销差旅费 1"]
    event = AuditEvent.objects.filter(action="record.search").latest("seq")
    assert event.detail["q"] == "差旅"
    assert event.detail["count"] == 3


@pytest.mark.django_db
def test_counting_inside_a_transaction_leaves_the_planner_settings_alone(make, archivist):
    from django.db import transaction

    make("报销差旅费", department="财务部")
    qs = record_list(actor=archivist, filters=RecordFilters(q="差旅"))
    with transaction.atomic():
        assert qs.count() == 1  # from the index
        assert qs.filter(department="财务部").count() == 1  # through the join
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SHOW enable_seqscan")
                assert cur.fetchone()[0] == "on"


@pytest.mark.django_db
def test_truncating_the_records_empties_the_index(make, archivist):
    if connection.vendor != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's (SQLite deletes row by row: see the delete test)")
    make("报销差旅费")
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred FK checks pending
        cur.execute("TRUNCATE archives_record, archives_search CASCADE")  # both, like a flush
        cur.execute("SELECT count(*) FROM archives_search")
        assert cur.fetchone()[0] == 0
    make("报销差旅费")
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute("TRUNCATE archives_record CASCADE")
        cur.execute("SELECT count(*) FROM archives_search")
        assert cur.fetchone()[0] == 0


@pytest.mark.django_db
def test_the_migration_writes_the_facet_tokens_that_python_writes(make, fonds):
    import importlib

    from kjda.archives import search

    migration = importlib.import_module("kjda.archives.migrations.0008_search_facets")
    record = make("报销差旅费", department="财务部", applicant="张三")
    search.search_rows_write([(record.pk, search.record_search_text(record, ""), [])])
    with connection.cursor() as cur:
        pg = connection.vendor == "postgresql"
        cur.execute(migration.PG_FACETS if pg else migration.SQLITE_FACETS)
        cur.execute(migration.PG_FACETS if pg else migration.SQLITE_FACETS)  # idempotent
        cur.execute("SELECT grams::text FROM archives_search" if pg
                    else "SELECT grams FROM archives_search")
        migrated = cur.fetchone()[0]
    search_index_record(record=record)
    with connection.cursor() as cur:
        cur.execute("SELECT grams::text FROM archives_search" if pg
                    else "SELECT grams FROM archives_search")
        indexed = cur.fetchone()[0]
    assert sorted(migrated.split()) == sorted(indexed.split())
    assert _count(_user("e1", ["employee"], person_name="张三"), "差旅") == 1


@pytest.mark.django_db
@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_a_sparse_search_pages_from_the_bitmap_with_the_rows_the_walk_gives(make, fonds,
                                                                           monkeypatch):
    from kjda.archives import search

    other = Fonds.objects.create(code="Z009", name="子公司", unit_name="子公司")
    for i in range(30):
        make(f"报销差旅费 {i}" if i % 4 == 0 else f"办公用品 {i}",
             department="销售部" if i % 3 else "财务部", **({"fonds": other} if i % 5 == 0 else {}))
    user = _user("acc", ["accountant"], fonds=[fonds.code], departments=["销售部"])
    slices = [(0, 2), (0, 20), (1, 3), (2, 20)]

    def pages(q: str) -> list[list[int]]:
        qs = record_list(actor=user, filters=RecordFilters(q=q))
        return [[r.pk for r in qs[a:b]] for a, b in slices] + [[qs.count()]]

    walked = {q: pages(q) for q in ["差旅", "办公"]}
    monkeypatch.setattr(search, "_PG_WALK_ROWS", 0)  # every page from the bitmap
    qs = record_list(actor=user, filters=RecordFilters(q="差旅"))
    with CaptureQueriesContext(connection) as ctx:
        list(qs[0:2])
    assert "record_id + 0 DESC" in ctx.captured_queries[-1]["sql"]
    for q, expected in walked.items():
        assert pages(q) == expected
        expected_ids = [r.pk for r in record_list(actor=user, filters=RecordFilters())
                        if ("差旅" if q == "差旅" else "办公") in r.title]
        assert expected[1] == expected_ids[:20] and expected[-1] == [len(expected_ids)]
