"""Backup, check and restore on real records: the restore drill runs `kjda restore` and `kjda
audit verify` as the administrator would, in a fresh process on an empty data directory."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kjda.archives.models import Record, RecordFile
from kjda.audit.models import AuditEvent
from kjda.errors import DomainError
from kjda.ingest.metadata import FileMetaIn, metadata_parse
from kjda.ingest.pipeline import IncomingFile
from kjda.ingest.services import record_ingest
from kjda.preservation.backup import archive
from kjda.preservation.backup.models import BackupRun
from kjda.preservation.backup.services import backup_create, backup_restore
from kjda.storage.digests import Digests
from kjda.storage.services import get_backend
from kjda_oasim.factories import metadata_json, pdf_bytes

PASS = "correct horse battery staple 2026"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _own_store(settings, tmp_path: Path) -> None:
    settings.STORAGE_URL = (tmp_path / "store").as_uri()


def _ingest(actor, n: int, tag: str) -> list[Record]:
    out = []
    for i in range(n):
        parsed = metadata_parse(metadata_json(category="原始凭证", document_no=f"{tag}-{i}",
                                              title=f"报销 {tag} {i}"))
        doc = IncomingFile(io.BytesIO(pdf_bytes(["报销单", f"{tag}-{i}"])), f"{tag}-{i}.pdf",
                           parsed.files[0] if parsed.files else FileMetaIn())
        out.append(record_ingest(metadata=parsed, files=[doc], actor=actor).record)
    return out


def _clean_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("KJDA_SECRET_KEY", "KJDA_AUDIT_KEY", "KJDA_AUDIT_OLD_KEYS",
                        "KJDA_CONNECTOR_KEY", "DATABASE_URL", "STORAGE_URL",
                        "DJANGO_SETTINGS_MODULE")}
    env.update(KJDA_DATA_DIR=str(data_dir), KJDA_BACKUP_PASSPHRASE=PASS,
               PYTHONPATH=os.pathsep.join(sys.path))
    return env


def _kjda(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kjda.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.skipif(os.environ.get("DATABASE_URL", "").startswith("postgres"),
                    reason="the SQLite drill (test_backup_postgres.py runs the PostgreSQL one)")
def test_restore_drill_brings_back_records_files_and_a_verifying_audit_chain(
        fonds, archivist, tmp_path):
    records = _ingest(archivist, 3, "DR")
    run = backup_create(dest=tmp_path / "bk", passphrase=PASS, actor=archivist)
    assert run.ok and run.kind == "full" and run.new_blob_count == run.blob_count >= 3
    assert AuditEvent.objects.filter(action="backup.create", object_id=str(run.pk)).exists()

    data = tmp_path / "restored"
    env = _clean_env(data)
    done = _kjda("restore", str(tmp_path / "bk"), env=env)
    assert done.returncode == 0, done.stderr
    audit = _kjda("audit", "verify", env=env)
    assert audit.returncode == 0, audit.stderr + audit.stdout
    # and the fixity audit of every blob finds nothing wrong (issue 19 "done when")
    check = _kjda("storage", "check", "--all", env=env)
    assert check.returncode == 0, check.stderr + check.stdout
    assert "mismatches 0; 缺失 / missing 0;" in check.stdout, check.stdout

    con = sqlite3.connect(data / "kjda.sqlite3")
    got = dict(con.execute("SELECT id, archive_no FROM archives_record").fetchall())
    assert got == {r.pk: r.archive_no for r in Record.objects.all()}
    files = sorted(con.execute("SELECT record_id, sha256 FROM archives_recordfile").fetchall())
    assert files == sorted(RecordFile.objects.values_list("record_id", "sha256"))
    assert {r.archive_no for r in records} <= set(got.values())
    # Every blob is back in the restored store, byte for byte (sha256, sm3, size).
    for sha256, sm3, size in con.execute("SELECT sha256, sm3, size FROM storage_blob"):
        path = data / "blobs"
        found = [p for p in path.rglob(sha256)]
        assert found, sha256
        assert archive.file_digests(found[0]) == Digests(sha256, sm3, size)
    restored = con.execute("SELECT count(*) FROM audit_auditevent WHERE action = ?",
                           ("backup.restore",)).fetchone()[0]
    assert restored == 1


def test_an_incremental_backup_holds_only_the_new_blobs(fonds, archivist, tmp_path):
    _ingest(archivist, 2, "IA")
    first = backup_create(dest=tmp_path / "bk", passphrase=PASS)
    _ingest(archivist, 1, "IB")
    second = backup_create(dest=tmp_path / "bk", passphrase=PASS)
    assert second.kind == "incremental"
    assert second.blob_count == first.blob_count + 1 and second.new_blob_count == 1
    manifest = archive.manifest_read(tmp_path / "bk", second.set_id)
    holders = [b["held_by"] for b in manifest["blobs"]]
    assert holders.count(second.set_id) == 1
    assert holders.count(first.set_id) == first.blob_count
    assert manifest["previous"] == first.set_id
    assert archive.backup_check(tmp_path / "bk", PASS).ok


def test_verify_catches_a_corrupted_blob_and_a_wrong_passphrase(fonds, archivist, tmp_path):
    _ingest(archivist, 2, "VC")
    run = backup_create(dest=tmp_path / "bk", passphrase=PASS)
    env = _clean_env(tmp_path / "unused")
    ok = _kjda("backup", "verify", str(tmp_path / "bk"), env=env)
    assert ok.returncode == 0, ok.stderr

    wrong = _kjda("backup", "verify", str(tmp_path / "bk"),
                  env={**env, "KJDA_BACKUP_PASSPHRASE": "not it"})
    assert wrong.returncode == 1 and "wrong passphrase" in wrong.stderr

    victim = archive.manifest_read(tmp_path / "bk", run.set_id)["blobs"][0]["sha256"]
    path = archive.blob_path(tmp_path / "bk", victim)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    bad = _kjda("backup", "verify", str(tmp_path / "bk"), env=env)
    assert bad.returncode == 1 and f"blob {victim} damaged" in bad.stderr


def test_verify_catches_a_changed_manifest(fonds, archivist, tmp_path):
    _ingest(archivist, 1, "MC")
    run = backup_create(dest=tmp_path / "bk", passphrase=PASS)
    path = tmp_path / "bk" / "sets" / run.set_id / "manifest.json"
    manifest = json.loads(path.read_bytes())
    manifest["blobs"] = manifest["blobs"][1:]  # drop a blob from the list
    path.write_text(json.dumps(manifest))
    assert "manifest signature" in archive.backup_check(tmp_path / "bk", PASS).problems[0]


def test_restore_refuses_a_data_directory_that_is_not_empty(fonds, archivist, tmp_path):
    _ingest(archivist, 1, "NE")
    backup_create(dest=tmp_path / "bk", passphrase=PASS)
    data = tmp_path / "live"
    data.mkdir()
    (data / "kjda.sqlite3").write_bytes(b"someone's database")
    done = _kjda("restore", str(tmp_path / "bk"), env=_clean_env(data))
    assert done.returncode == 1 and "not empty" in done.stderr
    assert (data / "kjda.sqlite3").read_bytes() == b"someone's database"
    assert sorted(p.name for p in data.iterdir()) == ["kjda.sqlite3"]


def test_a_backup_without_passphrase_fails_and_is_recorded(fonds, tmp_path):
    with pytest.raises(DomainError):
        backup_create(dest=tmp_path / "bk", passphrase="")
    run = BackupRun.objects.get()
    assert not run.ok and "KJDA_BACKUP_PASSPHRASE" in run.error
    assert AuditEvent.objects.filter(action="backup.failed").exists()


@pytest.mark.skipif(os.environ.get("DATABASE_URL", "").startswith("postgres"),
                    reason="the SQLite drill (test_backup_postgres.py runs the PostgreSQL one)")
def test_a_backup_taken_while_records_are_filed_is_one_consistent_instant(
        fonds, archivist, tmp_path):
    _ingest(archivist, 3, "W0")
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        from django.db import connection

        try:
            i = 0
            while not stop.is_set():
                _ingest(archivist, 1, f"W{i + 1}")
                i += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        runs = [backup_create(dest=tmp_path / "bk", passphrase=PASS) for _ in range(3)]
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not errors, errors
    for run in runs:
        folder = tmp_path / "bk" / "sets" / run.set_id
        con = sqlite3.connect(folder / "db.sqlite3")
        needed = {r[0] for r in con.execute("SELECT sha256 FROM archives_recordfile")}
        listed = {b["sha256"] for b in archive.manifest_read(tmp_path / "bk", run.set_id)["blobs"]}
        assert needed <= listed  # every file a snapshot record names is in the set
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert archive.backup_check(tmp_path / "bk", PASS).ok
    assert get_backend()  # the store served the writer throughout


def test_a_blob_damaged_in_the_store_fails_the_backup_and_leaves_no_set(
        fonds, archivist, tmp_path, settings):
    _ingest(archivist, 2, "DS")
    store = Path(settings.STORAGE_URL.removeprefix("file://"))
    victim = next(p for p in store.rglob("*") if p.is_file() and len(p.name) == 64)
    data = bytearray(victim.read_bytes())
    data[-10] ^= 0x01
    victim.chmod(0o644)
    victim.write_bytes(bytes(data))
    with pytest.raises(DomainError) as caught:
        backup_create(dest=tmp_path / "bk", passphrase=PASS)
    assert "damaged in the store" in caught.value.message
    run = BackupRun.objects.get()
    assert not run.ok and victim.name in run.error and run.finished_at is not None
    assert archive.set_ids(tmp_path / "bk") == []
    assert not list((tmp_path / "bk" / "sets").iterdir())
    assert AuditEvent.objects.filter(action="backup.failed").count() == 1


@pytest.mark.skipif(os.environ.get("DATABASE_URL", "").startswith("postgres"),
                    reason="restores in-process over this database: a SQLite set only")
def test_a_backup_blob_damaged_after_the_check_is_refused_by_the_restore_copy(
        fonds, archivist, tmp_path, settings):
    """The restore reads each blob once: same-size damage (which the pre-check of sizes lets
    through) is caught by the hash taken while copying, and the bytes are not stored."""
    _ingest(archivist, 3, "RC")
    run = backup_create(dest=tmp_path / "bk", passphrase=PASS)
    manifest = archive.manifest_read(tmp_path / "bk", run.set_id)
    victim = manifest["blobs"][0]["sha256"]
    path = archive.blob_path(tmp_path / "bk", victim)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    assert archive.backup_check(tmp_path / "bk", PASS, blob_digests=False).ok
    assert not archive.backup_check(tmp_path / "bk", PASS).ok

    # The blobs go back into an empty store; this database already holds the rows.
    settings.STORAGE_URL = (tmp_path / "new-store").as_uri()
    with pytest.raises(DomainError) as caught:
        backup_restore(dest=tmp_path / "bk", passphrase=PASS)
    assert victim in caught.value.message
    backend = get_backend()
    assert not backend.exists(victim)
    others = [b for b in manifest["blobs"] if b["sha256"] != victim]
    assert others and all(backend.verify(b["sha256"]) for b in others)
    assert not AuditEvent.objects.filter(action="backup.restore").exists()
