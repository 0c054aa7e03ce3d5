"""Alarms (issue 19 item 5): raised by real conditions — a store folder that vanished, a disk
below the threshold, slow requests, a failed task, refused API calls — deduplicated while
open, told to the OA once, acknowledged only by the system administrator, on the page and in
the API."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from allauth.socialaccount.models import SocialAccount
from django.test import Client
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from kjda.accounts.services import token_issue
from kjda.audit.models import AuditEvent
from kjda.connectors.models import Connector, Notice
from kjda.errors import Forbidden
from kjda.lifecycle.todos import todos_for
from kjda.preservation.backup.models import BackupRun
from kjda.preservation.monitoring import tasks
from kjda.preservation.monitoring.models import Alarm, AlarmKind
from kjda.preservation.monitoring.services import (
    alarm_acknowledge,
    alarm_clear,
    alarm_raise,
    monitor_check,
)
from kjda.storage.services import blob_store, get_backend
from kjda_oasim.factories import user_with_roles
from kjda_oasim.testing.clients import ApiClient

PASSWORD = "Monitor-Pass-2024"


@pytest.fixture(autouse=True)
def _own_store(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "store"
    settings.STORAGE_URL = root.as_uri()
    settings.KJDA_REPLICA_URL = ""
    settings.KJDA_MFA_REQUIRED_ROLES = []  # the pages, not the TOTP enrolment, are under test
    settings.KJDA_ALARM_DISK_FREE_PERCENT = 0
    settings.KJDA_ALARM_DISK_FREE_BYTES = 0
    return root


@pytest.fixture
def people(db: Any) -> dict[str, Any]:
    people = {name: user_with_roles(name, [role], password=PASSWORD) for name, role in
              [("ops", "sysadmin"), ("keeper", "archivist"), ("clerk", "accountant")]}
    Connector.objects.create(kind="webhook", name="OA", enabled=True)
    SocialAccount.objects.create(user=people["ops"], provider="webhook", uid="u-ops")
    SocialAccount.objects.create(user=people["keeper"], provider="webhook", uid="u-keeper")
    now = timezone.now()  # a fresh backup: no backup-overdue alarm in these tests
    BackupRun.objects.create(dest="/backup", started_at=now, finished_at=now, ok=True)
    return people


class Api(ApiClient):
    def post(self, path: str, body: dict[str, Any]):
        return self.client.post(path, json.dumps(body), content_type="application/json",
                                headers=self.headers)


def _open(kind: str) -> list[Alarm]:
    return list(Alarm.objects.filter(kind=kind, acknowledged_at__isnull=True))


def test_raising_twice_updates_one_alarm_and_tells_the_oa_once(
        people: dict[str, Any]) -> None:
    first = alarm_raise(kind=AlarmKind.FAILED_JOBS, subject="jobs", title_zh="任务失败",
                        title_en="jobs failed")
    again = alarm_raise(kind=AlarmKind.FAILED_JOBS, subject="jobs", title_zh="任务失败",
                        title_en="jobs failed", detail_en="2 more")
    assert first.created and not again.created and again.alarm.pk == first.alarm.pk
    alarm = Alarm.objects.get()
    assert alarm.times_seen == 2 and alarm.detail_en == "2 more"
    assert first.notices == 1 and again.notices == 0
    notice = Notice.objects.get(reason="system_alarm")
    assert notice.todo and notice.user_ids == ["u-ops"]  # not a storage alarm: no archivist
    assert notice.url.endswith("/system/alarms/")
    assert AuditEvent.objects.filter(action="alarm.raise", object_id=str(alarm.pk)).count() == 1

    assert alarm_clear(kind=AlarmKind.FAILED_JOBS, subject="jobs") == 1
    alarm.refresh_from_db()
    assert alarm.cleared_at is not None and alarm.is_open  # gone, but still to acknowledge
    assert AuditEvent.objects.filter(action="alarm.clear", object_id=str(alarm.pk)).exists()

    alarm_acknowledge(alarm_id=alarm.pk, actor=people["ops"], note="重启了任务进程")
    event = AuditEvent.objects.get(action="alarm.acknowledge", object_id=str(alarm.pk))
    assert event.actor == people["ops"] and event.detail["note"] == "重启了任务进程"
    recurred = alarm_raise(kind=AlarmKind.FAILED_JOBS, subject="jobs", title_zh="任务失败",
                           title_en="jobs failed")
    assert recurred.created and recurred.alarm.pk != alarm.pk and recurred.notices == 1
    assert Alarm.objects.count() == 2


def test_only_the_system_administrator_acknowledges(people: dict[str, Any]) -> None:
    alarm = alarm_raise(kind=AlarmKind.LOW_DISK, subject="/data", title_zh="磁盘",
                        title_en="disk").alarm
    for who in ("keeper", "clerk"):
        with pytest.raises(Forbidden) as exc:
            alarm_acknowledge(alarm_id=alarm.pk, actor=people[who], note="seen")
        assert "系统管理员" in exc.value.zh and "system administrator" in exc.value.en
    alarm.refresh_from_db()
    assert alarm.is_open
    assert AuditEvent.objects.filter(action="access.denied", object_type="alarm").count() == 2
    # a storage alarm: the archivists hear of it too; the dashboard to-do is the sysadmin's
    notice = Notice.objects.get(reason="system_alarm")
    assert sorted(notice.user_ids) == ["u-keeper", "u-ops"]
    assert [t.title for t in todos_for(people["ops"]) if t.workflow == "alarm"] == [
        "1 个告警未确认 / 1 alarms not acknowledged"]
    assert not [t for t in todos_for(people["keeper"]) if t.workflow == "alarm"]


def test_a_vanished_store_folder_raises_store_unreachable_and_clears_when_back(
        people: dict[str, Any], _own_store: Path) -> None:
    import io

    blob_store(source=io.BytesIO(b"a stored file " * 50))
    assert monitor_check().raised == []
    moved = _own_store.with_name("store-away")
    _own_store.rename(moved)
    report = monitor_check()
    assert "store_unreachable:primary" in report.raised
    alarm = _open(AlarmKind.STORE_UNREACHABLE)[0]
    assert alarm.severity == "critical" and "store folder missing" in alarm.detail_en
    assert not _own_store.exists()  # the probe did not quietly start an empty store
    assert Notice.objects.filter(reason="system_alarm").exists()

    moved.rename(_own_store)
    report = monitor_check()
    assert report.cleared == ["store_unreachable:primary"]
    alarm.refresh_from_db()
    assert alarm.cleared_at is not None and alarm.is_open


def test_a_replica_folder_replaced_by_a_file_raises_replica_unreachable(
        people: dict[str, Any], settings: Any, tmp_path: Path) -> None:
    get_backend()  # the primary store is opened (and so created) as the server starts
    replica = tmp_path / "replica"
    replica.write_text("not a folder")
    settings.KJDA_REPLICA_URL = replica.as_uri()
    monitor_check()
    assert [a.subject for a in _open(AlarmKind.REPLICA_UNREACHABLE)] == ["replica"]
    assert not _open(AlarmKind.STORE_UNREACHABLE)


def test_low_free_space_below_the_threshold_raises_an_alarm(
        people: dict[str, Any], settings: Any, _own_store: Path) -> None:
    _own_store.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(settings.DATA_DIR).free
    settings.KJDA_ALARM_DISK_FREE_BYTES = free + 10 * 1024**3  # more than the disk has free
    monitor_check()
    alarms = _open(AlarmKind.LOW_DISK)
    assert alarms and alarms[0].data["free_bytes"] > 0
    assert "low free space" in alarms[0].title_en
    settings.KJDA_ALARM_DISK_FREE_BYTES = 0
    assert any(k.startswith("low_disk:") for k in monitor_check().cleared)


def test_slow_requests_in_a_window_raise_an_alarm_naming_the_paths(
        people: dict[str, Any], settings: Any) -> None:
    settings.KJDA_SLOW_REQUEST_MS = 0  # every request is "slow"
    settings.KJDA_ALARM_SLOW_COUNT = 3
    client = Client()
    for _ in range(3):
        assert client.get("/login/").status_code == 200
    monitor_check()
    alarm = _open(AlarmKind.SLOW_RESPONSES)[0]
    assert alarm.data["count"] >= 3 and "GET /login/" in alarm.detail_en


def test_a_failed_task_since_the_last_check_raises_failed_jobs(people: dict[str, Any]) -> None:
    monitor_check()  # the watermark
    assert not _open(AlarmKind.FAILED_JOBS)
    now = timezone.now()
    DBTaskResult.objects.create(
        id=uuid.uuid4(), status=TaskResultStatus.FAILED, args_kwargs={"args": [], "kwargs": {}},
        task_path="kjda.lifecycle.preservation.tasks.fixity_check_task", queue_name="default",
        backend_name="default", run_after=now, started_at=now, finished_at=now,
        exception_class_path="builtins.OSError", traceback="OSError: disk")
    monitor_check()
    alarm = _open(AlarmKind.FAILED_JOBS)[0]
    assert alarm.data["tasks_failed"] == 1 and "fixity_check_task" in alarm.detail_en
    monitor_check()  # nothing new since: the condition is gone, the alarm waits
    alarm.refresh_from_db()
    assert alarm.cleared_at is not None and alarm.is_open


def test_repeated_denied_api_calls_raise_access_refusals(
        people: dict[str, Any], settings: Any) -> None:
    settings.KJDA_ALARM_REFUSALS = 4
    api = ApiClient(token_issue(user=people["clerk"], name="t")[1])
    for _ in range(4):
        assert api.get("/api/v1/storage/status").status_code == 403
    monitor_check()
    subjects = {a.subject for a in _open(AlarmKind.ACCESS_REFUSALS)}
    assert "user:clerk" in subjects


def test_the_alarm_page_lists_and_acknowledges(people: dict[str, Any]) -> None:
    alarm = alarm_raise(kind=AlarmKind.STORE_UNREACHABLE, subject="primary",
                        title_zh="主存储不可用", title_en="primary store unreachable").alarm
    other = alarm_raise(kind=AlarmKind.ACCESS_REFUSALS, subject="ip:10.0.0.9",
                        title_zh="多次拒绝访问", title_en="repeated refusals").alarm
    ops, keeper, clerk = Client(), Client(), Client()
    ops.force_login(people["ops"])
    keeper.force_login(people["keeper"])
    clerk.force_login(people["clerk"])
    page = ops.get("/system/alarms/").content.decode()
    assert f'id="alarm-{alarm.pk}"' in page and f'id="alarm-{other.pk}"' in page
    assert "/system/alarms/" in ops.get("/").content.decode()  # the menu and the to-do
    mine = keeper.get("/system/alarms/").content.decode()  # storage alarms only, read-only
    assert f'id="alarm-{alarm.pk}"' in mine and f'id="alarm-{other.pk}"' not in mine
    assert "acknowledge/" not in mine
    assert clerk.get("/system/alarms/").status_code == 403
    refused = keeper.post(f"/system/alarms/{alarm.pk}/acknowledge/", {"note": "x"})
    assert refused.status_code == 403
    done = ops.post(f"/system/alarms/{alarm.pk}/acknowledge/", {"note": "换了磁盘"})
    assert done.status_code == 302
    alarm.refresh_from_db()
    assert not alarm.is_open and alarm.ack_note == "换了磁盘"
    assert alarm.acknowledged_by == people["ops"]
    page = ops.get("/system/alarms/").content.decode()
    assert "换了磁盘" in page
    again = ops.post(f"/system/alarms/{alarm.pk}/acknowledge/", {"note": ""})
    assert again.status_code == 409


def test_the_api_lists_and_acknowledges_with_the_same_rules(people: dict[str, Any]) -> None:
    alarm = alarm_raise(kind=AlarmKind.FAILED_JOBS, subject="jobs", title_zh="任务失败",
                        title_en="jobs failed").alarm
    admin = Api(token_issue(user=people["ops"], name="a", scopes=["read", "admin"])[1])
    reader = Api(token_issue(user=people["ops"], name="r", scopes=["read"])[1])
    keeper = Api(token_issue(user=people["keeper"], name="k", scopes=["read",
                                                                            "admin"])[1])
    listed = admin.get("/api/v1/alarms")
    assert listed.status_code == 200 and [a["id"] for a in listed.json()] == [alarm.pk]
    assert keeper.get("/api/v1/alarms").json() == []  # not a storage alarm
    assert reader.post(f"/api/v1/alarms/{alarm.pk}/acknowledge",
                       {"note": "x"}).status_code == 403  # the token lacks admin
    denied = keeper.post(f"/api/v1/alarms/{alarm.pk}/acknowledge", {"note": "x"})
    assert denied.status_code == 403 and denied.json()["message_en"]
    ok = admin.post(f"/api/v1/alarms/{alarm.pk}/acknowledge", {"note": "查过了"})
    assert ok.status_code == 200 and ok.json()["ack_note"] == "查过了"
    assert admin.get("/api/v1/alarms").json() == []
    assert [a["id"] for a in admin.get("/api/v1/alarms", state="all").json()] == [alarm.pk]
    schema = admin.get("/api/v1/openapi.json").json()
    assert "/api/v1/alarms/{alarm_id}/acknowledge" in schema["paths"]


def test_the_preservation_page_shows_stores_runs_and_backup(
        people: dict[str, Any], settings: Any) -> None:
    import io

    from kjda.lifecycle.preservation.services import fixity_check

    blob_store(source=io.BytesIO(b"kept for thirty years " * 100))
    fixity_check(mode="all", bytes_per_second=0)
    client = Client()
    client.force_login(people["keeper"])
    page = client.get("/system/preservation/").content.decode()
    assert 'id="fixity-runs"' in page and 'id="stores"' in page and "/s" in page
    assert settings.STORAGE_URL in page
    client.force_login(people["clerk"])
    assert client.get("/system/preservation/").status_code == 403


def test_one_worker_per_interval_runs_the_check(people: dict[str, Any], settings: Any) -> None:
    settings.KJDA_MONITOR_INTERVAL_SECONDS = 300
    now = time.time()
    assert tasks.monitor_claim(now=now) and not tasks.monitor_claim(now=now)
    assert tasks.monitor_claim(now=now + 300)  # the next interval
