"""Archive numbers (档号): format, gap-free allocation under concurrency, volumes, expiry."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from django.db import connection, transaction

from kjda.archives import numbering
from kjda.archives.models import Arrangement, Category, Record, RecordStatus, Volume
from kjda.archives.services import (
    fonds_set_category_code,
    record_set_asset_disposed,
    retention_resolve,
    rule_for_category,
    volume_close,
)
from kjda.audit.models import AuditEvent
from kjda.errors import DomainError
from kjda.ingest.metadata import metadata_parse
from kjda.ingest.pipeline import IncomingFile
from kjda.ingest.services import record_ingest
from kjda_oasim.factories import metadata_json, pdf_bytes


def _ingest(actor, **meta):
    import io

    parsed = metadata_parse(metadata_json(**meta))
    data = pdf_bytes(["记账凭证", meta.get("title", "报销差旅费")])
    return record_ingest(metadata=parsed, files=[IncomingFile(io.BytesIO(data), "v.pdf",
                                                              parsed.files[0] if parsed.files
                                                              else _file_meta())],
                         actor=actor).record


def _file_meta():
    from kjda.ingest.metadata import FileMetaIn

    return FileMetaIn()


@pytest.mark.parametrize(
    ("with_fonds", "volume", "expected"),
    [(True, None, "Z001-PZ·2024·D30-0001"), (True, 5, "Z001-PZ·2024·D30-0005-0042"),
     (False, None, "PZ·2024·D30-0001")],
)
def test_archive_no_format_follows_dat94(fonds, with_fonds, volume, expected):
    fonds.archive_no_with_fonds = with_fonds
    item = 42 if volume else 1
    got = numbering.archive_no_format(fonds=fonds, class_code="PZ·2024·D30", item_no=item,
                                      volume_no=volume)
    assert got == expected
    assert numbering.archive_no_is_valid(got)


@pytest.mark.parametrize("bad", ["Z001-PZ-2024-D30-0001", "Z001-PZ·2024·D30-1", "Z001-PZ·24·D30-0001",
                                 "Z001-PZ·2024·D0-0001", "Z001-PZ·2024·D1000-0001",
                                 "Z001-PZ·2024·X30-0001", "z001-PZ·2024·D30-0001"])
def test_malformed_archive_numbers_are_rejected(bad):
    assert not numbering.archive_no_is_valid(bad)


@pytest.mark.parametrize("term", ["D2", "D20", "D50", "D100"])
def test_any_fixed_term_is_a_valid_class_code_term(term):
    # 附表2's 2-year rows and a unit's own longer terms (D<n>) are numbered like D30
    assert numbering.archive_no_is_valid(f"Z001-BG·2024·{term}-0001")


def test_category_codes_are_configurable_per_fonds(fonds):
    category = Category.objects.get(name="会计凭证")
    fonds_set_category_code(fonds=fonds, category=category, code="KJPZ")
    assert numbering.class_code_build(fonds=fonds, category=category, fiscal_year=2023,
                                      retention="D30") == "KJPZ·2023·D30"


def test_retention_can_be_longer_never_shorter(db):
    rule = rule_for_category(name="银行对账单")
    assert retention_resolve(rule=rule, requested=None) == "D10"
    assert retention_resolve(rule=rule, requested="Y") == "Y"
    with pytest.raises(DomainError):
        retention_resolve(rule=rule_for_category(name="记账凭证"), requested="D10")
    assert rule_for_category(name="月度财务会计报告").name == "月度、季度、半年度财务会计报告"


@pytest.mark.parametrize(
    ("fy", "retention", "disposed", "expected"),
    [(2024, "D30", None, date(2054, 12, 31)), (2024, "D10", None, date(2034, 12, 31)),
     (2024, "Y", None, None), (2020, "FA5", None, None),
     (2020, "FA5", date(2023, 6, 30), date(2028, 12, 31))],
)
def test_expiry_counts_from_the_end_of_the_fiscal_year(fy, retention, disposed, expected):
    assert numbering.retention_expiry(fiscal_year=fy, retention=retention,
                                      asset_disposed_on=disposed) == expected


@pytest.mark.django_db
def test_fixed_asset_card_expires_five_years_after_disposal(fonds, archivist):
    record = _ingest(archivist, category="固定资产卡片", document_no="FA-001", title="设备卡片")
    assert record.retention == "FA5" and record.retention_expires_on is None
    record_set_asset_disposed(record=record, disposed_on=date(2024, 5, 1))
    assert record.retention_expires_on == date(2029, 12, 31)


@pytest.mark.django_db
def test_permanent_records_never_expire(fonds, archivist):
    record = _ingest(archivist, category="年度财务会计报告", document_no="", title="2023年度财务报告",
                     fiscal_year=2023, date="2024-03-31")
    assert record.retention == "Y" and record.retention_expires_on is None
    assert record.archive_no == "Z001-BG·2023·Y-0001"


@pytest.mark.django_db
def test_numbers_are_not_reused_after_a_rolled_back_filing(fonds):
    with pytest.raises(RuntimeError), transaction.atomic():
        numbering.counter_next(fonds=fonds, scope="PZ·2024·D30", kind="item")
        raise RuntimeError("filing failed")
    with transaction.atomic():
        assert numbering.counter_next(fonds=fonds, scope="PZ·2024·D30", kind="item") == 1


@pytest.mark.django_db
def test_by_volume_items_get_numbers_when_the_volume_closes(fonds, archivist):
    fonds.arrangement = Arrangement.BY_VOLUME
    fonds.save()
    records = [_ingest(archivist, document_no=f"记-{n:04d}", date=f"2024-03-{n + 10}",
                       title=f"凭证{n}") for n in (3, 1, 2)]
    assert all(r.status == RecordStatus.FILED and r.archive_no is None for r in records)
    volume = Volume.objects.get()
    volume = volume_close(volume=volume, actor=archivist)
    assert volume.archive_no == "Z001-PZ·2024·D30-0001"
    closed = AuditEvent.objects.get(action="volume.close")  # the service audits its write
    assert closed.actor_name == "archivist" and closed.object_id == str(volume.pk)
    assert closed.detail == {"archive_no": "Z001-PZ·2024·D30-0001"}
    numbers = list(Record.objects.order_by("date").values_list("archive_no", flat=True))
    assert numbers == [f"Z001-PZ·2024·D30-0001-000{i}" for i in (1, 2, 3)]
    with pytest.raises(DomainError):
        volume_close(volume=volume)
    # A new item after closing goes into a new volume, numbered 0002 when that one closes.
    later = _ingest(archivist, document_no="记-0009", title="凭证9")
    assert later.volume_id != volume.pk
    second = volume_close(volume=later.volume)
    assert second.archive_no == "Z001-PZ·2024·D30-0002"


def _in_threads(threads: int, body) -> None:
    """`body(n)` in `threads` threads started together; fails with the errors any of them raised."""
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            barrier.wait()
            body(n)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in pool)
    assert not errors, errors


@pytest.mark.django_db(transaction=True)
def test_eight_parallel_writers_get_gap_free_unique_numbers(fonds, archivist):
    per_thread, threads = 6, 8

    def body(n: int) -> None:
        for i in range(per_thread):
            _ingest(archivist, document_no=f"T{n}-{i}", title=f"并发凭证 {n}-{i}")

    _in_threads(threads, body)
    items = sorted(Record.objects.values_list("item_no", flat=True))
    assert items == list(range(1, threads * per_thread + 1))
    assert Record.objects.values("archive_no").distinct().count() == threads * per_thread


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_external_id_file_one_record(fonds, archivist):
    # an OA retrying while its first delivery is still being filed (same or next transaction)
    results: list[int] = []
    _in_threads(6, lambda n: results.append(
        _ingest(archivist, source_system="dingtalk", external_id="PROC-RACE").pk))
    assert Record.objects.filter(external_id="PROC-RACE").count() == 1
    assert set(results) == {Record.objects.get(external_id="PROC-RACE").pk}
    assert list(Record.objects.values_list("item_no", flat=True)) == [1]


@pytest.mark.django_db(transaction=True)
def test_concurrent_filings_of_one_voucher_number_file_it_once(fonds, archivist):
    # GD-1-8 looks for the number inside the filing transaction (on PostgreSQL after a lock on
    # the number): a filing committed meanwhile is seen, the others stay pending as duplicates
    threads = 6
    _in_threads(threads, lambda n: _ingest(archivist, document_no="记-0777",
                                           external_id=f"dup-{n}", title=f"重号凭证 {n}"))
    records = Record.objects.filter(document_no="记-0777")
    assert records.count() == threads
    assert records.filter(status=RecordStatus.FILED).count() == 1
    for pending in records.filter(status=RecordStatus.PENDING):
        assert pending.check_report["blocking_failures"] == ["GD-1-8"]


@pytest.mark.django_db(transaction=True)
def test_filings_waiting_for_a_pipeline_turn_all_get_through(fonds, archivist, settings):
    # one pipeline at a time per process (KJDA_INGEST_PARALLEL): the turn is given back before
    # the filing transaction, so a thread holding it never waits on a batch another thread leads
    settings.KJDA_INGEST_PARALLEL = 1
    threads, per_thread = 4, 3

    def body(n: int) -> None:
        for i in range(per_thread):
            _ingest(archivist, document_no=f"Q{n}-{i}", title=f"排队凭证 {n}-{i}")

    _in_threads(threads, body)
    assert sorted(Record.objects.values_list("item_no", flat=True)) == list(
        range(1, threads * per_thread + 1))
