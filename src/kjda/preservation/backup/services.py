"""Backup and restore (issue 19 item 3): `kjda backup DEST`, `kjda restore DEST`.

The database snapshot comes first (SQLite online backup API; PostgreSQL pg_dump inside an
exported REPEATABLE READ snapshot) and the blob list is read from that same snapshot, so the set
is consistent while the system keeps writing: blobs are write-once, so bytes read after the
snapshot are still those the snapshot names.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from kjda.audit.services import audit_log
from kjda.errors import DomainError
from kjda.storage.digests import Digests
from kjda.storage.models import Blob
from kjda.storage.services import (
    checkpoint_get,
    checkpoint_put,
    checkpoints_list,
    get_backend,
)

from . import archive
from .archive import BackupError
from .models import BackupRun

if TYPE_CHECKING:
    from django.contrib.auth.models import User

BACKUP_CREATE = "backup.create"
BACKUP_FAILED = "backup.failed"
BACKUP_RESTORE = "backup.restore"
BACKUP_OVERDUE = "backup.overdue"
COPY_THREADS = 4


def _error(exc: Exception) -> DomainError:
    # Our messages read "中文 / English"; an OS or SQLite error is English only.
    text = str(exc)
    zh, sep, en = text.partition(" / ")
    if not sep:
        zh, en = f"备份失败：{text}", f"backup failed: {text}"
    return DomainError("backup_failed", zh, en, status=500)


def _text(exc: Exception) -> str:
    return exc.message if isinstance(exc, DomainError) else str(exc)


def _engine() -> str:
    return "postgresql" if connection.vendor == "postgresql" else "sqlite"


def _keys() -> dict[str, Any]:
    """What it takes to read the restored data: the Django secret key (sessions, watermark
    HMAC), the audit keys (current first), the connector secrets key."""
    from kjda.connectors.secrets import connector_key_text

    return {"secret_key": settings.SECRET_KEY,
            "audit_keys": [settings.KJDA_AUDIT_KEY, *settings.KJDA_AUDIT_OLD_KEYS],
            "connector_key": connector_key_text()}


def _snapshot_sqlite(target: Path) -> list[tuple[str, str, int]]:
    """Copy the live database with the online backup API (one step: a read snapshot; writers
    go on under WAL) and read the blob list from the copy."""
    name = connection.settings_dict["NAME"]
    src = sqlite3.connect(f"{Path(name).resolve().as_uri()}?mode=ro", uri=True, timeout=60)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        rows = dst.execute("SELECT sha256, sm3, size FROM storage_blob "
                           "WHERE destroyed_at IS NULL ORDER BY sha256").fetchall()
    finally:
        dst.close()
        src.close()
    return [(r[0], r[1], int(r[2])) for r in rows]


def _pg_env() -> tuple[list[str], dict[str, str]]:
    db = connection.settings_dict  # the live one (a test run names its own database)
    args = ["-h", str(db.get("HOST") or "127.0.0.1"), "-p", str(db.get("PORT") or 5432),
            "-U", str(db.get("USER") or "postgres"), "-d", str(db["NAME"])]
    env = dict(os.environ)
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    return args, env


def _snapshot_postgres(target: Path) -> list[tuple[str, str, int]]:
    """pg_dump -Fc of the snapshot our REPEATABLE READ transaction exported, so the dump and
    the blob list read here are the same instant."""
    pg_dump = shutil.which("pg_dump")
    if not pg_dump:
        raise BackupError("pg_dump 未安装 / pg_dump is not installed (postgresql client)")
    args, env = _pg_env()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur.execute("SELECT pg_export_snapshot()")
        snap = cur.fetchone()[0]
        cur.execute("SELECT sha256, sm3, size FROM storage_blob WHERE destroyed_at IS NULL "
                    "ORDER BY sha256")
        rows = cur.fetchall()
        proc = subprocess.run(  # noqa: S603 - our argv, no shell
            [pg_dump, "-Fc", f"--snapshot={snap}", "-f", str(target), *args],
                              env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BackupError(f"pg_dump 失败 / failed: {proc.stderr.strip()[:500]}")
    return [(r[0], r[1], int(r[2])) for r in rows]


def backup_create(*, dest: str | Path, passphrase: str,
                  actor: User | None = None) -> BackupRun:
    """Write a backup set to DEST: incremental against the newest set there (only blobs not in
    it are copied), full when there is none. Records and audits the run, failed or not."""
    dest = Path(dest).resolve()
    run = BackupRun.objects.create(dest=str(dest), started_at=timezone.now())
    try:
        _backup_write(dest, passphrase, run)
    except (BackupError, OSError, sqlite3.Error, DomainError) as exc:
        for partial in (dest / "sets").glob(".partial-*"):
            shutil.rmtree(partial, ignore_errors=True)  # a failed set leaves no half set
        with transaction.atomic():
            run.error = _text(exc)[:4000]
            run.finished_at = timezone.now()
            run.save(update_fields=["error", "finished_at"])
            audit_log(action=BACKUP_FAILED, actor=actor, object_type="backup",
                      object_id=run.pk, outcome="failure",
                      detail={"dest": str(dest), "error": _text(exc)[:500]})
        if isinstance(exc, DomainError):
            raise
        raise _error(exc) from exc
    with transaction.atomic():
        run.ok = True
        run.finished_at = timezone.now()
        run.save()
        audit_log(action=BACKUP_CREATE, actor=actor, object_type="backup", object_id=run.pk,
                  detail={"dest": str(dest), "set": run.set_id, "kind": run.kind,
                          "blobs": run.blob_count, "new_blobs": run.new_blob_count,
                          "written_bytes": run.written_bytes, "total_bytes": run.total_bytes})
    return run


def _backup_write(dest: Path, passphrase: str, run: BackupRun) -> None:
    archive.derive(passphrase, b"0" * 16, n=2)  # refuse an empty passphrase before any work
    dest.mkdir(parents=True, exist_ok=True)
    previous = archive.set_ids(dest)
    held: dict[str, str] = {}
    if previous:
        held = {b["sha256"]: b["held_by"]
                for b in archive.manifest_read(dest, previous[-1])["blobs"]}
    set_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(3)
    work = dest / "sets" / f".partial-{set_id}"
    work.mkdir(parents=True)
    engine = _engine()
    # Checkpoints listed before the snapshot: each counts only events the snapshot holds.
    cp_names = checkpoints_list()
    db_file = work / ("db.sqlite3" if engine == "sqlite" else "db.pgdump")
    rows = _snapshot_sqlite(db_file) if engine == "sqlite" else _snapshot_postgres(db_file)
    written = db_file.stat().st_size
    backend = get_backend()

    def copy(row: tuple[str, str, int]) -> None:
        sha256, sm3, size = row
        path = archive.blob_path(dest, sha256)
        with backend.open(sha256) as fh:
            got = archive.copy_hashing(fh, path)
        if (got.sha256, got.sm3, got.size) != (sha256, sm3, size):
            path.unlink(missing_ok=True)
            raise BackupError(f"存储中的文件已损坏，未备份 / blob {sha256} is damaged in the "
                              f"store (read sha256 {got.sha256}, {got.size} B): repair it "
                              "first (fixity audit)")

    blobs: list[dict[str, Any]] = []
    todo = []
    for sha256, sm3, size in rows:
        holder = held.get(sha256)
        if holder is None or not archive.blob_path(dest, sha256).exists():
            todo.append((sha256, sm3, size))
            holder = set_id
            written += size
        blobs.append({"sha256": sha256, "sm3": sm3, "size": size, "held_by": holder})
    new = len(todo)
    # Reading, hashing and fsyncing one file after another leaves the disk idle between them;
    # a few threads (hashlib and file I/O release the GIL) keep it busy.
    with ThreadPoolExecutor(max_workers=COPY_THREADS) as pool:
        for _done in pool.map(copy, todo):
            pass
    checkpoints = []
    for name in cp_names:
        path = dest / "checkpoints" / name
        data = checkpoint_get(name=name)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written += len(data)
        checkpoints.append({"name": name, "sha256": archive.file_sha256(path),
                            "size": path.stat().st_size})
    keys_bytes, mac = archive.keys_encrypt(_keys(), passphrase)
    (work / "keys.enc").write_bytes(keys_bytes)
    kind = BackupRun.Kind.INCREMENTAL if previous else BackupRun.Kind.FULL
    manifest: dict[str, Any] = {
        "format": archive.FORMAT, "set": set_id, "kind": str(kind),
        "created_at": datetime.now(UTC).isoformat(), "previous": previous[-1] if previous else None,
        "database": {"engine": engine, "file": db_file.name, "size": db_file.stat().st_size,
                     "sha256": archive.file_sha256(db_file)},
        "keys": {"file": "keys.enc", "sha256": archive.file_sha256(work / "keys.enc")},
        "storage": repr(backend), "checkpoints": checkpoints, "blobs": blobs,
    }
    body, sig = archive.manifest_sign(manifest, mac)
    (work / "manifest.json").write_bytes(body)
    (work / "manifest.hmac").write_text(sig + "\n")
    for f in work.iterdir():  # durable before the rename makes the set visible
        with f.open("rb") as fh:
            os.fsync(fh.fileno())
    os.replace(work, dest / "sets" / set_id)
    run.set_id, run.kind, run.blob_count, run.new_blob_count = set_id, kind, len(blobs), new
    run.written_bytes = written
    run.total_bytes = sum(b["size"] for b in blobs) + manifest["database"]["size"]


def backup_restore(*, dest: str | Path, passphrase: str, set_id: str | None = None,
                   actor: User | None = None) -> dict[str, Any]:
    """The part of a restore after Django starts (archive.restore_prepare wrote the keys and a
    SQLite database): a PostgreSQL dump goes into the (empty) database, every blob and
    checkpoint back into the store, each blob checked against its SHA-256, SM3 and size (those
    of the manifest and of its restored row) in the one pass that copies it. Audited."""
    dest = Path(dest).resolve()
    ids = archive.set_ids(dest)
    sid = set_id or (ids[-1] if ids else "")
    manifest = archive.manifest_read(dest, sid)
    folder = dest / "sets" / sid
    if manifest["database"]["engine"] == "postgresql":
        if _engine() != "postgresql":
            raise _error(BackupError("该备份是 PostgreSQL 转储，请设置 DATABASE_URL / the backup "
                                     "holds a PostgreSQL dump: set DATABASE_URL"))
        if connection.introspection.table_names():
            raise _error(BackupError("目标数据库非空，拒绝恢复 / the target database is not "
                                     "empty: restore only into a fresh database"))
        pg_restore = shutil.which("pg_restore")
        if not pg_restore:
            raise _error(BackupError("pg_restore 未安装 / pg_restore is not installed"))
        args, env = _pg_env()
        connection.close()
        proc = subprocess.run([pg_restore, "--no-owner", "--exit-on-error", *args,  # noqa: S603
                               str(folder / manifest["database"]["file"])],
                              env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise _error(BackupError(f"pg_restore 失败 / failed: {proc.stderr.strip()[:500]}"))
    expected = {sha256: Digests(sha256, sm3, size)
                for sha256, sm3, size in archive.iter_manifest_blobs(manifest)}
    # One read of the restored rows (not a query per blob): each must name the digests the
    # manifest does, which the copy into the store then checks the bytes against.
    bad = _rows_disagreeing(expected)
    skip = set(bad)
    bad += get_backend().restore_files(
        (archive.blob_path(dest, sha256), digests) for sha256, digests in expected.items()
        if sha256 not in skip)
    for cp in manifest.get("checkpoints", []):
        checkpoint_put(name=cp["name"], data=(dest / "checkpoints" / cp["name"]).read_bytes())
    if bad:
        raise _error(BackupError(f"恢复后文件校验失败 / blobs fail verification after restore: "
                                 f"{', '.join(bad[:10])}"))
    unknown = Blob.objects.filter(destroyed_at__isnull=True).count() - len(manifest["blobs"])
    result = {"set": sid, "blobs": len(manifest["blobs"]), "verified": len(manifest["blobs"]),
              "checkpoints": len(manifest.get("checkpoints", [])),
              "database": manifest["database"]["engine"], "rows_without_blob": unknown}
    audit_log(action=BACKUP_RESTORE, actor=actor, object_type="backup", object_id=sid,
              detail={"dest": str(dest), **result})
    return result


def _rows_disagreeing(expected: dict[str, Digests]) -> list[str]:
    """The manifest's blobs whose restored Blob row is missing or names other digests."""
    seen: set[str] = set()
    bad = []
    rows = Blob.objects.filter(destroyed_at__isnull=True).values_list("sha256", "sm3", "size")
    for sha256, sm3, size in rows.iterator(chunk_size=10_000):
        want = expected.get(sha256)
        if want is not None:
            seen.add(sha256)
            if (want.sm3, want.size) != (sm3, size):
                bad.append(sha256)
    return bad + [sha256 for sha256 in expected if sha256 not in seen]


def backup_overdue_check() -> int:
    """The daily alarm: when the last good backup is older than KJDA_BACKUP_MAX_AGE_HOURS (or
    there is none), audit it and raise the backup_overdue alarm (kjda.preservation.monitoring),
    whose OA to-do reaches the system administrators once, until they acknowledge it; a good
    backup clears it. The dashboard to-do comes from providers.backup_todos. The number of OA
    notices queued."""
    from kjda.preservation.monitoring.models import AlarmKind
    from kjda.preservation.monitoring.probes import backup_finding
    from kjda.preservation.monitoring.services import alarm_clear, alarm_raise

    from .selectors import backup_status

    status = backup_status()
    if not status.overdue:
        alarm_clear(kind=AlarmKind.BACKUP_OVERDUE, subject="backup")
        return 0
    facts = status.as_dict()
    f = backup_finding(facts)
    with transaction.atomic():
        audit_log(action=BACKUP_OVERDUE, object_type="backup", object_id=str(facts["set"] or ""),
                  outcome="failure", detail=facts)
        return alarm_raise(kind=f.kind, subject=f.subject, title_zh=f.title_zh,
                           title_en=f.title_en, detail_zh=f.detail_zh, detail_en=f.detail_en,
                           severity=f.severity, data=f.data).notices
