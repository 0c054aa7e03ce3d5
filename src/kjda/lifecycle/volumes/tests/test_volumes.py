"""组卷: rules by month / quarter / size / voucher word, moves, closing with the fonds' format,
卷内目录 and 备考表 as PDF/A and Excel, on real filed vouchers."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from kjda.archives.models import Category, Record, Volume, VolumeStatus
from kjda.audit.models import AuditEvent
from kjda.errors import Conflict, DomainError
from kjda.formats.pdfa_check import pdfa_check
from kjda.lifecycle.volumes.models import VolumeDescription, VolumeDocument
from kjda.lifecycle.volumes.services import (
    volume_close,
    volume_item_move,
    volume_numbering_set,
    volume_rule_delete,
    volume_rule_set,
    volume_update,
    volumes_assemble,
)
from kjda.storage.services import blob_open


def _category():
    return Category.objects.get(name="会计凭证")


def _year(ingest):
    """Eight vouchers across Q1: Jan (记 ×2, 收), Feb (付, 记), Mar (记, 转, 记)."""
    spec = [("2024-01-05", "记-0002", "记"), ("2024-01-03", "记-0001", "记"),
            ("2024-01-20", "收-0001", "收"), ("2024-02-11", "付-0001", "付"),
            ("2024-02-12", "记-0003", "记"), ("2024-03-01", "记-0004", "记"),
            ("2024-03-02", "转-0001", "转"), ("2024-03-03", "记-0005", "记")]
    return [ingest(date=day, period=int(day[5:7]), document_no=no, voucher_type=word)
            for day, no, word in spec]


def _layout():
    return sorted((v.title, [r.document_no for r in v.records.order_by("date", "document_no")])
                  for v in Volume.objects.filter(status=VolumeStatus.OPEN))


@pytest.mark.django_db
def test_assembly_by_month_is_the_default_and_running_it_again_moves_nothing(by_volume,
                                                                              ingest, archivist):
    _year(ingest)
    first = volumes_assemble(fonds=by_volume, fiscal_year=2024, actor=archivist)
    assert first.volumes == 3 and first.items == 8
    assert _layout() == [
        ("2024年01月会计凭证", ["记-0001", "记-0002", "收-0001"]),
        ("2024年02月会计凭证", ["付-0001", "记-0003"]),
        ("2024年03月会计凭证", ["记-0004", "转-0001", "记-0005"])]
    again = volumes_assemble(fonds=by_volume, fiscal_year=2024, actor=archivist)
    assert (again.moved, again.created, again.removed) == (0, 0, 0)
    events = AuditEvent.objects.filter(action="volume.assemble").order_by("id")
    assert [e.detail["moved"] for e in events] == [first.moved, 0]
    assert events[0].actor_name == "archivist" and events[0].object_id == "Z001"


@pytest.mark.django_db
def test_a_quarter_rule_with_voucher_words_puts_each_word_in_its_own_volume(by_volume, ingest,
                                                                           archivist):
    _year(ingest)
    rule = volume_rule_set(fonds=by_volume, category=_category(), period="quarter",
                           by_voucher_word=True, actor=archivist)
    event = AuditEvent.objects.get(action="volume_rule.set")
    assert event.detail["after"] == {"period": "quarter", "max_items": None, "max_bytes": None,
                                     "by_voucher_word": True}
    assert event.detail["before"] is None
    result = volumes_assemble(fonds=by_volume, fiscal_year=2024, actor=archivist)
    assert result.removed == 3  # the filing's per-month volumes, emptied
    assert _layout() == [
        ("2024年第1季度会计凭证（付字）", ["付-0001"]),
        ("2024年第1季度会计凭证（收字）", ["收-0001"]),
        ("2024年第1季度会计凭证（记字）", ["记-0001", "记-0002", "记-0003", "记-0004", "记-0005"]),
        ("2024年第1季度会计凭证（转字）", ["转-0001"])]
    volume_rule_delete(rule=rule, actor=archivist)
    assert AuditEvent.objects.filter(action="volume_rule.delete").count() == 1
    volumes_assemble(fonds=by_volume, fiscal_year=2024, actor=archivist)
    assert [t for t, _ in _layout()] == ["2024年01月会计凭证", "2024年02月会计凭证",
                                         "2024年03月会计凭证"]


@pytest.mark.django_db
def test_a_size_limit_splits_a_year_into_parts_in_date_then_number_order(by_volume, ingest,
                                                                         archivist):
    _year(ingest)
    volume_rule_set(fonds=by_volume, category=_category(), period="year", max_items=3,
                    actor=archivist)
    volumes_assemble(fonds=by_volume, fiscal_year=2024, actor=archivist)
    assert _layout() == [
        ("2024年会计凭证第1册", ["记-0001", "记-0002", "收-0001"]),
        ("2024年会计凭证第2册", ["付-0001", "记-0003", "记-0004"]),
        ("2024年会计凭证第3册", ["转-0001", "记-0005"])]
    sizes = [r.files.first().size for r in Record.objects.order_by("date")]
    volume_rule_set(fonds=by_volume, category=_category(), period="year", actor=archivist,
                    max_bytes=sizes[0] + sizes[1])
    volumes_assemble(fonds=by_volume, fiscal_year=2024, actor=archivist)
    assert all(len(items) <= 2 for _, items in _layout())
    with pytest.raises(DomainError) as err:
        volume_rule_set(fonds=by_volume, category=_category(), period="week", actor=archivist)
    assert err.value.code == "volume_rule_period"


@pytest.mark.django_db
def test_moving_an_item_between_open_volumes_sticks_and_closed_volumes_refuse(by_volume, ingest,
                                                                             archivist):
    records = _year(ingest)
    volumes_assemble(fonds=by_volume, fiscal_year=2024, actor=archivist)
    jan, feb = (Volume.objects.get(title=f"2024年0{m}月会计凭证") for m in (1, 2))
    moved = Record.objects.get(document_no="收-0001")
    volume_item_move(record=moved, to_volume=feb, actor=archivist)
    event = AuditEvent.objects.get(action="volume.item_move")
    assert event.detail == {"from_volume": jan.pk, "to_volume": feb.pk, "document_no": "收-0001"}
    volumes_assemble(fonds=by_volume, fiscal_year=2024, actor=archivist)
    assert Record.objects.get(pk=moved.pk).volume_id == feb.pk  # a hand move is kept
    with pytest.raises(DomainError) as same:
        volume_item_move(record=moved, to_volume=feb, actor=archivist)
    assert same.value.code == "volume_same"
    volume_close(volume=jan, actor=archivist)
    with pytest.raises(Conflict) as into_closed:
        volume_item_move(record=moved, to_volume=jan, actor=archivist)
    assert into_closed.value.status == 409
    out_of_closed = Record.objects.filter(volume=jan).first()
    with pytest.raises(Conflict):
        volume_item_move(record=out_of_closed, to_volume=feb, actor=archivist)
    with pytest.raises(Conflict):
        volume_update(volume=jan, title="改名", actor=archivist)
    with pytest.raises(Conflict):
        volume_close(volume=jan, actor=archivist)
    volume_update(volume=feb, title="2024年02月会计凭证（含收-0001）", actor=archivist)
    assert AuditEvent.objects.get(action="volume.update").detail["after"] == {
        "title": "2024年02月会计凭证（含收-0001）"}
    assert len(records) == 8


@pytest.mark.django_db
def test_closing_numbers_volumes_gap_free_in_the_fonds_format(by_volume, ingest, archivist):
    _year(ingest)
    volumes_assemble(fonds=by_volume, fiscal_year=2024, actor=archivist)
    with pytest.raises(DomainError) as bad:
        volume_numbering_set(fonds=by_volume, template="{fonds}-{volume_no:04d}", actor=archivist)
    assert bad.value.code == "volume_template_invalid"
    with pytest.raises(DomainError):
        volume_numbering_set(fonds=by_volume, template="{fonds}-{class_code}-{nope}",
                             actor=archivist)
    jan, feb, mar = Volume.objects.order_by("title")
    first = volume_close(volume=jan, actor=archivist)
    assert first.archive_no == "Z001-PZ·2024·D30-0001"
    assert list(first.records.order_by("item_no").values_list("archive_no", flat=True)) == [
        "Z001-PZ·2024·D30-0001-0001", "Z001-PZ·2024·D30-0001-0002", "Z001-PZ·2024·D30-0001-0003"]
    volume_numbering_set(fonds=by_volume, template="{fonds}-{class_code}-J{volume_no:03d}",
                         actor=archivist)
    event = AuditEvent.objects.get(action="volume_numbering.set")
    assert event.detail == {"before": "{fonds}-{class_code}-{volume_no:04d}",
                            "after": "{fonds}-{class_code}-J{volume_no:03d}"}
    second = volume_close(volume=mar, actor=archivist)
    assert second.archive_no == "Z001-PZ·2024·D30-J002"
    assert second.records.get(item_no=1).archive_no == "Z001-PZ·2024·D30-J002-0001"
    assert volume_close(volume=feb, actor=archivist).volume_no == 3
    assert AuditEvent.objects.filter(action="volume.close").count() == 3


@pytest.mark.django_db
def test_a_closed_volume_has_its_metadata_and_a_pdfa_contents_list_and_notes(by_volume, ingest,
                                                                             archivist):
    _year(ingest)
    volumes_assemble(fonds=by_volume, fiscal_year=2024, actor=archivist)
    volume = Volume.objects.get(title="2024年03月会计凭证")
    volume_close(volume=volume, actor=archivist)
    desc = VolumeDescription.objects.get(volume=volume)
    assert (desc.item_count, desc.file_count) == (3, 3)
    assert (str(desc.start_date), str(desc.end_date)) == ("2024-03-01", "2024-03-03")
    assert desc.total_bytes == sum(r.files.first().size for r in volume.records.all())
    assert desc.assembled_by == desc.checked_by == "archivist"
    docs = {d.kind: blob_open(sha256=d.blob_id).read() for d in
            VolumeDocument.objects.filter(volume=volume)}
    assert set(docs) == {"register_pdf", "register_xlsx", "notes_pdf", "notes_xlsx"}
    report = pdfa_check(docs["register_pdf"])
    assert report.compliant, report.violations
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(docs["register_pdf"])).pages)
    for expected in ("卷内目录", "Z001-PZ·2024·D30-0001-0001", "记-0004", "转-0001", "记-0005",
                     "文件编号(凭证号)", "责任者"):
        assert expected in text.replace("\n", "")
    assert pdfa_check(docs["notes_pdf"]).compliant
    notes = "".join(p.extract_text() for p in PdfReader(io.BytesIO(docs["notes_pdf"])).pages)
    assert "本卷情况说明" in notes and "立卷人" in notes and "检查人" in notes
    rows = list(load_workbook(io.BytesIO(docs["register_xlsx"])).active.iter_rows(values_only=True))
    assert ("序号", "档号/件号", "文件编号(凭证号)", "责任者", "题名", "日期", "页数/件数", "备注") in rows
    assert any(r[1] == "Z001-PZ·2024·D30-0001-0003" and r[2] == "记-0005" for r in rows)
    event = AuditEvent.objects.get(action="volume.registers")
    assert event.detail["items"] == 3 and event.detail["archive_no"] == "Z001-PZ·2024·D30-0001"


@pytest.mark.django_db
def test_open_volumes_of_an_ended_year_are_a_todo_and_the_record_names_its_volume(by_volume,
                                                                                 ingest,
                                                                                 archivist):
    from kjda.lifecycle.mentions import mentions_of_record
    from kjda.lifecycle.todos import todos_for

    record = ingest(date="2024-01-03", period=1, document_no="记-0001")
    volumes_assemble(fonds=by_volume, fiscal_year=2024, actor=archivist)
    todos = [t for t in todos_for(archivist) if t.workflow == "volume"]
    assert [t.title for t in todos] == ["封卷：2024 年度尚有 1 卷未封卷"]
    # ... and in the OA of those who close volumes, raised once by the daily job
    from allauth.socialaccount.models import SocialAccount

    from kjda.connectors.models import Connector, Notice
    from kjda.lifecycle.volumes.services import volumes_unclosed_notify

    connector = Connector.objects.create(kind="webhook", name="OA", enabled=True)
    SocialAccount.objects.create(user=archivist, provider="webhook", uid="u-arch")
    assert volumes_unclosed_notify() == [("Z001", 2024)]
    assert volumes_unclosed_notify() == []  # once per fonds and year
    notice = Notice.objects.get(connector=connector)
    assert notice.todo and notice.user_ids == ["u-arch"] and "2024" in notice.title
    assert AuditEvent.objects.get(action="volume.unclosed_notify").detail == {
        "fiscal_year": 2024, "open_volumes": 1}
    record.refresh_from_db()
    [mention] = [m for m in mentions_of_record(record) if m.workflow == "volume"]
    assert mention.state == "组卷中" and mention.url.endswith(f"/volumes/{record.volume_id}/")
    volume_close(volume=record.volume, actor=archivist)
    assert not [t for t in todos_for(archivist) if t.workflow == "volume"]


@pytest.mark.django_db
def test_the_cli_assembles_a_year_as_its_system_user(by_volume, ingest, capsys):
    from kjda.cli import main

    ingest(date="2024-01-03", period=1, document_no="记-0001")
    ingest(date="2024-05-03", period=5, document_no="记-0002")
    assert main(["volumes", "assemble", "--fonds", "Z001", "--year", "2024",
                 "--category", "会计凭证"]) == 0
    assert "2 items in 2 volumes" in capsys.readouterr().out
    event = AuditEvent.objects.get(action="volume.assemble")
    assert event.actor_name == "kjda:cli" and event.detail["category"] == "会计凭证"
    assert main(["volumes", "assemble", "--fonds", "Z999", "--year", "2024"]) == 2


def test_in_a_fonds_arranged_by_item_closing_binds_the_items_and_keeps_their_numbers(
        fonds, ingest, archivist):
    """按件整理: an item's 档号 is given at filing and never changes; the closed volume (装册)
    takes its own number."""
    _year(ingest)
    before = dict(Record.objects.values_list("pk", "archive_no"))
    assert all(before.values())
    volumes_assemble(fonds=fonds, fiscal_year=2024, actor=archivist)
    volume = Volume.objects.order_by("title").first()
    closed = volume_close(volume=volume, actor=archivist)
    assert closed.status == VolumeStatus.CLOSED and closed.archive_no == "Z001-PZ·2024·D30-0001"
    assert dict(Record.objects.values_list("pk", "archive_no")) == before
    assert closed.records.exists()
