"""Format watch (issue 19 item 6): flag a format, its files get verified PDF/A renditions with a
DA/T 94 迁移 event, the originals stay; reruns do nothing; unflagging stops; refusals are
reported."""

from __future__ import annotations

import io

import pikepdf
import pytest
from django.utils import timezone

from kjda.archives.models import BusinessEvent, RecordFile
from kjda.audit.models import AuditEvent
from kjda.errors import Conflict, Forbidden
from kjda.formats.pdfa import pdfa_claim
from kjda.lifecycle.formatwatch.models import FileMigration, FormatEntry, MigrationRun
from kjda.lifecycle.formatwatch.selectors import format_entry_get, format_registry
from kjda.lifecycle.formatwatch.services import (
    format_migrate,
    format_migrate_flagged_task,
    format_migrate_task,
    format_risk_flag,
)
from kjda.lifecycle.formatwatch.tests.conftest import OFD, helvetica_pdf
from kjda.storage.services import blob_read_verified, blob_verify

pytestmark = pytest.mark.django_db


def _bytes(f: RecordFile) -> bytes:
    return b"".join(blob_read_verified(sha256=f.sha256, sm3=f.sm3, size=f.size))


def test_the_registry_is_seeded_with_pronom_ids_and_nothing_flagged():
    assert format_entry_get(format_id="fmt/477").category == "preferred"
    assert format_entry_get(format_id="kjda/ofd").category == "preferred"
    jpeg = format_entry_get(format_id="fmt/43")
    assert jpeg.category == "acceptable" and jpeg.has_converter and jpeg.target_format == "fmt/477"
    doc = format_entry_get(format_id="fmt/40")
    assert doc.category == "risk" and not doc.has_converter and not doc.at_risk
    assert not FormatEntry.objects.filter(at_risk=True).exists()


def test_flagging_a_format_makes_verified_renditions_with_a_migration_event_and_keeps_the_original(
        ofd_record, archivist, django_capture_on_commit_callbacks):
    record = ofd_record()
    (original,) = record.files.all()
    before = (original.sha256, original.sm3, original.size, original.filename, original.role)
    usage = {u.format_id: u for u in format_registry()}
    assert usage["kjda/ofd"].files == 1 and usage["kjda/ofd"].bytes == original.size

    entry = format_entry_get(format_id="kjda/ofd")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        format_risk_flag(entry=entry, at_risk=True, reason="阅读器停止维护（测试）", by=archivist)
    assert len(callbacks) == 1  # the migration job, enqueued after commit
    flag = AuditEvent.objects.get(action="format.risk")
    assert flag.object_id == "kjda/ofd" and flag.detail["at_risk"] is True

    run = format_migrate(format_id="kjda/ofd", trigger="flag")
    assert (run.state, run.candidates, run.migrated, run.failed) == ("done", 1, 1, 0)

    original.refresh_from_db()
    assert (original.sha256, original.sm3, original.size, original.filename,
            original.role) == before
    assert original.superseded_at is None and blob_verify(sha256=original.sha256)
    rendition = RecordFile.objects.get(derived_from=original)
    assert rendition.record_id == record.pk and rendition.role == "rendition"
    assert rendition.puid == "fmt/477" and rendition.format_name == "pdfa"
    assert rendition.pdfa["compliant"] and rendition.filename == "invoice.pdfa.pdf"
    data = _bytes(rendition)
    assert pdfa_claim(data) == "2B"
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert len(pdf.pages) == 1

    event = BusinessEvent.objects.get(record=record, action="迁移")
    assert "kjda/ofd" in event.description and "fmt/477" in event.description
    assert original.sha256 in event.description and rendition.sha256 in event.description
    assert "pikepdf" in event.description and "阅读器停止维护" in event.mandate
    added = AuditEvent.objects.get(action="record.rendition_add")
    assert added.object_id == str(record.pk)
    assert added.detail["source_sha256"] == original.sha256
    assert added.detail["rendition_sha256"] == rendition.sha256
    assert AuditEvent.objects.get(action="format.migrate").detail["migrated"] == 1

    again = format_migrate(format_id="kjda/ofd", trigger="cli")
    assert (again.candidates, again.migrated, again.failed) == (0, 0, 0)
    assert RecordFile.objects.filter(record=record).count() == 2
    assert BusinessEvent.objects.filter(record=record, action="迁移").count() == 1


def test_unflagging_stops_future_runs(ofd_record, archivist):
    entry = format_entry_get(format_id="kjda/ofd")
    format_risk_flag(entry=entry, at_risk=True, reason="测试", by=archivist)
    format_risk_flag(entry=entry, at_risk=False, reason="", by=archivist)
    record = ofd_record()
    with pytest.raises(Conflict):
        format_migrate(format_id="kjda/ofd")
    assert format_migrate_task.call("kjda/ofd")["skipped"] == "format_not_at_risk"
    assert format_migrate_flagged_task.call() == []
    assert RecordFile.objects.filter(record=record).count() == 1 and not MigrationRun.objects.exists()


def test_the_daily_job_migrates_files_filed_after_the_flag(ofd_record, archivist):
    format_risk_flag(entry=format_entry_get(format_id="kjda/ofd"), at_risk=True, reason="测试",
                     by=archivist)
    record = ofd_record(n=7)
    (result,) = format_migrate_flagged_task.call()
    assert result["migrated"] == 1 and RecordFile.objects.filter(record=record, role="rendition").count() == 1
    assert format_migrate_flagged_task.call() == []  # nothing left: no run at all


def test_a_file_the_converter_cannot_handle_is_reported_and_not_retried(file_record, archivist):
    record = file_record([("unembedded.pdf", helvetica_pdf())], n=3)
    (pdf,) = record.files.all()
    assert pdf.format_name == "pdf" and pdf.puid
    entry = format_entry_get(format_id=pdf.puid)
    format_risk_flag(entry=entry, at_risk=True, reason="测试", by=archivist)

    run = format_migrate(format_id=pdf.puid)
    assert (run.state, run.candidates, run.migrated, run.failed) == ("done", 1, 0, 1)
    (reason,) = run.reasons
    assert "字体未嵌入" in reason and run.failures[0]["file"] == pdf.pk
    assert FileMigration.objects.get(source=pdf).given_up
    assert RecordFile.objects.filter(record=record).count() == 1

    again = format_migrate(format_id=pdf.puid)
    assert (again.candidates, again.failed, again.given_up) == (0, 0, 1)


def test_a_format_without_a_converter_is_reported_not_converted(archivist):
    entry = format_entry_get(format_id="fmt/40")
    format_risk_flag(entry=entry, at_risk=True, reason="旧版 Word", by=archivist)
    run = format_migrate(format_id="fmt/40")
    assert run.state == "no_converter" and run.migrated == 0


def test_only_an_archivist_or_the_system_administrator_flags(accountant, sysadmin):
    entry = format_entry_get(format_id="fmt/43")
    with pytest.raises(Forbidden):
        format_risk_flag(entry=entry, at_risk=True, reason="x", by=accountant)
    assert format_risk_flag(entry=entry, at_risk=True, reason="x", by=sysadmin).at_risk
    with pytest.raises(Exception, match="reason"):
        format_risk_flag(entry=entry, at_risk=True, reason=" ", by=sysadmin)


def test_a_preservation_rendition_goes_only_to_a_filed_record_and_is_audited(
        ofd_record, archivist):
    from kjda.archives.services import NewFile, record_preservation_rendition_add
    from kjda.storage.services import blob_store

    record = ofd_record()
    (original,) = record.files.all()
    stored = blob_store(source=io.BytesIO(b"%PDF-1.7 test"))
    new = NewFile(sha256=stored.sha256, sm3=stored.sm3, size=stored.size, filename="x.pdf",
                  role="rendition", document_type="", format_name="pdfa", format_version="2B",
                  mime="application/pdf", puid="fmt/477")
    row = record_preservation_rendition_add(record_id=record.pk, source_id=original.pk, file=new,
                                            description="测试", actor=archivist)
    assert row is not None and row.derived_from_id == original.pk
    event = AuditEvent.objects.get(action="record.rendition_add")
    assert event.actor_id == archivist.pk and event.detail["rendition_file"] == row.pk
    # a second one in the same format is not added
    assert record_preservation_rendition_add(record_id=record.pk, source_id=original.pk,
                                             file=new, description="测试") is None
    record.status = "revoked"
    record.save(update_fields=["status"])
    with pytest.raises(Conflict):
        record_preservation_rendition_add(record_id=record.pk, source_id=original.pk, file=new,
                                          description="测试")


def test_a_run_that_stopped_half_way_is_finished_by_the_next(ofd_record, archivist):
    first = ofd_record(n=1)
    second = ofd_record(n=2, sample=OFD.with_name("ofdrw_converter_999.ofd"))
    format_risk_flag(entry=format_entry_get(format_id="kjda/ofd"), at_risk=True, reason="测试",
                     by=archivist)
    done = format_migrate(format_id="kjda/ofd", batch=1)
    assert done.migrated == 2  # batches of one still cover every file
    # As if the worker had died after the first file: the second has no current rendition and
    # the run row is left unfinished.
    RecordFile.objects.filter(record=second, role="rendition").update(superseded_at=timezone.now())
    MigrationRun.objects.create(entry=format_entry_get(format_id="kjda/ofd"),
                                target_format="fmt/477", trigger="flag",
                                started_at=timezone.now())
    run = format_migrate(format_id="kjda/ofd")
    assert (run.candidates, run.migrated) == (1, 1)
    assert RecordFile.objects.filter(record=first, role="rendition").count() == 1
    assert RecordFile.objects.filter(record=second, role="rendition",
                                     superseded_at__isnull=True).count() == 1
