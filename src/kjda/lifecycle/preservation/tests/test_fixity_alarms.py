"""A blob corrupted on disk under a real filed record: the audit finds it (check item on the
record, audit event, dashboard alarm, OA notice) and, with a replica, repairs it (issue 19)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from allauth.socialaccount.models import SocialAccount

from kjda.archives.models import BusinessEvent, CheckReportHistory
from kjda.audit.models import AuditEvent
from kjda.connectors.models import Connector, Notice
from kjda.ingest.metadata import FileMetaIn, metadata_parse
from kjda.ingest.pipeline import IncomingFile
from kjda.ingest.services import record_ingest
from kjda.lifecycle.preservation.services import fixity_check
from kjda.lifecycle.todos import todos_for
from kjda.storage.services import get_backend, replica_copy_due
from kjda_oasim.factories import metadata_json, pdf_bytes, user_with_roles


@pytest.fixture
def blob_root(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "blobs"
    settings.STORAGE_URL = root.as_uri()
    return root


@pytest.fixture
def people(db: Any) -> dict[str, Any]:
    people = {name: user_with_roles(name, [role], password="Fixity-Pass-2024") for name, role in
              [("archivist", "archivist"), ("admin", "sysadmin"), ("accountant", "accountant")]}
    Connector.objects.create(kind="webhook", name="OA", enabled=True)
    SocialAccount.objects.create(user=people["archivist"], provider="webhook", uid="u-arch")
    SocialAccount.objects.create(user=people["admin"], provider="webhook", uid="u-admin")
    return people


@pytest.fixture
def record(fonds: Any, people: dict[str, Any], blob_root: Path) -> Any:
    meta = {"fiscal_year": 2024, "date": "2024-03-15", "document_no": "记-0001",
            "title": "报销差旅费"}
    data = pdf_bytes(["记账凭证", "报销差旅费"])
    record = record_ingest(metadata=metadata_parse(metadata_json(**meta)),
                           files=[IncomingFile(io.BytesIO(data), "v1.pdf",
                                               FileMetaIn(document_type="记账凭证"))],
                           actor=people["archivist"]).record
    assert record.status == "filed", record.check_report
    return type(record).objects.get(pk=record.pk)  # without the ingest's prefetched rows


def _corrupt(root: Path, sha256: str) -> Path:
    path = root / sha256[:2] / sha256
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    path.write_bytes(bytes(data))
    return path


@pytest.mark.django_db
def test_a_corrupted_file_raises_the_alarm_and_marks_the_record(
        record: Any, people: dict[str, Any], blob_root: Path) -> None:
    sha = record.files.get(role="original").sha256
    report_before = dict(record.check_report)
    _corrupt(blob_root, sha)
    run = fixity_check(mode="all", bytes_per_second=0)
    assert run.mismatches == 1 and run.failed
    event = BusinessEvent.objects.get(record=record, action="长期保存检测")
    assert "BC-1-1" in event.description and "未修复" in event.description
    history = CheckReportHistory.objects.get(record=record)
    assert history.report["stage"] == "长期保存"
    assert history.report["items"][0]["code"] == "BC-1-1"
    assert history.report["items"][0]["result"] == "fail"
    record.refresh_from_db()
    assert record.check_report == report_before  # the archiving report is not rewritten
    assert AuditEvent.objects.filter(action="storage.fixity_failed", object_id=sha).exists()
    notice = Notice.objects.get(reason="fixity_alarm")
    assert notice.todo and sorted(notice.user_ids) == ["u-admin", "u-arch"]
    from kjda.preservation.monitoring.models import Alarm

    alarm = Alarm.objects.get(kind="fixity_damage", subject=sha)  # open until acknowledged
    assert alarm.is_open and alarm.severity == "critical"
    for who in ("archivist", "admin"):
        # (the administrator also has the backup's to-do: no backup has been taken here)
        assert "preservation" in [t.workflow for t in todos_for(people[who])]
    assert not [t for t in todos_for(people["accountant"]) if t.workflow == "preservation"]


@pytest.mark.django_db
def test_a_corrupted_file_is_repaired_from_the_replica(
        record: Any, people: dict[str, Any], blob_root: Path, settings: Any,
        tmp_path: Path) -> None:
    settings.KJDA_REPLICA_URL = (tmp_path / "replica").as_uri()
    assert replica_copy_due() >= 1  # the backfill of the record's blobs
    sha = record.files.get(role="original").sha256
    path = _corrupt(blob_root, sha)
    run = fixity_check(mode="all", bytes_per_second=0)
    assert (run.mismatches, run.repaired, run.failed) == (1, 1, False)
    assert get_backend().verify(sha)
    assert path.stat().st_mode & 0o222 == 0  # the repaired copy is read-only again
    assert AuditEvent.objects.filter(action="storage.repaired", object_id=sha).exists()
    history = CheckReportHistory.objects.get(record=record)
    assert history.report["items"][0]["result"] == "pass"
    assert "已从另一副本修复" in history.report["items"][0]["reason"]
    notice = Notice.objects.get(reason="fixity_alarm")
    assert not notice.todo  # news, nothing left to do
    assert not [t for t in todos_for(people["archivist"]) if t.workflow == "preservation"]


@pytest.mark.django_db
def test_a_replica_falling_behind_is_an_alarm_for_the_sysadmin(
        people: dict[str, Any], blob_root: Path, settings: Any, tmp_path: Path) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from kjda.storage.models import ReplicaPending
    from kjda.storage.services import blob_store

    settings.KJDA_REPLICA_URL = (tmp_path / "replica").as_uri()
    blob_store(source=io.BytesIO(b"waiting " * 100))
    assert not [t for t in todos_for(people["admin"]) if t.workflow == "preservation"]
    ReplicaPending.objects.update(queued_at=timezone.now() - timedelta(hours=2))
    titles = [t.title for t in todos_for(people["admin"]) if t.workflow == "preservation"]
    assert len(titles) == 1 and "副本滞后" in titles[0]
    assert not [t for t in todos_for(people["archivist"]) if t.workflow == "preservation"]


@pytest.mark.django_db
def test_the_audit_is_a_daily_job_of_the_workers() -> None:
    from kjda.lifecycle.daily import daily_enqueue_due
    from kjda.lifecycle.preservation.tasks import fixity_check_task

    assert fixity_check_task.name in daily_enqueue_due()
    assert fixity_check_task.name not in daily_enqueue_due()  # once a day


@pytest.mark.django_db
def test_the_record_page_shows_the_long_term_checks_of_an_intact_and_of_a_damaged_file(
        client: Any, record: Any, people: dict[str, Any], blob_root: Path) -> None:
    client.force_login(people["archivist"])
    url = f"/records/{record.pk}/"
    assert "BC-1-1" not in client.get(url).content.decode()  # not audited yet: nothing claimed
    fixity_check(mode="all", bytes_per_second=0)
    page = client.get(url).content.decode()
    assert "BC-1-1" in page and "BC-2-1" in page
    assert CheckReportHistory.objects.filter(record=record).count() == 0  # no row per record
    rows = [r for r in page.split("<tr") if "BC-1-1" in r and "fixity" in r]
    assert rows and "通过" in rows[0]
    _corrupt(blob_root, record.files.get(role="original").sha256)
    fixity_check(mode="all", bytes_per_second=0)
    rows = [r for r in client.get(url).content.decode().split("<tr")
            if "BC-1-1" in r and "fixity" in r]
    assert rows and "未通过" in rows[0] and "v1.pdf：摘要值不符" in rows[0]
