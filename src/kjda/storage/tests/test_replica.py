"""Replicas (issue 19 item 2): new blobs copied after commit, retried, idempotent, backfilled."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from kjda.audit.models import AuditEvent
from kjda.storage.models import ReplicaPending
from kjda.storage.services import (
    blob_store,
    get_replica,
    replica_backfill,
    replica_copy,
    replica_copy_due,
    replica_lag,
)


def blob_path(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256


@pytest.fixture
def replica_root(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "replica"
    settings.KJDA_REPLICA_URL = root.as_uri()
    return root


@pytest.mark.django_db
def test_a_new_blob_is_queued_with_its_row_and_copied_after_commit(
        blob_root: Path, replica_root: Path, django_capture_on_commit_callbacks: Any) -> None:
    data = b"voucher scan " * 1000
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        sha = blob_store(source=io.BytesIO(data)).sha256
        assert ReplicaPending.objects.filter(pk=sha).exists()  # durable, in the same commit
        assert not DBTaskResult.objects.exists()  # nothing enqueued before the commit
    assert len(callbacks) == 1
    assert DBTaskResult.objects.filter(task_path__endswith="_replica_copy_task").count() == 1
    assert replica_lag()["pending"] == 1
    assert replica_copy(sha256=sha) is True  # what the task runs
    assert blob_path(replica_root, sha).read_bytes() == data
    assert not ReplicaPending.objects.exists()
    assert replica_lag() == {"configured": True, "pending": 0, "failing": 0,
                             "oldest_queued_at": None, "lag_seconds": 0}
    assert replica_copy(sha256=sha) is True  # again: nothing queued, nothing done
    assert blob_path(replica_root, sha).read_bytes() == data


@pytest.mark.django_db
def test_a_failed_copy_is_retried_later_and_a_second_copy_changes_nothing(
        blob_root: Path, replica_root: Path, settings: Any, tmp_path: Path) -> None:
    sha = blob_store(source=io.BytesIO(b"ledger " * 500)).sha256
    get_replica()  # the replica folder exists; make it unwritable by putting a file in its place
    from kjda.storage import services

    services._backend_for.cache_clear()
    shutil.rmtree(replica_root)
    replica_root.write_bytes(b"not a folder")
    assert replica_copy(sha256=sha) is False
    pending = ReplicaPending.objects.get(pk=sha)
    assert pending.attempts == 1 and pending.last_error
    assert pending.next_try_at > pending.queued_at
    lag = replica_lag()
    assert (lag["pending"], lag["failing"]) == (1, 1)
    assert replica_copy_due() == 0  # its retry is not due yet
    replica_root.unlink()
    services._backend_for.cache_clear()
    ReplicaPending.objects.update(next_try_at=pending.queued_at)
    assert replica_copy_due() == 1
    assert blob_path(replica_root, sha).is_file()
    # Idempotent: the same blob queued again is verified there and not copied twice.
    ReplicaPending.objects.create(blob_id=sha, queued_at=pending.queued_at,
                                  next_try_at=pending.queued_at)
    assert replica_copy(sha256=sha) is True
    assert [p.name for p in blob_path(replica_root, sha).parent.iterdir()] == [sha]


@pytest.mark.django_db
def test_existing_blobs_are_backfilled_once_when_a_replica_is_configured(
        blob_root: Path, settings: Any, tmp_path: Path) -> None:
    shas = [blob_store(source=io.BytesIO(f"old {i}".encode() * 100)).sha256 for i in range(4)]
    assert not ReplicaPending.objects.exists()  # no replica: nothing queued
    root = tmp_path / "replica"
    settings.KJDA_REPLICA_URL = root.as_uri()
    assert replica_copy_due() == 4
    assert all(blob_path(root, s).is_file() for s in shas)
    assert AuditEvent.objects.filter(action="storage.replica_backfill").count() == 1
    assert replica_backfill() == 0  # this replica is done
    # A new node (its data dir empty) knows it too, from the audit event: no second backfill.
    settings.DATA_DIR = tmp_path / "another-node"
    settings.DATA_DIR.mkdir()
    assert replica_backfill() == 0
    assert AuditEvent.objects.filter(action="storage.replica_backfill").count() == 1


@pytest.mark.django_db
def test_an_s3_replica_gets_the_copy_and_repairs_a_damaged_local_blob(
        blob_root: Path, settings: Any, s3_bucket: str, s3_url: Any, s3_client: Any,
        django_capture_on_commit_callbacks: Any) -> None:
    import os

    from kjda.storage.services import fixity_audit

    settings.KJDA_REPLICA_URL = s3_url(s3_bucket, prefix="replica")
    data = b"s3 replica " * 5000
    with django_capture_on_commit_callbacks(execute=True):
        sha = blob_store(source=io.BytesIO(data)).sha256
    assert replica_copy(sha256=sha) is True
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert any(k.endswith(sha) for k in keys)
    path = blob_path(blob_root, sha)
    os.chmod(path, 0o644)
    path.write_bytes(b"x" + data[1:])
    run = fixity_audit(mode="all", bytes_per_second=0)
    assert (run.mismatches, run.repaired, run.failed) == (1, 1, False)
    assert path.read_bytes() == data


@pytest.mark.django_db
def test_a_destroyed_blob_leaves_the_replica_too(blob_root: Path, replica_root: Path) -> None:
    from kjda.storage.services import blob_destroy

    sha = blob_store(source=io.BytesIO(b"to be destroyed " * 100)).sha256
    assert replica_copy(sha256=sha) is True
    assert blob_destroy(sha256=sha, reason="test") == 2
    assert not blob_path(blob_root, sha).exists() and not blob_path(replica_root, sha).exists()
    assert blob_destroy(sha256=sha) == 0  # idempotent
