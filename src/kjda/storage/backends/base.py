"""The interface every blob store implements; there is no delete: the store is write-once
(only the orphan sweep removes bytes, and only those no Blob row refers to)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, BinaryIO

from ..digests import DigestHasher, Digests, digest_stream, read_chunks
from ..errors import StorageError, file_empty, file_too_large

# Restoring is I/O-bound (disk writes, fsync, S3 round trips) and hashlib and file I/O release
# the GIL: a few threads keep the disk or the connection busy.
RESTORE_THREADS = 4


@dataclass(frozen=True, slots=True)
class PutResult:
    digests: Digests
    created: bool  # False when identical content was already stored
    # The content was stored already but its stored bytes no longer matched their name; they
    # were replaced with the good bytes of this put.
    repaired: bool = False


class BlobBackend(ABC):
    @abstractmethod
    def put(self, source: IO[bytes], *, max_bytes: int) -> PutResult:
        """Store the stream's bytes from its current position; refuse more than max_bytes."""

    @abstractmethod
    def open(self, sha256: str) -> BinaryIO:
        """A streaming reader; raises StorageError('blob_missing')."""

    @abstractmethod
    def exists(self, sha256: str) -> bool: ...

    def close(self) -> None:  # noqa: B027 - optional: most backends hold nothing open
        """Release what the backend holds open (an S3 client's connections)."""

    def destroy(self, sha256: str) -> int:
        """Remove every stored copy of the blob (on S3 every object version): the one deletion
        the store allows, for a destruction (79号令 Art.18) whose blob no kept record refers to.
        Idempotent: an absent blob removes nothing. The number of objects removed."""
        raise NotImplementedError(f"{type(self).__name__} cannot destroy blobs")

    def retention_extend(self, sha256: str, *, until: datetime) -> bool:
        """Make the store keep the blob at least until `until` (S3 Object Lock retention), so a
        destruction after the record's term never fights the lock. Only ever extends; a store
        without locks does nothing. True when a retention was set."""
        return False

    def probe(self) -> None:
        """A cheap check that the store answers and takes writes (monitoring): raises
        StorageError or OSError with the reason when it does not."""
        raise NotImplementedError(f"{type(self).__name__} cannot be probed")

    def verify(self, sha256: str, *, expected: Digests | None = None) -> bool:
        """Re-hash the stored object and compare with its name (and `expected` when given)."""
        with self.open(sha256) as fh:
            actual = digest_stream(fh)
        if expected is not None and actual != expected:
            return False
        return actual.sha256 == sha256

    def restore_files(self, files: Iterable[tuple[Path, Digests]], *,
                      threads: int = RESTORE_THREADS) -> list[str]:
        """Put files from a backup back, each checked against its expected digests in the one
        pass that reads it (SHA-256, SM3, size): the sha256 of those that do not match, which
        are not stored under their name. This default puts each through `put` (which hashes
        once and has the store check the upload) on a small thread pool."""

        def one(item: tuple[Path, Digests]) -> str | None:
            path, expected = item
            try:
                with path.open("rb") as fh:
                    got = self.put(fh, max_bytes=expected.size).digests
            except StorageError as exc:
                if exc.code in {"file_too_large", "file_empty"}:
                    return expected.sha256
                raise
            # Different bytes went in under their own name, which no row refers to: the
            # orphan sweep removes them.
            return None if got == expected else expected.sha256

        with ThreadPoolExecutor(max_workers=threads) as pool:
            return [sha for sha in pool.map(one, files) if sha]


def spool(
    source: IO[bytes],
    dest: IO[bytes],
    *,
    max_bytes: int,
    on_chunk: Callable[[bytes], None] | None = None,
) -> Digests:
    """Copy source to dest chunk by chunk while hashing; never hold more than one chunk."""
    declared = getattr(source, "size", None)  # Django's UploadedFile knows its size up front
    if isinstance(declared, int) and declared > max_bytes:
        raise file_too_large(max_bytes)
    hasher = DigestHasher()
    for chunk in read_chunks(source):
        if hasher.size + len(chunk) > max_bytes:
            raise file_too_large(max_bytes)
        hasher.update(chunk)
        dest.write(chunk)
        if on_chunk is not None:
            on_chunk(chunk)
    if hasher.size == 0:
        raise file_empty()
    return hasher.digests()


class CheckpointStore(ABC):
    """Small write-once named objects beside the blobs (e.g. the audit log's signed
    checkpoints), under their own folder/prefix `checkpoints/`, never taken for blobs."""

    @abstractmethod
    def put(self, name: str, data: bytes) -> bool:
        """Store `data` under `name` unless that name exists: True if stored, False if not."""

    @abstractmethod
    def get(self, name: str) -> bytes:
        """The object's bytes; StorageError('blob_missing') when absent."""

    @abstractmethod
    def names(self, prefix: str = "") -> list[str]:
        """The names stored, those starting with `prefix`, sorted."""


def checkpoint_name_check(name: str) -> str:
    """A plain file name: letters, digits, `.`, `_`, `-`; no path, no leading dot."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}", name):
        raise ValueError(f"bad checkpoint name {name!r}")
    return name
