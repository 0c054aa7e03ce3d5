"""A real hand-over of ingested records, end to end, through the services."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from django.utils import timezone
from openpyxl import load_workbook
from pypdf import PdfReader

from kjda.archives.models import BusinessEvent, Custody, Record, RecordFile, Retention
from kjda.audit.models import AuditEvent
from kjda.errors import DomainError
from kjda.formats.pdfa_check import pdfa_check
from kjda.lifecycle.mentions import mentions_of_record
from kjda.lifecycle.registers import register_pdf, register_xlsx
from kjda.lifecycle.transfers import services
from kjda.lifecycle.transfers.models import (
    Decision,
    TransferBatch,
    TransferItem,
    TransferState,
)
from kjda.lifecycle.transfers.registers import transfer_register
from kjda.lifecycle.transfers.tasks import transfer_checks_resume_task
from kjda.storage.services import get_backend


def _tamper(record: Record) -> None:
    path = get_backend().path_for(RecordFile.objects.get(record=record, role="original").sha256)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[200] ^= 0x01
    path.write_bytes(bytes(data))


def _audited(action: str, batch_id: int) -> bool:
    return AuditEvent.objects.filter(action=action, object_type="transfer",
                                     object_id=str(batch_id)).exists()


@pytest.mark.django_db(transaction=True)
def test_a_transfer_hands_over_what_passes_and_returns_the_tampered_record(people, ingest):
    good = [ingest(n) for n in (1, 2, 3)]
    tampered = ingest(4)
    other_year = ingest(5, year=2023)
    assert all(r.custody == Custody.ACCOUNTING and r.custody_since is None for r in good)
    _tamper(tampered)

    batch = services.transfer_create(actor=people["kuaiji"], fonds_code="Z001", fiscal_year=2024)
    assert batch.number == "YJ-2024-0001" and batch.state == TransferState.DRAFT
    assert sorted(batch.items.values_list("record_id", flat=True)) == sorted(
        r.pk for r in [*good, tampered])  # not the other year
    assert other_year.pk not in batch.items.values_list("record_id", flat=True)
    assert _audited("transfer.create", batch.pk)

    batch = services.transfer_submit(actor=people["kjzhuguan"], batch_id=batch.pk)
    batch.refresh_from_db()  # the checks ran right after the commit (a small batch)
    assert batch.state == TransferState.CHECKED
    assert _audited("transfer.submit", batch.pk) and _audited("transfer.check", batch.pk)
    sig = batch.signatures.get(side="accounting")
    assert sig.role == "accounting_head" and len(sig.digest) == 64

    items = {i.record_id: i for i in batch.items.all()}
    assert all(items[r.pk].passed for r in good)
    bad = items[tampered.pk]
    assert bad.passed is False
    codes = {c["code"]: c for c in bad.checks}
    assert not codes["YJ-1-1"]["passed"] and "sha256" in codes["YJ-1-1"]["message"]
    assert {"YJ-1-1", "YJ-2-1", "YJ-2-2", "YJ-2-3", "YJ-3-2", "YJ-4-2"} <= set(codes)
    assert all(c["passed"] for c in items[good[0].pk].checks)
    # The archives side may not accept what failed (Art.12).
    with pytest.raises(DomainError) as exc:
        services.transfer_items_decide(actor=people["dangan"], batch_id=batch.pk,
                                       decisions=[(bad.pk, "accepted", "")])
    assert exc.value.code == "item_failed_checks" and exc.value.status == 409
    # Signing before every item is decided is refused.
    with pytest.raises(DomainError) as exc:
        services.transfer_sign(actor=people["dazhuguan"], batch_id=batch.pk)
    assert exc.value.code == "items_undecided"

    services.transfer_items_decide(
        actor=people["dangan"], batch_id=batch.pk,
        decisions=[(items[r.pk].pk, "accepted", "") for r in good]
        + [(bad.pk, "rejected", "存储内容与摘要不符，请会计机构重新归档")])
    assert _audited("transfer.decide", batch.pk)
    batch = services.transfer_sign(actor=people["dazhuguan"], batch_id=batch.pk,
                                   opinion="同意接收")
    assert batch.state == TransferState.PARTIALLY_ACCEPTED and _audited("transfer.sign", batch.pk)

    for r in good:
        r.refresh_from_db()
        assert r.custody == Custody.ARCHIVES and r.custody_since is not None
        assert BusinessEvent.objects.filter(record=r, action="移交").exists()
    tampered.refresh_from_db()
    assert tampered.custody == Custody.ACCOUNTING and tampered.custody_since is None
    assert BusinessEvent.objects.filter(record=tampered, action="移交退回",
                                        description__contains="重新归档").exists()
    mention = [m for m in mentions_of_record(tampered) if m.workflow == "transfer"][0]
    assert "退回" in mention.state and "重新归档" in mention.state

    batch.refresh_from_db()  # the register was filed after the commit
    filed = batch.register_record
    assert filed is not None and filed.status == "filed", [r for r in filed.check_report["results"] if not r.get("passed", True)]
    assert filed.rule.name == "会计档案移交清册" and filed.retention == Retention.D30
    assert _audited("transfer.register_file", batch.pk)
    pdf = get_backend().path_for(
        RecordFile.objects.get(record=filed, role="original").sha256).read_bytes()
    assert pdfa_check(pdf).compliant
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    for label in ("名称", "卷号", "册数", "起止年度", "档案编号", "应保管期限", "已保管期限"):
        assert label in text
    assert good[0].archive_no in text and tampered.archive_no in text  # in the rejected list
    assert "3 件" in text and "接收方" in text
    for action in ("transfer.create", "transfer.submit", "transfer.check", "transfer.decide",
                   "transfer.sign", "transfer.register_file"):
        assert AuditEvent.objects.filter(action=action, object_id=str(batch.pk)).exists()
    # A record that was rejected can go again in a new transfer.
    again = services.transfer_create(actor=people["kuaiji"], fonds_code="Z001", fiscal_year=2024)
    assert list(again.items.values_list("record_id", flat=True)) == [tampered.pk]


@pytest.mark.django_db
def test_the_register_has_the_art24_columns_in_pdfa_and_excel(people, ingest):
    r = ingest(1)
    batch = services.transfer_create(actor=people["kuaiji"], fonds_code="Z001", fiscal_year=2024)
    register = transfer_register(batch, final=False)
    wb = load_workbook(io.BytesIO(register_xlsx(register)))
    values = [list(v) for v in wb.active.iter_rows(values_only=True)]
    header = values.index(["序号", "名称", "卷号", "册数", "起止年度", "档案编号", "应保管期限",
                           "已保管期限", "文件数", "字节数"])
    row = values[header + 1]
    assert row[5] == r.archive_no and row[4] == "2024—2024" and row[6] == "30年"
    files = RecordFile.objects.filter(record=r)
    assert row[8] == files.count() and row[9] == sum(f.size for f in files)
    assert pdfa_check(register_pdf(register)).compliant


@pytest.mark.django_db
def test_wrong_roles_and_wrong_states_are_refused(people, ingest):
    ingest(1)
    with pytest.raises(DomainError) as exc:
        services.transfer_create(actor=people["dangan"], fonds_code="Z001", fiscal_year=2024)
    assert exc.value.status == 403
    with pytest.raises(DomainError) as exc:
        services.transfer_create(actor=people["kuaiji"], fonds_code="Z001", fiscal_year=2019)
    assert exc.value.code == "transfer_empty"
    batch = services.transfer_create(actor=people["kuaiji"], fonds_code="Z001", fiscal_year=2024)
    with pytest.raises(DomainError) as exc:  # the archives side does not submit
        services.transfer_submit(actor=people["dangan"], batch_id=batch.pk)
    assert exc.value.code == "transition_forbidden" and exc.value.status == 403
    with pytest.raises(DomainError) as exc:  # nothing to decide in a draft
        services.transfer_items_decide(actor=people["dangan"], batch_id=batch.pk,
                                       decisions=[])
    assert exc.value.code == "transition_not_allowed" and exc.value.status == 409
    with pytest.raises(DomainError) as exc:  # a record is in one open transfer at a time
        services.transfer_create(actor=people["kuaiji"], fonds_code="Z001", fiscal_year=2024)
    assert exc.value.code == "transfer_empty"
    with pytest.raises(DomainError) as exc:
        services.transfer_cancel(actor=people["kuaiji"], batch_id=batch.pk, reason=" ")
    assert exc.value.code == "reason_required"
    services.transfer_cancel(actor=people["kuaiji"], batch_id=batch.pk, reason="范围有误")
    assert AuditEvent.objects.filter(action="transfer.cancel", object_id=str(batch.pk)).exists()
    with pytest.raises(DomainError) as exc:
        services.transfer_submit(actor=people["kuaiji"], batch_id=batch.pk)
    assert exc.value.status == 409


@pytest.mark.django_db
def test_a_cashier_never_signs_or_becomes_the_custodian(people, ingest):
    ingest(1)
    with pytest.raises(DomainError) as exc:
        services.transfer_create(actor=people["chuna"], fonds_code="Z001", fiscal_year=2024)
    assert exc.value.status == 403 and exc.value.code == "cashier_not_custodian"
    assert "出纳" in exc.value.zh
    batch = services.transfer_create(actor=people["kuaiji"], fonds_code="Z001", fiscal_year=2024)
    with pytest.raises(DomainError) as exc:
        services.transfer_submit(actor=people["chuna"], batch_id=batch.pk)
    assert exc.value.code == "cashier_not_custodian"
    with pytest.raises(DomainError) as exc:
        services.custody_extend(actor=people["chuna"], fonds_code="Z001", fiscal_year=2024,
                                until=date(2026, 6, 30), reason="x")
    assert exc.value.status == 403


@pytest.mark.django_db
def test_a_large_batch_is_checked_by_the_worker_and_resumes_where_it_stopped(
        people, ingest, monkeypatch, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    monkeypatch.setattr(services, "INLINE_CHECK_LIMIT", 1)
    for n in (1, 2, 3):
        ingest(n)
    batch = services.transfer_create(actor=people["kuaiji"], fonds_code="Z001", fiscal_year=2024)
    with django_capture_on_commit_callbacks(execute=True):
        services.transfer_submit(actor=people["kuaiji"], batch_id=batch.pk)
    queued = DBTaskResult.objects.get(task_path__endswith="transfer_checks_task")
    assert queued.args_kwargs["args"] == [batch.pk]
    assert not TransferItem.objects.filter(batch=batch, checked_at__isnull=False).exists()
    assert services.transfer_checks_run(batch_id=batch.pk, limit=2) == 2  # stopped halfway
    batch.refresh_from_db()
    assert batch.state == TransferState.SUBMITTED
    # The daily resume finishes a batch whose checking stopped (submitted over an hour ago).
    TransferBatch.objects.filter(pk=batch.pk).update(
        submitted_at=timezone.now() - timedelta(hours=2))
    assert transfer_checks_resume_task.call() == 1  # only what was left
    batch.refresh_from_db()
    assert batch.state == TransferState.CHECKED
    assert not TransferItem.objects.filter(batch=batch, checked_at__isnull=True).exists()
    assert TransferItem.objects.filter(batch=batch, decision=Decision.UNDECIDED).count() == 3


@pytest.mark.django_db
def test_a_transfer_by_volume_takes_its_records_and_the_volume_lists_it(people, ingest):
    from kjda.archives.models import Volume
    from kjda.lifecycle.mentions import mentions_of_volume

    inside, outside = ingest(1), ingest(2)
    volume = Volume.objects.create(fonds=inside.fonds, category=inside.category,
                                   class_code=inside.class_code, fiscal_year=2024,
                                   retention=inside.retention, title="2024年3月记账凭证")
    Record.objects.filter(pk=inside.pk).update(volume=volume)
    batch = services.transfer_create(actor=people["kuaiji"], fonds_code="Z001", fiscal_year=2024,
                                     volume_ids=[volume.pk])
    assert list(batch.items.values_list("record_id", flat=True)) == [inside.pk]
    assert outside.pk not in batch.items.values_list("record_id", flat=True)
    assert [m.label for m in mentions_of_volume(volume)] == [f"会计档案移交清册 {batch.number}"]
    rows = transfer_register(batch, final=False).rows
    assert rows[0][2] == str(volume.archive_no or volume.volume_no or "")
