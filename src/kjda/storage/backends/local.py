"""Content-addressed, write-once blobs in a local folder: <root>/ab/<sha256>, mode 0o444.

Write-once with two exceptions, both about bytes no record can rely on: a stored copy found
damaged when the same content arrives again is replaced by the verified new bytes (same name,
atomic rename), and a file that never got its Blob row is removed by the orphan sweep
(kjda.storage.services.storage_sweep) after its grace period.

The store's layout is written in <root>/.layout when the store is first opened. New stores fan
out over one level of 256 folders (as git's objects and restic's data do): a second level
(<root>/ab/cd/<sha256>, 65,536 folders) made most of a young archive's first ~100,000 blobs also
create a folder and fsync its parent, 0.8-0.9 ms more CPU per ingested record
(bench/profile_ingest.py), and 256 folders hold tens of millions of files on ext4 or XFS
(hashed directory indexes). A store created before the marker existed keeps two levels.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, BinaryIO

from ..digests import DigestHasher, Digests, read_chunks, require_sha256
from ..errors import blob_corrupt, blob_missing
from .base import (
    RESTORE_THREADS,
    BlobBackend,
    CheckpointStore,
    PutResult,
    checkpoint_name_check,
    spool,
)

_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}
LAYOUT_FILE = ".layout"
_LAYOUTS = {"fanout=1": 1, "fanout=2": 2}
_HEX = frozenset("0123456789abcdef")


class LocalBlobBackend(BlobBackend):
    def __init__(self, root: Path) -> None:
        self.root = root
        # Temp files live under the root so the final link/rename stays on one filesystem.
        self.tmp_dir = root / ".tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._known_dirs: set[Path] = set()
        self.fanout = self._layout()

    def __repr__(self) -> str:
        return f"LocalBlobBackend({str(self.root)!r})"

    def probe(self) -> None:
        folder_probe(self.root)

    def path_for(self, sha256: str) -> Path:
        require_sha256(sha256)
        if self.fanout == 1:
            return self.root / sha256[:2] / sha256
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def _layout(self) -> int:
        """The store's fan-out, from its marker; a store without one gets it written now."""
        marker = self.root / LAYOUT_FILE
        if not marker.exists():
            # Blobs already there without a marker: a store of the two-level layout.
            legacy = any(len(p.name) == 2 and set(p.name) <= _HEX and p.is_dir()
                         for p in self.root.iterdir())
            fd, tmp_name = tempfile.mkstemp(dir=self.tmp_dir, prefix="layout-")
            try:
                with os.fdopen(fd, "w") as fh:
                    fh.write(("fanout=2" if legacy else "fanout=1") + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                try:
                    os.link(tmp_name, marker)  # never replaces one another process wrote first
                except FileExistsError:
                    pass
                except OSError as exc:
                    if exc.errno not in _NO_HARD_LINKS:
                        raise
                    if not marker.exists():
                        os.replace(tmp_name, marker)
                _fsync_dir(self.root)
            finally:
                Path(tmp_name).unlink(missing_ok=True)
        text = marker.read_text().strip()
        if text not in _LAYOUTS:
            raise ValueError(f"{marker}: unknown blob store layout {text!r}")
        return _LAYOUTS[text]

    def put(self, source: IO[bytes], *, max_bytes: int) -> PutResult:
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp_dir, prefix="put-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as fh:
                digests = spool(source, fh, max_bytes=max_bytes)
                target = self.path_for(digests.sha256)
                # A dedup hit (rare) re-reads the stored copy: bytes changed on disk must not
                # be reused for a new record. An intact one needs no fsync of the temp copy.
                stored = self._stored_state(target, digests)
                if stored != "intact":
                    fh.flush()
                    os.fsync(fh.fileno())
                    # Read-only before it gets its name: no one ever sees a writable blob.
                    os.fchmod(fh.fileno(), 0o444)
                    _drop_page_cache(fh.fileno())
            if stored == "damaged":
                os.replace(tmp, target)  # the good bytes take the name over, atomically
                _fsync_dir(target.parent)
                self._check_placed(target, digests, created=False, full=True)
                return PutResult(digests, created=False, repaired=True)
            created = stored == "absent" and self._place(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        self._check_placed(target, digests, created=created)
        return PutResult(digests, created)

    def open(self, sha256: str) -> BinaryIO:
        try:
            return open(self.path_for(sha256), "rb")  # noqa: SIM115 (the caller closes it)
        except FileNotFoundError:
            raise blob_missing(sha256) from None

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def destroy(self, sha256: str) -> int:
        path = self.path_for(sha256)
        try:
            path.unlink()  # read-only files are unlinked through their folder's permissions
        except FileNotFoundError:
            return 0
        _fsync_dir(path.parent)
        return 1

    def restore_files(self, files: Iterable[tuple[Path, Digests]], *,
                      threads: int = RESTORE_THREADS) -> list[str]:
        """The restore path of `put`: each file is copied into the store and hashed (SHA-256 +
        SM3 + size) in one pass against the digests it must have, fsynced and linked under its
        name only if they match. Unlike `put` it does not re-read what it wrote (the bytes
        written are those hashed) and fsyncs each fan-out folder once at the end, not per
        file; a few threads overlap the fsyncs."""
        folders: set[Path] = set()
        lock = threading.Lock()

        def one(item: tuple[Path, Digests]) -> str | None:
            source, expected = item
            target = self.path_for(expected.sha256)
            fd, tmp_name = tempfile.mkstemp(dir=self.tmp_dir, prefix="restore-")
            tmp = Path(tmp_name)
            try:
                with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                    hasher = DigestHasher()
                    for chunk in read_chunks(src):
                        hasher.update(chunk)
                        out.write(chunk)
                    if hasher.digests() != expected:
                        return expected.sha256
                    out.flush()
                    os.fsync(out.fileno())
                    os.fchmod(out.fileno(), 0o444)
                state = self._stored_state(target, expected)
                if state == "damaged":
                    os.replace(tmp, target)
                elif state == "absent":
                    self._place(tmp, target, sync_dir=False)
                with lock:
                    folders.add(target.parent)
                return None
            finally:
                tmp.unlink(missing_ok=True)

        with ThreadPoolExecutor(max_workers=threads) as pool:
            bad = [sha for sha in pool.map(one, files) if sha]
        for folder in sorted(folders):  # the new names are durable from here
            _fsync_dir(folder)
        return bad

    def stored_folders(self) -> Iterator[list[tuple[str, Path]]]:
        """What the store holds, one fan-out folder at a time: (sha256, path) of each blob.
        Only files named like a blob in the fan-out folders: the marker, the temp folder and
        anything else kept beside the blobs are never listed."""
        for first in _subdirs(self.root):
            for folder in (_subdirs(first) if self.fanout == 2 else [first]):
                with os.scandir(folder) as entries:
                    found = [(e.name, Path(e.path)) for e in entries
                             if len(e.name) == 64 and set(e.name) <= _HEX
                             and e.is_file(follow_symlinks=False)]
                if found:
                    yield found

    def _place(self, tmp: Path, target: Path, *, sync_dir: bool = True) -> bool:
        """Give the temp file its final name unless that name exists; never overwrite.
        sync_dir=False leaves fsyncing the folder to the caller (a batch does it once)."""
        self._ensure_dir(target.parent)
        try:
            try:
                os.link(tmp, target)  # atomic and fails if the target exists, unlike rename
            except FileNotFoundError:  # a remembered folder was removed under us
                self._known_dirs.discard(target.parent)
                self._ensure_dir(target.parent)
                os.link(tmp, target)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            if target.exists():
                return False
            os.replace(tmp, target)  # filesystems without hard links; a race rewrites same bytes
        if sync_dir:
            _fsync_dir(target.parent)
        return True

    def _stored_state(self, target: Path, digests: Digests) -> str:
        """'absent', 'intact' or 'damaged': the stored copy re-hashed (SHA-256 names it)."""
        try:
            with open(target, "rb") as fh:
                if os.fstat(fh.fileno()).st_size != digests.size:
                    return "damaged"
                sha = hashlib.sha256()
                for chunk in read_chunks(fh):
                    sha.update(chunk)
        except FileNotFoundError:
            return "absent"
        if sha.hexdigest() != digests.sha256:
            return "damaged"
        # Reused now: the orphan sweep's grace period (kjda.storage.sweep) counts from here.
        with contextlib.suppress(OSError):
            os.utime(target)
        return "intact"

    def _check_placed(self, target: Path, digests: Digests, *, created: bool,
                      full: bool = False) -> None:
        if not created and not full:
            # Identical content stored before, re-hashed by _stored_state; here check size.
            if target.stat().st_size != digests.size:
                raise blob_corrupt(digests.sha256, "stored size differs")
            return
        with open(target, "rb") as fh:
            sha = hashlib.sha256()
            for chunk in read_chunks(fh):
                sha.update(chunk)
        if sha.hexdigest() != digests.sha256:
            if created:
                target.unlink(missing_ok=True)  # ours and just written: do not leave a bad copy
            raise blob_corrupt(digests.sha256, "re-read after write differs")

    def _ensure_dir(self, path: Path) -> None:
        if path in self._known_dirs:  # fan-out folders: remember, don't mkdir each time
            return
        for level in ((path,) if self.fanout == 1 else (path.parent, path)):
            try:
                level.mkdir()
            except FileExistsError:
                continue
            _fsync_dir(level.parent)  # make the new directory entry durable
        if len(self._known_dirs) < 70_000:
            self._known_dirs.add(path)


def folder_probe(root: Path) -> None:
    """The folder store is there and takes a write (a tiny temp file, removed at once); raises
    OSError otherwise. Never creates the folder: a store that vanished must be reported, not
    silently started afresh (which the backend's constructor would do)."""
    if not root.is_dir():
        raise FileNotFoundError(errno.ENOENT, "store folder missing", str(root))
    fd, name = tempfile.mkstemp(dir=root / ".tmp", prefix="probe-")
    try:
        os.write(fd, b"probe")
        os.fsync(fd)
    finally:
        os.close(fd)
        Path(name).unlink(missing_ok=True)


def _subdirs(path: Path) -> list[Path]:
    with os.scandir(path) as entries:
        return sorted(Path(e.path) for e in entries
                      if len(e.name) == 2 and set(e.name) <= _HEX and e.is_dir(follow_symlinks=False))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _drop_page_cache(fd: int) -> None:
    # After fsync the pages are clean; dropping them makes the verify re-read hit the disk.
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


class LocalCheckpointStore(CheckpointStore):
    """Write-once named objects in <root>/checkpoints/<name>, mode 0o444, placed with link(2)
    so an existing name is never replaced. Outside the blobs' two-hex-digit fan-out folders."""

    FOLDER = "checkpoints"

    def __init__(self, backend: LocalBlobBackend) -> None:
        self.dir = backend.root / self.FOLDER
        self.tmp_dir = backend.tmp_dir

    def put(self, name: str, data: bytes) -> bool:
        target = self.dir / checkpoint_name_check(name)
        if not self.dir.is_dir():
            self.dir.mkdir(exist_ok=True)
            _fsync_dir(self.dir.parent)
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp_dir, prefix="checkpoint-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
                os.fchmod(fh.fileno(), 0o444)
            try:
                os.link(tmp_name, target)
            except FileExistsError:
                return False
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise
                # No hard links: O_EXCL still refuses an existing name.
                try:
                    out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
                except FileExistsError:
                    return False
                with os.fdopen(out, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
            _fsync_dir(self.dir)
            return True
        finally:
            Path(tmp_name).unlink(missing_ok=True)

    def get(self, name: str) -> bytes:
        try:
            return (self.dir / checkpoint_name_check(name)).read_bytes()
        except FileNotFoundError:
            raise blob_missing(name) from None

    def names(self, prefix: str = "") -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(e.name for e in os.scandir(self.dir)
                      if e.name.startswith(prefix) and e.is_file())
