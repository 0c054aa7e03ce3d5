"""The storage app's public API: other apps call only these functions.

Blobs are write-once and content-addressed: storing identical bytes twice keeps one copy.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from kjda.audit.services import audit_log

from . import errors
from .backends import BlobBackend, backend_from_url
from .backends.base import CheckpointStore
from .backends.local import LocalBlobBackend, LocalCheckpointStore
from .digests import OPENSSL_SM3, Digests, new_sm3, read_chunks, require_sha256
from .errors import StorageError

if TYPE_CHECKING:
    from django.contrib.auth.models import User
from .models import Blob

__all__ = [
    "Digests",
    "StorageError",
    "StoredBlob",
    "blob_content_exists",
    "blob_destroy",
    "blob_retention_extend",
    "blob_exists",
    "blob_open",
    "blob_put",
    "blob_read_verified",
    "blob_rows_add",
    "blob_store",
    "blob_verify",
    "checkpoint_get",
    "checkpoint_put",
    "checkpoints_list",
    "get_backend",
    "storage_sweep",
    "storage_sweep_due",
    "storage_sweep_last",
]

logger = logging.getLogger(__name__)
FIXITY_REPAIRED = "file.fixity_repaired"


@dataclass(frozen=True, slots=True)
class StoredBlob:
    sha256: str
    sm3: str
    size: int
    created: bool  # True when this call added the Blob row (content new to the archive)


def get_backend() -> BlobBackend:
    """The backend for the current STORAGE_URL (re-read on each call, so overrides apply)."""
    return _backend_for(settings.STORAGE_URL, str(settings.DATA_DIR))


@functools.lru_cache(maxsize=8)
def _backend_for(url: str, data_dir: str) -> BlobBackend:
    return backend_from_url(url, spool_dir=Path(data_dir) / "tmp")


def blob_store(*, source: IO[bytes], max_bytes: int | None = None,
               actor: User | None = None) -> StoredBlob:
    """Store a binary stream from its current position, e.g. a Django UploadedFile.

    max_bytes can only lower settings.KJDA_MAX_FILE_BYTES. Safe inside an outer transaction;
    if that rolls back, the blob stays in the store without a row and the next store adopts it.
    """
    digests = blob_put(source=source, max_bytes=max_bytes, actor=actor)
    created = blob_rows_add([digests])[0]
    return StoredBlob(digests.sha256, digests.sm3, digests.size, created)


def blob_put(*, source: IO[bytes], max_bytes: int | None = None,
             actor: User | None = None) -> Digests:
    """The bytes only, without the Blob row: for a caller that adds the row (blob_rows_add) in
    the transaction that also writes what refers to it, so that one write transaction, not
    two, is spent per record (on SQLite every write transaction queues for the single writer).
    Bytes whose row never comes are adopted by the next store of the same content (or removed
    by the orphan sweep after its grace period).

    Content already stored is re-verified; a damaged stored copy is replaced with these good
    bytes, and the repair is logged and audited (file.fixity_repaired, by `actor` if given)."""
    limit = settings.KJDA_MAX_FILE_BYTES
    if max_bytes is not None:
        limit = min(limit, max_bytes)
    backend = get_backend()
    result = backend.put(source, max_bytes=limit)
    if result.repaired:
        _repair_audit(result.digests, backend=backend, actor=actor)
    return result.digests


def _repair_audit(digests: Digests, *, backend: BlobBackend, actor: User | None) -> None:
    logger.error("blob %s was damaged in %r and has been replaced with verified bytes of a new "
                 "upload", digests.sha256, backend)
    audit_log(action=FIXITY_REPAIRED, actor=actor, object_type="blob", object_id=digests.sha256,
              detail={"sha256": digests.sha256, "sm3": digests.sm3, "size": digests.size,
                      "store": repr(backend)})


def blob_rows_add(stored: list[Digests]) -> list[bool]:
    """The Blob rows of content already put: for each, True if this call added the row (content
    new to the archive). A row that exists must agree with the content (blob_corrupt if not)."""
    created = []
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cur:
        for digests in stored:
            # INSERT … ON CONFLICT DO NOTHING, not get_or_create's SELECT + savepoint + INSERT.
            cur.execute("INSERT INTO storage_blob (sha256, sm3, size, created_at) "
                        "VALUES (%s, %s, %s, %s) ON CONFLICT (sha256) DO NOTHING",
                        [digests.sha256, digests.sm3, digests.size, now])
            created.append(cur.rowcount == 1)
    for digests, new in zip(stored, created, strict=True):
        if not new:
            row = Blob.objects.filter(pk=digests.sha256).values_list("sm3", "size",
                                                                     "destroyed_at").first()
            if row is None or row[:2] != (digests.sm3, digests.size):
                raise errors.blob_corrupt(digests.sha256, "database row disagrees with content")
            if row[2] is not None:  # destroyed content arriving again: its bytes are back
                Blob.objects.filter(pk=digests.sha256).update(destroyed_at=None)
    return created


BLOB_DESTROYED = "blob.destroyed"


def blob_destroy(*, sha256: str, actor: User | None = None, reason: str = "") -> int:
    """Remove the blob's bytes from the store (every copy, every S3 version) and mark its row
    destroyed: the row keeps the digests as a tombstone. For a destruction (79号令 Art.18) only;
    the caller has checked that no kept record refers to the blob. Idempotent: a second call
    removes nothing. The row is marked first, so a crash between the two leaves a row that says
    "destroyed" over bytes a retry removes, never bytes thought present that are gone."""
    require_sha256(sha256)
    with transaction.atomic():
        marked = Blob.objects.filter(pk=sha256, destroyed_at__isnull=True).update(
            destroyed_at=timezone.now())
        if marked:
            audit_log(action=BLOB_DESTROYED, actor=actor, object_type="blob", object_id=sha256,
                      detail={"sha256": sha256, "reason": reason, "store": repr(get_backend())})
    return get_backend().destroy(sha256)


def blob_retention_extend(*, sha256s: list[str], until: date) -> int:
    """Keep the blobs in the store at least to the end of `until` (a record's last day of
    keeping): S3 Object Lock retention, extended never shortened; nothing on a local store.
    The number of objects whose retention was set."""
    backend = get_backend()
    end = datetime.combine(until + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return sum(backend.retention_extend(require_sha256(s), until=end) for s in sha256s)


def blob_open(*, sha256: str) -> BinaryIO:
    """A streaming reader the caller must close; StorageError('blob_missing') if absent."""
    return get_backend().open(require_sha256(sha256))


def blob_read_verified(*, sha256: str, sm3: str = "", size: int | None = None) -> Iterator[bytes]:
    """The stored bytes chunk by chunk, re-hashed on the way out (SHA-256, and SM3 too when
    OpenSSL has it, where it costs little). The last chunk is held back until the digests and the
    size are checked, so damaged bytes never complete a download that looks whole: on a mismatch
    the alarm is logged at ERROR and StorageError('fixity_failed') is raised, its `found` naming
    what differed. A blob of one chunk (1 MiB) is thus checked before anything is yielded."""
    require_sha256(sha256)
    fh = get_backend().open(sha256)
    return _verified_chunks(fh, sha256=sha256, sm3=sm3, size=size)


def _verified_chunks(fh: BinaryIO, *, sha256: str, sm3: str, size: int | None) -> Iterator[bytes]:
    sha = hashlib.sha256()
    sm = new_sm3() if sm3 and OPENSSL_SM3 else None
    seen = 0
    held: bytes | None = None
    with fh:
        for chunk in read_chunks(fh):
            seen += len(chunk)
            if size is not None and seen > size:
                raise _fixity_failed(sha256, {"size": f"more than {size} bytes"})
            sha.update(chunk)
            if sm is not None:
                sm.update(chunk)
            if held is not None:
                yield held
            held = chunk
    found: dict[str, str | int] = {}
    if size is not None and seen != size:
        found["size"] = seen
    if sha.hexdigest() != sha256:
        found["sha256"] = sha.hexdigest()
    if sm is not None and sm.hexdigest() != sm3:
        found["sm3"] = sm.hexdigest()
    if found:
        raise _fixity_failed(sha256, found)
    if held is not None:
        yield held


def _fixity_failed(sha256: str, found: dict[str, str | int]) -> StorageError:
    logger.error("fixity check failed for blob %s while reading it: found %s; transfer stopped",
                 sha256, found)
    exc = errors.fixity_failed(sha256)
    exc.found = found
    return exc


def blob_verify(*, sha256: str) -> bool:
    """Re-hash the stored bytes: True if they match the name and the recorded SM3 and size.

    Raises StorageError('blob_missing') when the object is not in the store at all.
    """
    require_sha256(sha256)
    row = Blob.objects.filter(pk=sha256).values_list("sm3", "size").first()
    expected = Digests(sha256, row[0], row[1]) if row else None
    return get_backend().verify(sha256, expected=expected)


def blob_exists(*, sha256: str) -> bool:
    """True when the Blob row exists and its bytes are in the store."""
    require_sha256(sha256)
    with connection.cursor() as cur:  # the ingest checks call this for every file
        cur.execute("SELECT 1 FROM storage_blob WHERE sha256 = %s", [sha256])
        row = cur.fetchone()
    return row is not None and get_backend().exists(sha256)


def blob_content_exists(*, sha256: str) -> bool:
    """True when the bytes are in the store, whether or not their Blob row is written yet (ingest
    writes it in the transaction that files the record)."""
    return get_backend().exists(require_sha256(sha256))


# Write-once named objects beside the blobs (the audit log's signed checkpoints): kept under
# `checkpoints/` in the store, outside the content-addressed blobs, never swept as orphans.
def _checkpoint_store() -> CheckpointStore:
    backend = get_backend()
    if isinstance(backend, LocalBlobBackend):
        return LocalCheckpointStore(backend)
    from .backends.s3 import S3BlobBackend, S3CheckpointStore

    if isinstance(backend, S3BlobBackend):
        return S3CheckpointStore(backend)
    raise TypeError(f"{backend!r} keeps no checkpoints")


def checkpoint_put(*, name: str, data: bytes) -> bool:
    """Store `data` once under `name` (letters, digits, `.`, `_`, `-`): True if stored, False
    if the name exists already (it is never replaced)."""
    return _checkpoint_store().put(name, data)


def checkpoint_get(*, name: str) -> bytes:
    """The bytes stored under `name`; StorageError('blob_missing') when there are none."""
    return _checkpoint_store().get(name)


def checkpoints_list(*, prefix: str = "") -> list[str]:
    """The names stored (those starting with `prefix`), sorted."""
    return _checkpoint_store().names(prefix)


# The orphan sweep (issue 15, "no orphans"). An upload killed mid-way leaves its temp file; one
# killed between storing the bytes and filing the record leaves a blob file without a row. Both
# are removed once older than settings.KJDA_ORPHAN_GRACE_HOURS; a blob with a row never is.

SWEEP = "storage.sweep"
SWEEP_EVERY = timedelta(hours=6)  # a full walk of a big store is not for every loop
SWEEP_STATE = "storage-sweep.json"  # per machine: its temp folders are its own
_SWEEP_BATCH = 500
_SWEEP_MAX_FINDINGS = 100_000


@dataclass(frozen=True, slots=True)
class SweepFinding:
    kind: str  # "orphan" (a blob file without a row) or "temp"
    path: str
    size: int
    age_hours: float


@dataclass
class SweepReport:
    at: str
    dry_run: bool
    grace_hours: float
    found: list[SweepFinding]  # removed, unless dry_run
    young: int = 0  # unreferenced or temporary, but inside the grace period: kept
    young_bytes: int = 0
    referenced: int = 0
    skipped: str = ""  # why unreferenced blobs were left alone (the safety check)

    def counts(self) -> dict[str, Any]:
        orphans = [f for f in self.found if f.kind == "orphan"]
        temps = [f for f in self.found if f.kind == "temp"]
        counts: dict[str, Any] = {
            "orphans": len(orphans), "orphan_bytes": sum(f.size for f in orphans),
            "temp_files": len(temps), "temp_bytes": sum(f.size for f in temps),
            "young_kept": self.young, "young_bytes": self.young_bytes,
            "referenced": self.referenced, "grace_hours": self.grace_hours,
        }
        if self.skipped:
            counts["skipped"] = self.skipped
        return counts


def storage_sweep(*, dry_run: bool = False) -> SweepReport:
    """Find, and unless dry_run remove, unreferenced blob files and stale temporary files older
    than the grace period. Audited as storage.sweep with the counts (not a dry run)."""
    backend = get_backend()
    grace = float(settings.KJDA_ORPHAN_GRACE_HOURS)
    now = time.time()
    report = SweepReport(at=timezone.now().isoformat(timespec="seconds"), dry_run=dry_run,
                         grace_hours=grace, found=[])
    for folder in _temp_folders(backend):
        _sweep_temp(folder, now=now, grace=grace, report=report)
    if isinstance(backend, LocalBlobBackend):
        # S3: objects are not listed (a bucket of millions; Object Lock keeps them anyway).
        _sweep_blobs(backend, now=now, grace=grace, report=report)
    if not dry_run:
        audit_log(action=SWEEP, object_type="storage", object_id=repr(backend)[:255],
                  detail=report.counts())
        state = Path(settings.DATA_DIR) / SWEEP_STATE
        state.write_text(json.dumps({"at": report.at, **report.counts()}))
        if report.found:
            logger.info("orphan sweep removed %s", report.counts())
    return report


def storage_sweep_last() -> dict[str, Any] | None:
    """When this machine last swept and what it removed, or None."""
    try:
        last: dict[str, Any] = json.loads((Path(settings.DATA_DIR) / SWEEP_STATE).read_text())
        return last
    except (FileNotFoundError, ValueError):
        return None


def storage_sweep_due() -> bool:
    try:
        mtime = (Path(settings.DATA_DIR) / SWEEP_STATE).stat().st_mtime
    except FileNotFoundError:
        return True
    return time.time() - mtime >= SWEEP_EVERY.total_seconds()


def _temp_folders(backend: BlobBackend) -> list[Path]:
    # The S3 spool and Django's upload temp folder live under DATA_DIR/tmp (settings.py).
    folders = [Path(settings.DATA_DIR) / "tmp"]
    if settings.FILE_UPLOAD_TEMP_DIR:
        folders.append(Path(settings.FILE_UPLOAD_TEMP_DIR))
    if isinstance(backend, LocalBlobBackend):
        folders.append(backend.tmp_dir)
    unique: list[Path] = []
    for folder in folders:
        if not any(folder.resolve().is_relative_to(u.resolve()) for u in unique):
            unique.append(folder)
    return unique


def _age_hours(st: os.stat_result, now: float) -> float:
    # mtime: when the bytes were written (just before the link gave them their name), or when
    # an upload last reused them (the store touches a blob it dedups against).
    return (now - st.st_mtime) / 3600


def _sweep_temp(folder: Path, *, now: float, grace: float, report: SweepReport) -> None:
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(dirpath) / name
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue  # finished and removed by its writer meanwhile
            if not stat.S_ISREG(st.st_mode):
                continue
            age = _age_hours(st, now)  # a temp file being written keeps moving its mtime
            if age < grace:
                report.young += 1
                report.young_bytes += st.st_size
                continue
            if not report.dry_run:
                path.unlink(missing_ok=True)
            report.found.append(SweepFinding("temp", str(path), st.st_size, round(age, 1)))


def _sweep_blobs(backend: LocalBlobBackend, *, now: float, grace: float,
                 report: SweepReport) -> None:
    old: list[tuple[str, Path, int, float]] = []
    for folder in backend.stored_folders():
        for start in range(0, len(folder), _SWEEP_BATCH):
            batch = folder[start:start + _SWEEP_BATCH]
            known = _rows_of([sha for sha, _ in batch])
            report.referenced += len(known)
            for sha, path in batch:
                if sha in known:
                    continue
                try:
                    st = path.lstat()
                except FileNotFoundError:
                    continue
                age = _age_hours(st, now)
                if age < grace:
                    report.young += 1
                    report.young_bytes += st.st_size
                elif len(old) < _SWEEP_MAX_FINDINGS:
                    old.append((sha, path, st.st_size, age))
    # A store swept against the wrong (empty, restored, test) database would lose everything:
    # when most of what it holds looks unreferenced, nothing is removed and the alarm is raised.
    if len(old) > max(100, report.referenced):
        report.skipped = (f"{len(old)} unreferenced blobs against {report.referenced} "
                          "referenced: is this the database of this store? nothing removed")
        logger.error("orphan sweep of %r: %s", backend, report.skipped)
        return
    for start in range(0, len(old), _SWEEP_BATCH):
        listed = old[start:start + _SWEEP_BATCH]
        # Looked up again just before removal: a filing may have adopted the bytes meanwhile.
        known = _rows_of([sha for sha, *_ in listed])
        for sha, path, size, age in listed:
            if sha in known:
                continue
            if not report.dry_run:
                try:
                    if _age_hours(path.lstat(), time.time()) < grace:
                        continue  # reused by an upload since it was listed
                    path.unlink()
                except FileNotFoundError:
                    continue
            report.found.append(SweepFinding("orphan", str(path), size, round(age, 1)))


def _rows_of(sha256s: list[str]) -> set[str]:
    return set(Blob.objects.filter(pk__in=sha256s).values_list("pk", flat=True))
