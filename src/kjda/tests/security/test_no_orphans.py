"""Issue 15 item 12: no orphans.

Blob files no record refers to (an upload killed between storing the bytes and filing the
record) and stale temporary files (the store's, the S3 spool's, Django's upload files) are
removed by the periodic loop once older than KJDA_ORPHAN_GRACE_HOURS; a referenced blob and
anything younger are kept. The sweep is audited and `kjda storage check` reports it.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest

from kjda.archives.models import RecordFile
from kjda.audit.models import AuditEvent
from kjda.storage.services import get_backend
from kjda_oasim.factories import metadata_json

pytestmark = pytest.mark.django_db

DAY = 24 * 3600


@pytest.fixture
def data_dir(settings, tmp_path) -> Path:
    data = tmp_path / "data"
    (data / "tmp" / "uploads").mkdir(parents=True)
    settings.DATA_DIR = data
    settings.FILE_UPLOAD_TEMP_DIR = str(data / "tmp" / "uploads")
    settings.STORAGE_URL = (data / "blobs").as_uri()
    settings.KJDA_ORPHAN_GRACE_HOURS = 24
    return data


def _age(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def _orphan(data: bytes, *, age: float) -> Path:
    """What an upload killed after storing its bytes leaves: a blob file without a row."""
    backend = get_backend()
    sha = backend.put(io.BytesIO(data), max_bytes=10**6).digests.sha256
    return _age(backend.path_for(sha), age)


def _temp(path: Path, *, age: float, size: int = 1000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    return _age(path, age)


def test_periodic_loop_removes_old_orphans_and_temp_files_only(data_dir, api, voucher_files):
    from kjda.connectors.tasks import periodic_once

    meta = metadata_json(files=[{"document_type": "记账凭证"}, {"document_type": "原始凭证"}])
    assert api.post_record(meta, voucher_files).status_code in (200, 201)
    referenced = [get_backend().path_for(f.sha256) for f in RecordFile.objects.all()]
    for path in referenced:  # filed long ago
        _age(path, 30 * DAY)
    old_orphan = _orphan(os.urandom(300_000), age=2 * DAY)
    young_orphan = _orphan(os.urandom(1000), age=3600)  # perhaps being filed right now
    store_tmp = get_backend().tmp_dir
    old_temps = [_temp(store_tmp / "put-killed", age=2 * DAY, size=5000),
                 _temp(data_dir / "tmp" / "s3put-killed", age=3 * DAY),
                 _temp(data_dir / "tmp" / "uploads" / "tmpab12.upload.pdf", age=2 * DAY)]
    young_temp = _temp(store_tmp / "put-writing", age=60)

    periodic_once()

    assert not old_orphan.exists()
    assert not any(p.exists() for p in old_temps)
    assert young_orphan.exists() and young_temp.exists()
    assert all(p.exists() for p in referenced)
    event = AuditEvent.objects.get(action="storage.sweep")
    assert event.detail["orphans"] == 1
    assert event.detail["orphan_bytes"] == 300_000
    assert event.detail["temp_files"] == 3
    assert event.detail["temp_bytes"] == 7000
    assert event.detail["young_kept"] == 2
    assert event.detail["referenced"] == len(set(referenced))
    # the records still serve their files
    f = RecordFile.objects.first()
    assert api.get(f"/api/v1/files/{f.pk}/content").status_code == 200
    # not again until the next interval
    _orphan(os.urandom(100), age=2 * DAY)
    periodic_once()
    assert AuditEvent.objects.filter(action="storage.sweep").count() == 1


def test_storage_check_lists_orphans_and_last_sweep_and_can_sweep(data_dir, capsys):
    from kjda.cli import main

    orphan = _orphan(b"left by a killed upload", age=2 * DAY)
    temp = _temp(get_backend().tmp_dir / "put-old", age=2 * DAY)
    assert main(["storage", "check"]) == 0
    out = capsys.readouterr().out
    assert str(orphan) in out and str(temp) in out
    assert "last sweep: never" in out
    assert orphan.exists() and temp.exists()  # a check alone removes nothing
    assert not AuditEvent.objects.filter(action="storage.sweep").exists()

    assert main(["storage", "check", "--sweep"]) == 0
    assert not orphan.exists() and not temp.exists()
    assert AuditEvent.objects.get(action="storage.sweep").detail["orphans"] == 1
    main(["storage", "check"])
    out = capsys.readouterr().out
    assert "last sweep: " in out and "1 orphans" in out


def test_a_store_that_looks_mostly_unreferenced_is_left_alone(data_dir, caplog):
    """Pointed at the wrong (empty, restored) database, the sweep must not empty the store."""
    from kjda.storage.services import storage_sweep

    blobs = [_orphan(os.urandom(64), age=2 * DAY) for _ in range(120)]
    report = storage_sweep()
    assert report.skipped
    assert all(p.exists() for p in blobs)
    assert AuditEvent.objects.get(action="storage.sweep").detail["skipped"]
