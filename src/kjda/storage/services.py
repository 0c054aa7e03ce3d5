"""The storage app's public API: other apps call only these functions.

Blobs are write-once and content-addressed: storing identical bytes twice keeps one copy.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_tasks import task

from kjda.audit.models import AuditEvent
from kjda.audit.services import audit_log

from . import errors
from .backends import BlobBackend, backend_from_url
from .backends.base import CheckpointStore
from .backends.local import LocalBlobBackend, LocalCheckpointStore, folder_probe
from .digests import OPENSSL_SM3, Digests, new_sm3, read_chunks, require_sha256
from .errors import StorageError

if TYPE_CHECKING:
    from django.contrib.auth.models import User
from .models import Blob, BlobFixity, FixityOutcome, FixityRun, ReplicaPending
from .throttle import Throttle

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
    "replica_backfill",
    "replica_copy",
    "replica_copy_due",
    "replica_lag",
    "storage_restore_from_replica",
    "store_probe",
    "fixity_audit",
    "fixity_last_run",
    "get_backend",
    "get_replica",
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


class _BackendCache:
    """The backends by (url, data dir), at most `size` (like lru_cache), but one that closes
    what it lets go: an S3 backend holds a connection pool, and a backend dropped without
    closing it leaves its sockets to the garbage collector (ResourceWarning: unclosed socket)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], BlobBackend] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, url: str, data_dir: str) -> BlobBackend:
        with self._lock:
            backend = self._items.get((url, data_dir))
            if backend is not None:
                self._items.move_to_end((url, data_dir))
                return backend
            backend = backend_from_url(url, spool_dir=Path(data_dir) / "tmp")
            self._items[(url, data_dir)] = backend
            while len(self._items) > self.size:
                self._items.popitem(last=False)[1].close()
            return backend

    def cache_clear(self) -> None:
        with self._lock:
            backends, self._items = list(self._items.values()), OrderedDict()
        for backend in backends:
            backend.close()


_backend_for = _BackendCache(size=8)


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
    fresh = [d.sha256 for d, c in zip(stored, created, strict=True) if c]
    if fresh and settings.KJDA_REPLICA_URL:  # not get_replica(): no I/O here
        _replica_queue(fresh)
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
        ReplicaPending.objects.filter(pk=sha256).delete()
    removed = get_backend().destroy(sha256)
    replica = get_replica()  # a destruction removes the second copy too
    return removed + (replica.destroy(sha256) if replica is not None else 0)


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


# The fixity audit (issue 19 item 1; DA/T 70 长期保存 stage). Every blob is re-hashed (SHA-256
# and SM3) oldest-checked first, at most KJDA_FIXITY_BYTES_PER_SECOND, each at least once per
# KJDA_FIXITY_CYCLE_DAYS; both copies when a replica is configured. A damaged or missing copy is
# repaired from the other one when that one still has the recorded digests.

FIXITY_RUN = "storage.fixity_run"
FIXITY_FAILED = "storage.fixity_failed"
STORAGE_REPAIRED = "storage.repaired"
_FINDINGS_KEPT = 1000
_FIXITY_BATCH = 500  # whole blobs' results written per transaction
FixityCallback = Any  # Callable[[dict[str, Any]], None], called inside the blob's transaction


def get_replica() -> BlobBackend | None:
    """The replica store of KJDA_REPLICA_URL, or None when none is configured."""
    url = settings.KJDA_REPLICA_URL
    return _backend_for(url, str(settings.DATA_DIR)) if url else None


def _hash_copy(backend: BlobBackend, sha256: str, throttle: Throttle) -> Digests | None:
    """The digests of the stored bytes (None when absent), read at the throttle's pace."""
    from .digests import DigestHasher

    try:
        fh = backend.open(sha256)
    except StorageError as exc:
        if exc.code == "blob_missing":
            return None
        raise
    hasher = DigestHasher()
    with fh:
        for chunk in read_chunks(fh):
            hasher.update(chunk)
            throttle.consumed(len(chunk))
    return hasher.digests()


def _outcome(found: Digests | None, expected: Digests) -> str:
    if found is None:
        return FixityOutcome.MISSING
    return FixityOutcome.OK if found == expected else FixityOutcome.MISMATCH


def _copy_over(source: BlobBackend, dest: BlobBackend, expected: Digests) -> bool:
    """Write the source's bytes (known good) into dest and re-verify dest: True if it now holds
    the recorded digests. The store's put replaces a damaged copy atomically."""
    with source.open(expected.sha256) as fh:
        dest.put(fh, max_bytes=expected.size)
    return _hash_copy(dest, expected.sha256, Throttle(0)) == expected


def _fixity_selection(mode: str, sample: int | None, now: datetime) -> list[tuple[str, str, int]]:
    from django.db.models import F

    live = Blob.objects.filter(destroyed_at__isnull=True)
    fields = ("sha256", "sm3", "size")
    if mode == "sample":
        return list(live.order_by("?").values_list(*fields)[: max(0, sample or 0)])
    ordered = live.order_by(F("fixity__verified_at").asc(nulls_first=True), "created_at")
    if mode == "all":
        return list(ordered.values_list(*fields))
    # "due": at least the share of one day of the cycle, and every blob not checked within it.
    cycle = max(float(settings.KJDA_FIXITY_CYCLE_DAYS), 1.0)
    total = live.count()
    overdue = live.filter(_q_overdue(now - timedelta(days=cycle))).count()
    quota = max(-(-total // int(cycle)) if total else 0, overdue)
    return list(ordered.values_list(*fields)[:quota])


def _q_overdue(before: datetime) -> Any:
    from django.db.models import Q

    return Q(fixity__isnull=True) | Q(fixity__verified_at__lt=before)


def _orphans(backend: BlobBackend) -> list[str]:
    """Blob files without a row, older than the orphan grace period (younger ones may still be
    being filed). Local stores only: S3 buckets are not listed."""
    if not isinstance(backend, LocalBlobBackend):
        return []
    grace = float(settings.KJDA_ORPHAN_GRACE_HOURS)
    now = time.time()
    found: list[str] = []
    for folder in backend.stored_folders():
        for start in range(0, len(folder), _SWEEP_BATCH):
            batch = folder[start:start + _SWEEP_BATCH]
            known = _rows_of([sha for sha, _ in batch])
            for sha, path in batch:
                if sha in known:
                    continue
                try:
                    if _age_hours(path.lstat(), now) >= grace:
                        found.append(sha)
                except FileNotFoundError:
                    continue
    return found


def fixity_audit(*, mode: str = "due", sample: int | None = None,
                 bytes_per_second: float | None = None,
                 on_failure: FixityCallback | None = None,
                 sleep: Any = time.sleep) -> FixityRun:
    """Run the fixity audit now: mode "due" (the scheduled share: oldest-checked first, every
    blob at least once per cycle), "all", or "sample" (`sample` blobs at random). Each blob's
    result is written (BlobFixity) in its own transaction with its audit events
    (storage.fixity_failed, storage.repaired) and `on_failure(finding)` for each damaged copy;
    the run's report (FixityRun) is audited as storage.fixity_run."""
    if mode not in ("due", "all", "sample"):
        raise ValueError(f"unknown fixity mode {mode!r}")
    now = timezone.now()
    rate = (settings.KJDA_FIXITY_BYTES_PER_SECOND if bytes_per_second is None
            else bytes_per_second)
    backend = get_backend()
    replica = get_replica()
    run = FixityRun.objects.create(started_at=now, mode=mode)
    throttle = Throttle(float(rate), sleep=sleep)
    whole: list[BlobFixity] = []
    flushed = time.monotonic()
    for sha256, sm3, size in _fixity_selection(mode, sample, now):
        result = _fixity_one(Digests(sha256, sm3, size), backend=backend, replica=replica,
                             throttle=throttle, run=run, on_failure=on_failure)
        if result is not None:
            whole.append(result)
        if len(whole) >= _FIXITY_BATCH or time.monotonic() - flushed > 10:
            _fixity_save(whole)
            flushed = time.monotonic()
    _fixity_save(whole)
    orphans = _orphans(backend)
    run.orphans = len(orphans)
    for sha in orphans[: max(0, _FINDINGS_KEPT - len(run.findings))]:
        run.findings.append({"sha256": sha, "copy": "primary", "outcome": "orphan"})
    run.finished_at = timezone.now()
    with transaction.atomic():
        run.save()
        audit_log(action=FIXITY_RUN, object_type="storage", object_id=str(run.pk),
                  detail={**fixity_counts(run), "store": repr(backend)[:200],
                          "replica": repr(replica)[:200] if replica else ""})
    if run.failed:
        logger.error("fixity audit %s found damage: %s", run.pk, fixity_counts(run))
    return run


def fixity_counts(run: FixityRun) -> dict[str, Any]:
    return {"mode": run.mode, "blobs_checked": run.blobs_checked,
            "bytes_checked": run.bytes_checked, "mismatches": run.mismatches,
            "missing": run.missing, "orphans": run.orphans, "repaired": run.repaired,
            "replica_mismatches": run.replica_mismatches,
            "replica_missing": run.replica_missing}


def _fixity_one(expected: Digests, *, backend: BlobBackend, replica: BlobBackend | None,
                throttle: Throttle, run: FixityRun,
                on_failure: FixityCallback | None) -> BlobFixity | None:
    """Check one blob: a damaged one is written and alarmed at once, in its own transaction;
    a whole one is returned for the caller to write in a batch."""
    sha256 = expected.sha256
    found = _hash_copy(backend, sha256, throttle)
    outcome = _outcome(found, expected)
    replica_outcome = ""
    rfound: Digests | None = None
    if replica is not None:
        rfound = _hash_copy(replica, sha256, throttle)
        replica_outcome = _outcome(rfound, expected)
    run.blobs_checked += 1
    run.bytes_checked += expected.size
    repaired_primary = repaired_replica = False
    try:
        if outcome != FixityOutcome.OK and replica is not None and replica_outcome == "ok":
            repaired_primary = _copy_over(replica, backend, expected)
        elif (replica is not None and outcome == FixityOutcome.OK
              and replica_outcome != FixityOutcome.OK):
            repaired_replica = _copy_over(backend, replica, expected)
    except (StorageError, OSError) as exc:  # a failed repair leaves the damage reported
        logger.error("repair of blob %s failed: %s", sha256, exc)
    findings = []

    def finding(copy: str, what: str, got: Digests | None, repaired: bool) -> dict[str, Any]:
        item: dict[str, Any] = {"sha256": sha256, "copy": copy, "outcome": what,
                                "repaired": repaired}
        if got is not None:
            item["found"] = {"sha256": got.sha256, "sm3": got.sm3, "size": got.size}
        return item

    if outcome != FixityOutcome.OK:
        findings.append(finding("primary", outcome, found, repaired_primary))
        if outcome == FixityOutcome.MISSING:
            run.missing += 1
        else:
            run.mismatches += 1
        run.repaired += repaired_primary
    if replica_outcome and replica_outcome != FixityOutcome.OK:
        findings.append(finding("replica", replica_outcome, rfound, repaired_replica))
        if not repaired_replica:
            if replica_outcome == FixityOutcome.MISSING:
                run.replica_missing += 1
            else:
                run.replica_mismatches += 1
    final = FixityOutcome.REPAIRED if repaired_primary else outcome
    final_replica = FixityOutcome.REPAIRED if repaired_replica else replica_outcome
    if not findings:  # whole: written with others in one transaction (a commit per blob is
        return BlobFixity(blob_id=sha256, verified_at=timezone.now(),  # a fsync per blob)
                          outcome=final, replica_outcome=final_replica, detail={})
    with transaction.atomic():
        BlobFixity.objects.update_or_create(
            blob_id=sha256, defaults={"verified_at": timezone.now(), "outcome": final,
                                      "replica_outcome": final_replica,
                                      "detail": {"findings": findings} if findings else {}})
        for item in findings:
            audit_log(action=FIXITY_FAILED, object_type="blob", object_id=sha256,
                      detail={**item, "run": run.pk, "size": expected.size})
            if item["repaired"]:
                audit_log(action=STORAGE_REPAIRED, object_type="blob", object_id=sha256,
                          detail={"sha256": sha256, "sm3": expected.sm3, "size": expected.size,
                                  "copy": item["copy"], "run": run.pk,
                                  "from": "primary" if item["copy"] == "replica" else "replica"})
            if on_failure is not None:  # the alarm: damage found, repaired or not
                on_failure(item)
    if len(run.findings) < _FINDINGS_KEPT:
        run.findings.extend(findings[: _FINDINGS_KEPT - len(run.findings)])
    return None


def _fixity_save(results: list[BlobFixity]) -> None:
    if results:
        BlobFixity.objects.bulk_create(
            results, update_conflicts=True, unique_fields=["blob"],
            update_fields=["verified_at", "outcome", "replica_outcome", "detail"])
        results.clear()


def fixity_last_run() -> FixityRun | None:
    return FixityRun.objects.filter(finished_at__isnull=False).first()


# Replicas (issue 19 item 2): every new blob is copied to KJDA_REPLICA_URL after commit. The
# ReplicaPending row is written with the Blob row (durable); the task copies and deletes it;
# a failure leaves it for the periodic loop (replica_copy_due) with a growing delay. Copying is
# idempotent: the store's put keeps one copy and re-verifies one already there.

REPLICA_BACKFILL = "storage.replica_backfill"
REPLICA_STATE = "replica.json"  # which replica URL was backfilled
_REPLICA_RETRY_MAX = timedelta(hours=6)


def _replica_queue(sha256s: list[str]) -> None:
    now = timezone.now()
    ReplicaPending.objects.bulk_create(
        [ReplicaPending(blob_id=s, queued_at=now, next_try_at=now) for s in sha256s],
        ignore_conflicts=True)
    for sha in sha256s:
        transaction.on_commit(functools.partial(_replica_enqueue, sha))


def _replica_enqueue(sha256: str) -> None:
    try:
        _replica_copy_task.enqueue(sha256)
    except Exception:  # the periodic loop copies what was not enqueued
        logger.warning("replica copy of %s not enqueued", sha256, exc_info=True)


@task()
def _replica_copy_task(sha256: str) -> bool:
    return replica_copy(sha256=sha256)


def replica_copy(*, sha256: str) -> bool:
    """Copy one queued blob to the replica and verify it there; True when done (or nothing was
    queued). A failure is counted on the outbox row and retried later, never raised."""
    require_sha256(sha256)
    pending = ReplicaPending.objects.filter(pk=sha256).first()
    if not settings.KJDA_REPLICA_URL or pending is None:
        return pending is None
    row = Blob.objects.filter(pk=sha256).values_list("sm3", "size", "destroyed_at").first()
    if row is None or row[2] is not None:  # destroyed meanwhile: nothing to keep
        ReplicaPending.objects.filter(pk=sha256).delete()
        return True
    expected = Digests(sha256, row[0], row[1])
    try:
        replica = get_replica()
        assert replica is not None
        ok = _copy_over(get_backend(), replica, expected)
        error = "" if ok else "the copy in the replica does not have the recorded digests"
    except (StorageError, OSError) as exc:
        ok, error = False, str(exc)[:500]
    except Exception as exc:  # S3 client errors and the like: retried like the rest
        ok, error = False, f"{type(exc).__name__}: {exc}"[:500]
    if ok:
        ReplicaPending.objects.filter(pk=sha256).delete()
        return True
    attempts = pending.attempts + 1
    delay = min(timedelta(seconds=30 * 2 ** min(attempts, 12)), _REPLICA_RETRY_MAX)
    ReplicaPending.objects.filter(pk=sha256).update(
        attempts=attempts, last_error=error, next_try_at=timezone.now() + delay)
    logger.warning("replica copy of %s failed (attempt %s): %s", sha256, attempts, error)
    return False


def replica_copy_due(*, limit: int = 200) -> int:
    """The periodic loop's part: backfill a newly configured replica, then copy the queued
    blobs whose retry is due. The number copied."""
    if not settings.KJDA_REPLICA_URL:
        return 0
    replica_backfill()
    due = ReplicaPending.objects.filter(next_try_at__lte=timezone.now()).order_by(
        "queued_at").values_list("pk", flat=True)[:limit]
    return sum(replica_copy(sha256=sha) for sha in list(due))


def replica_backfill() -> int:
    """Queue every stored blob for a replica configured for the first time (or a new replica
    URL): the number queued. Audited as storage.replica_backfill; that event (object id from the
    URL's digest) is also the mark that this URL was done, so a new node with an empty data dir
    does not queue the whole store again (the data dir's file is the mark of older versions)."""
    url = settings.KJDA_REPLICA_URL
    if not url:
        return 0
    # Not the URL itself as object id: an s3:// URL may carry an endpoint and options.
    object_id = "replica:" + hashlib.sha256(url.encode()).hexdigest()[:16]
    if AuditEvent.objects.filter(action=REPLICA_BACKFILL, object_type="storage",
                                 object_id=object_id).exists():
        return 0
    try:
        if json.loads((Path(settings.DATA_DIR) / REPLICA_STATE).read_text()).get("url") == url:
            return 0
    except (FileNotFoundError, ValueError):
        pass
    now = timezone.now()
    queued = 0
    with transaction.atomic():
        live = Blob.objects.filter(destroyed_at__isnull=True).order_by("pk")
        last = ""
        while True:  # by key ranges: 100M blobs are never all in memory
            batch = list(live.filter(pk__gt=last).values_list("pk", flat=True)[:_SWEEP_BATCH])
            if not batch:
                break
            queued += _replica_queue_all(batch, now)
            last = batch[-1]
        audit_log(action=REPLICA_BACKFILL, object_type="storage", object_id=object_id,
                  detail={"queued": queued})
    return queued


def _replica_queue_all(shas: list[str], now: datetime) -> int:
    ReplicaPending.objects.bulk_create(
        [ReplicaPending(blob_id=s, queued_at=now, next_try_at=now) for s in shas],
        ignore_conflicts=True)
    return len(shas)


def replica_lag() -> dict[str, Any]:
    """How far the replica is behind: blobs not yet copied, the oldest one's age, failures."""
    pending = ReplicaPending.objects.all()
    oldest = pending.order_by("queued_at").values_list("queued_at", flat=True).first()
    return {
        "configured": bool(settings.KJDA_REPLICA_URL),
        "pending": pending.count(),
        "failing": pending.filter(attempts__gt=0).count(),
        "oldest_queued_at": oldest.isoformat(timespec="seconds") if oldest else None,
        "lag_seconds": int((timezone.now() - oldest).total_seconds()) if oldest else 0,
    }


@dataclass(frozen=True, slots=True)
class StoreProbe:
    """One store's health as monitoring sees it: reachable and writable, and for a folder its
    disk's free space."""

    url: str
    ok: bool
    error: str
    millis: float
    path: str | None = None  # a folder store's folder
    free_bytes: int | None = None
    total_bytes: int | None = None


def store_probe(*, url: str) -> StoreProbe:
    """Probe the store at `url` (STORAGE_URL or KJDA_REPLICA_URL): a folder must exist and take
    a small write; an S3 bucket must answer HEAD and a one-key listing. Never raises."""
    start = time.monotonic()
    path: Path | None = None
    error = ""
    try:
        if url.startswith("file:"):
            # Probed without opening the backend: its constructor would re-create a vanished
            # store folder.
            path = Path(url2pathname(unquote(urlsplit(url).path)))
            folder_probe(path)
        else:
            _backend_for(url, str(settings.DATA_DIR)).probe()
    except StorageError as exc:
        error = exc.message
        if exc.__cause__ is not None:
            error = f"{error}: {exc.__cause__}"[:500]
    except (OSError, ValueError, ImportError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    millis = (time.monotonic() - start) * 1000
    free = total = None
    if path is not None and path.is_dir():
        usage = shutil.disk_usage(path)
        free, total = usage.free, usage.total
    return StoreProbe(url, not error, error, round(millis, 1),
                      str(path) if path is not None else None, free, total)


STORAGE_RESTORED = "storage.restored"


@dataclass
class RestoreReport:
    checked: int = 0
    restored: int = 0
    intact: int = 0
    failed: list[str] | None = None  # blobs neither copy holds good bytes of


def storage_restore_from_replica() -> RestoreReport:
    """Rebuild a lost or damaged primary store (the folder deleted, a disk replaced) from the
    replica: every live blob the primary lacks or holds damaged is copied back, and every copy
    re-verified against its recorded SHA-256, SM3 and size. Audited as storage.restored."""
    replica = get_replica()
    if replica is None:
        raise StorageError("replica_not_configured",
                           "未配置副本 KJDA_REPLICA_URL / no replica configured (KJDA_REPLICA_URL)",
                           status=409)
    backend = get_backend()
    report = RestoreReport(failed=[])
    free = Throttle(0)
    rows = Blob.objects.filter(destroyed_at__isnull=True).order_by("created_at").values_list(
        "sha256", "sm3", "size")
    for sha256, sm3, size in rows.iterator(chunk_size=_SWEEP_BATCH):
        expected = Digests(sha256, sm3, size)
        report.checked += 1
        if _hash_copy(backend, sha256, free) == expected:
            report.intact += 1
            continue
        try:
            ok = (_hash_copy(replica, sha256, free) == expected
                  and _copy_over(replica, backend, expected))
        except (StorageError, OSError) as exc:
            logger.error("restore of blob %s failed: %s", sha256, exc)
            ok = False
        if ok:
            report.restored += 1
        else:
            report.failed.append(sha256)  # type: ignore[union-attr]
    audit_log(action=STORAGE_RESTORED, object_type="storage", object_id=repr(backend)[:255],
              detail={"checked": report.checked, "restored": report.restored,
                      "intact": report.intact, "failed": len(report.failed or []),
                      "failed_first": (report.failed or [])[:20]})
    return report
