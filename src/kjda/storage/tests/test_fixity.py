"""The fixity audit (issue 19 item 1): damage and loss found, repaired from the replica."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

from kjda.audit.models import AuditEvent
from kjda.storage.models import BlobFixity, FixityRun
from kjda.storage.services import blob_store, fixity_audit, get_backend, get_replica
from kjda.storage.throttle import Throttle


def blob_path(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256


def corrupt(path: Path) -> None:
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture
def replica_root(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "replica"
    settings.KJDA_REPLICA_URL = root.as_uri()
    return root


def store(data: bytes, replica: bool = False) -> str:
    sha = blob_store(source=io.BytesIO(data)).sha256
    if replica:  # what the replication task does (item 2): the same bytes in the second store
        rep = get_replica()
        assert rep is not None
        rep.put(io.BytesIO(data), max_bytes=len(data))
    return sha


@pytest.mark.django_db
def test_intact_blobs_are_checked_and_recorded(blob_root: Path) -> None:
    shas = [store(f"blob {i}".encode() * 1000) for i in range(3)]
    run = fixity_audit(mode="all", bytes_per_second=0)
    assert (run.blobs_checked, run.mismatches, run.missing, run.orphans) == (3, 0, 0, 0)
    assert run.bytes_checked == sum(len(f"blob {i}".encode()) * 1000 for i in range(3))
    assert not run.failed
    assert set(BlobFixity.objects.filter(outcome="ok").values_list("blob_id", flat=True)) == set(
        shas)
    assert AuditEvent.objects.filter(action="storage.fixity_run", object_id=str(run.pk)).exists()


@pytest.mark.django_db
def test_corrupted_blob_is_found_without_a_replica(blob_root: Path) -> None:
    sha = store(b"accounting voucher " * 5000)
    corrupt(blob_path(blob_root, sha))
    alarms: list[dict[str, Any]] = []
    run = fixity_audit(mode="all", bytes_per_second=0, on_failure=alarms.append)
    assert (run.mismatches, run.repaired) == (1, 0)
    assert run.failed
    assert BlobFixity.objects.get(blob_id=sha).outcome == "mismatch"
    event = AuditEvent.objects.get(action="storage.fixity_failed", object_id=sha)
    assert event.detail["outcome"] == "mismatch" and event.detail["found"]["sha256"] != sha
    assert [a["outcome"] for a in alarms] == ["mismatch"]


@pytest.mark.django_db
def test_corrupted_blob_is_repaired_from_the_replica(blob_root: Path, replica_root: Path) -> None:
    data = b"ledger page " * 20000
    sha = store(data, replica=True)
    corrupt(blob_path(blob_root, sha))
    alarms: list[dict[str, Any]] = []
    run = fixity_audit(mode="all", bytes_per_second=0, on_failure=alarms.append)
    assert (run.mismatches, run.repaired, run.replica_mismatches) == (1, 1, 0)
    assert not run.failed
    assert blob_path(blob_root, sha).read_bytes() == data
    assert get_backend().verify(sha)
    assert BlobFixity.objects.get(blob_id=sha).outcome == "repaired"
    assert AuditEvent.objects.filter(action="storage.repaired", object_id=sha).exists()
    assert alarms and alarms[0]["repaired"] is True
    # The next run finds it whole.
    again = fixity_audit(mode="all", bytes_per_second=0)
    assert (again.mismatches, again.missing) == (0, 0)


@pytest.mark.django_db
def test_missing_blob_is_found_and_restored_from_the_replica(
        blob_root: Path, replica_root: Path) -> None:
    data = b"bank slip " * 3000
    sha = store(data, replica=True)
    lost = store(b"only here " * 100)  # never replicated: stays missing
    blob_path(blob_root, sha).unlink()
    blob_path(blob_root, lost).unlink()
    run = fixity_audit(mode="all", bytes_per_second=0)
    assert (run.missing, run.repaired) == (2, 1)
    assert run.failed
    assert blob_path(blob_root, sha).read_bytes() == data
    assert BlobFixity.objects.get(blob_id=lost).outcome == "missing"


@pytest.mark.django_db
def test_damaged_replica_copy_is_rewritten_from_the_primary(
        blob_root: Path, replica_root: Path) -> None:
    sha = store(b"invoice " * 4000, replica=True)
    corrupt(blob_path(replica_root, sha))
    run = fixity_audit(mode="all", bytes_per_second=0)
    assert run.replica_mismatches == 0 and not run.failed
    assert get_replica().verify(sha)  # type: ignore[union-attr]
    assert BlobFixity.objects.get(blob_id=sha).replica_outcome == "repaired"


@pytest.mark.django_db
def test_orphan_blob_file_is_reported(blob_root: Path, settings: Any) -> None:
    store(b"filed " * 100)
    orphan = get_backend().put(io.BytesIO(b"no row " * 100), max_bytes=10_000).digests.sha256
    settings.KJDA_ORPHAN_GRACE_HOURS = 0
    run = fixity_audit(mode="all", bytes_per_second=0)
    assert run.orphans == 1
    assert {"sha256": orphan, "copy": "primary", "outcome": "orphan"} in run.findings


@pytest.mark.django_db
def test_due_mode_checks_oldest_first_and_a_cycle_share(blob_root: Path, settings: Any) -> None:
    shas = [store(f"{i}".encode() * 100) for i in range(10)]
    settings.KJDA_FIXITY_CYCLE_DAYS = 5
    first = fixity_audit(mode="due", bytes_per_second=0)
    assert first.blobs_checked == 10  # never checked: all overdue
    from datetime import timedelta

    from django.utils import timezone
    BlobFixity.objects.update(verified_at=timezone.now() - timedelta(days=1))
    old = shas[3]
    BlobFixity.objects.filter(blob_id=old).update(verified_at=timezone.now() - timedelta(days=2))
    second = fixity_audit(mode="due", bytes_per_second=0)
    assert second.blobs_checked == 2  # ceil(10 / 5 days)
    assert BlobFixity.objects.order_by("-verified_at").first().blob_id in shas
    assert BlobFixity.objects.get(blob_id=old).verified_at > timezone.now() - timedelta(hours=1)
    assert FixityRun.objects.count() == 2
    sample = fixity_audit(mode="sample", sample=3, bytes_per_second=0)
    assert sample.blobs_checked == 3


def test_throttle_computes_the_pauses_that_keep_the_rate() -> None:
    now = [0.0]
    slept: list[float] = []
    throttle = Throttle(1000, clock=lambda: now[0], sleep=slept.append)
    throttle.consumed(500)  # 0.5 s worth read at t=0
    assert slept == [0.5]
    now[0] = 0.5
    throttle.consumed(500)
    assert slept == [0.5, 0.5]
    now[0] = 3.0  # the reader fell behind: no pause
    throttle.consumed(1000)
    assert slept == [0.5, 0.5]
    assert Throttle(0).pause_for(10**9) == 0.0


@pytest.mark.django_db
def test_the_audit_is_throttled(blob_root: Path) -> None:
    store(b"x" * 3_000_000)
    slept: list[float] = []
    fixity_audit(mode="all", bytes_per_second=1_000_000, sleep=slept.append)
    # The fake sleep does not move the clock, so each pause is the whole debt so far: the last
    # is ~3 s (3 MB at 1 MB/s), less what hashing itself took.
    assert len(slept) == 3 and slept == sorted(slept)
    assert 2.0 < slept[-1] <= 3.0
