"""`kjda storage check [--all|--sample N]` and `kjda storage restore-from-replica` (issue 19)."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from kjda.audit.models import AuditEvent
from kjda.cli import main
from kjda.storage.models import FixityRun
from kjda.storage.services import blob_store, get_backend, replica_copy_due


@pytest.fixture
def blob_root(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "blobs"
    settings.STORAGE_URL = root.as_uri()
    return root


def _blobs(n: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        data = f"凭证 {i} ".encode() * 2000
        out.append((blob_store(source=io.BytesIO(data)).sha256, data))
    return out


@pytest.mark.django_db
def test_storage_check_exits_1_on_damage_and_0_when_whole(
        blob_root: Path, capsys: Any) -> None:
    blobs = _blobs(3)
    assert main(["storage", "check", "--all"]) == 0
    assert "3 blobs" in capsys.readouterr().out
    path = blob_root / blobs[1][0][:2] / blobs[1][0]
    os.chmod(path, 0o644)
    path.write_bytes(b"changed")
    assert main(["storage", "check", "--sample", "3"]) == 1
    out = capsys.readouterr()
    assert "mismatches 1" in out.out and blobs[1][0] in out.out
    assert "damage left unrepaired" in out.err
    assert FixityRun.objects.count() == 2
    assert main(["storage", "check", "--sample", "0"]) == 0  # nothing sampled, nothing found


@pytest.mark.django_db
def test_restore_from_replica_rebuilds_a_deleted_primary(
        blob_root: Path, settings: Any, tmp_path: Path, capsys: Any) -> None:
    assert main(["storage", "restore-from-replica"]) == 2  # no replica configured
    assert "KJDA_REPLICA_URL" in capsys.readouterr().err
    settings.KJDA_REPLICA_URL = (tmp_path / "replica").as_uri()
    blobs = _blobs(5)
    assert replica_copy_due() == 5
    shutil.rmtree(blob_root)  # the primary folder lost
    from kjda.storage import services

    services._backend_for.cache_clear()
    assert main(["storage", "restore-from-replica"]) == 0
    assert "restored from the replica: 5 blobs" in capsys.readouterr().out
    for sha, data in blobs:
        assert (blob_root / sha[:2] / sha).read_bytes() == data
        assert get_backend().verify(sha)
    assert AuditEvent.objects.get(action="storage.restored").detail["restored"] == 5
    assert main(["storage", "check", "--all"]) == 0
