"""Blobs in any S3-compatible store, keyed <prefix>/ab/cd/<sha256>, with Object Lock when the
bucket has it. The key is the SHA-256, so the input is spooled to a local temp file while hashing
and uploaded afterwards.

URL: s3://bucket/prefix?endpoint_url=http://127.0.0.1:9000&region=us-east-1
     optional: lock_days (else env KJDA_S3_LOCK_DAYS), lock_mode (GOVERNANCE | COMPLIANCE),
     part_mb (multipart part size, default 64), addressing_style (path | virtual | auto)
Credentials come from the standard AWS environment variables / config chain.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, BinaryIO, cast
from urllib.parse import parse_qs, urlsplit

from ..digests import Digests, read_chunks, require_sha256
from ..errors import blob_corrupt, blob_missing, storage_unavailable
from .base import BlobBackend, CheckpointStore, PutResult, checkpoint_name_check, spool

logger = logging.getLogger(__name__)
MiB = 1024 * 1024
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


@dataclass(frozen=True, slots=True)
class S3Options:
    bucket: str
    prefix: str
    endpoint_url: str | None
    region: str | None
    lock_days: int | None
    lock_mode: str
    part_size: int
    addressing_style: str

    @classmethod
    def from_url(cls, url: str) -> S3Options:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        lock_days = query.get("lock_days") or os.environ.get("KJDA_S3_LOCK_DAYS") or None
        endpoint = query.get("endpoint_url")
        lock_mode = query.get("lock_mode", "GOVERNANCE").upper()
        if not parts.netloc or lock_mode not in {"GOVERNANCE", "COMPLIANCE"}:
            raise ValueError(f"bad STORAGE_URL {url!r}")
        return cls(
            bucket=parts.netloc,
            prefix=parts.path.strip("/"),
            endpoint_url=endpoint,
            region=query.get("region"),
            lock_days=int(lock_days) if lock_days else None,
            lock_mode=lock_mode,
            part_size=max(5, int(query.get("part_mb", "64"))) * MiB,
            addressing_style=query.get("addressing_style", "path" if endpoint else "auto"),
        )


class _PartHasher:
    """SHA-256 of each multipart part, to predict S3's composite checksum ("<b64>-<parts>")."""

    def __init__(self, part_size: int) -> None:
        self.part_size = part_size
        self.done: list[bytes] = []
        self._current = hashlib.sha256()
        self._filled = 0

    def update(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            take = min(len(view), self.part_size - self._filled)
            self._current.update(view[:take])
            self._filled += take
            view = view[take:]
            if self._filled == self.part_size:
                self.done.append(self._current.digest())
                self._current, self._filled = hashlib.sha256(), 0

    def composite(self) -> str:
        digests = self.done + ([self._current.digest()] if self._filled else [])
        return f"{_b64(hashlib.sha256(b''.join(digests)).digest())}-{len(digests)}"


class S3BlobBackend(BlobBackend):
    def __init__(self, url: str, *, spool_dir: Path) -> None:
        import boto3
        from botocore.config import Config

        self.options = S3Options.from_url(url)
        self.spool_dir = spool_dir
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=self.options.endpoint_url,
            region_name=self.options.region,
            config=Config(
                retries={"mode": "standard", "max_attempts": 5},
                s3={"addressing_style": self.options.addressing_style},
            ),
        )
        self._lock_enabled: bool | None = None

    def __repr__(self) -> str:
        return f"S3BlobBackend({self.options.bucket!r}, prefix={self.options.prefix!r})"

    def close(self) -> None:
        self._client.close()

    def key_for(self, sha256: str) -> str:
        require_sha256(sha256)
        name = f"{sha256[:2]}/{sha256[2:4]}/{sha256}"
        return f"{self.options.prefix}/{name}" if self.options.prefix else name

    def put(self, source: IO[bytes], *, max_bytes: int) -> PutResult:
        # Parts must number at most 10,000, so big limits get bigger parts.
        part_size = max(self.options.part_size, math.ceil(max_bytes / 10_000 / MiB) * MiB)
        parts = _PartHasher(part_size)
        with tempfile.NamedTemporaryFile(dir=self.spool_dir, prefix="s3put-") as fh:
            digests = spool(source, fh, max_bytes=max_bytes, on_chunk=parts.update)
            fh.flush()
            key = self.key_for(digests.sha256)
            existing = self._head(key)
            repair = existing is not None and not self._intact(digests)
            if existing is not None and not repair:
                accepted = (_b64_hex(digests.sha256), parts.composite())
                self._check_head(existing, digests, accepted=accepted, strict=False)
                return PutResult(digests, created=False)
            single = digests.size < part_size
            # A damaged object is repaired by a new upload: with versioning (which Object Lock
            # implies) that is a new current version, the locked damaged one stays behind it.
            self._upload(fh.name, key, digests, part_size=part_size, single=single)
        stored = self._head(key)
        if stored is None:
            raise blob_corrupt(digests.sha256, "not found after upload")
        expected = _b64_hex(digests.sha256) if single else parts.composite()
        self._check_head(stored, digests, accepted=(expected,), strict=True)
        if repair and not self._intact(digests):
            raise blob_corrupt(digests.sha256, "still damaged after the repair upload")
        return PutResult(digests, created=not repair, repaired=repair)

    def open(self, sha256: str) -> BinaryIO:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self._client.get_object(Bucket=self.options.bucket, Key=self.key_for(sha256))
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                raise blob_missing(sha256) from None
            raise storage_unavailable() from exc
        except BotoCoreError as exc:
            raise storage_unavailable() from exc
        return cast(BinaryIO, response["Body"])  # botocore StreamingBody is an io.IOBase

    def _intact(self, digests: Digests) -> bool:
        """Re-read a stored object (only on a dedup hit, the rare case) and re-hash it."""
        body = self.open(digests.sha256)
        sha, size = hashlib.sha256(), 0
        try:
            for chunk in read_chunks(body):
                sha.update(chunk)
                size += len(chunk)
        finally:
            body.close()
        return size == digests.size and sha.hexdigest() == digests.sha256

    def exists(self, sha256: str) -> bool:
        return self._head(self.key_for(sha256)) is not None

    def destroy(self, sha256: str) -> int:
        """Every version and delete marker of the object: a versioned bucket keeps the bytes in
        older versions after a plain DELETE, so each version is deleted by its id."""
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.key_for(sha256)
        removed = 0
        try:
            pages = self._client.get_paginator("list_object_versions").paginate(
                Bucket=self.options.bucket, Prefix=key)
            for page in pages:
                for entry in page.get("Versions", []) + page.get("DeleteMarkers", []):
                    if entry["Key"] != key:
                        continue
                    self._client.delete_object(Bucket=self.options.bucket, Key=key,
                                               VersionId=entry["VersionId"])
                    removed += 1
        except (ClientError, BotoCoreError) as exc:
            raise storage_unavailable() from exc
        return removed

    def retention_extend(self, sha256: str, *, until: datetime) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        if until <= datetime.now(UTC) or not self.lock_enabled():
            return False  # a term already over needs no lock; S3 refuses a date in the past
        key = self.key_for(sha256)
        head = self._head(key)  # (HEAD carries the retention; GetObjectRetention errs without one)
        if head is None:
            raise blob_missing(sha256)
        held = head.get("ObjectLockRetainUntilDate")
        if held is not None and held >= until:
            return False  # never shortened (a COMPLIANCE lock can't be, GOVERNANCE mustn't)
        try:
            self._client.put_object_retention(
                Bucket=self.options.bucket, Key=key,
                Retention={"Mode": self.options.lock_mode, "RetainUntilDate": until})
        except (ClientError, BotoCoreError) as exc:
            raise storage_unavailable() from exc
        return True

    def lock_enabled(self) -> bool:
        if self._lock_enabled is None:
            self._lock_enabled = self._read_lock_enabled()
            if self.options.lock_days and not self._lock_enabled:
                logger.warning(
                    "lock_days set but bucket %s has no Object Lock", self.options.bucket
                )
        return self._lock_enabled

    def _upload(
        self, path: str, key: str, digests: Digests, *, part_size: int, single: bool
    ) -> None:
        from boto3.s3.transfer import TransferConfig
        from botocore.exceptions import BotoCoreError, ClientError

        extra: dict[str, Any] = {"ChecksumAlgorithm": "SHA256"}
        if single:
            # Our own digest as the full-object checksum: S3 refuses the PUT if bytes differ.
            extra["ChecksumSHA256"] = _b64_hex(digests.sha256)
        if self.options.lock_days and self.lock_enabled():
            extra["ObjectLockMode"] = self.options.lock_mode
            extra["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(
                days=self.options.lock_days
            )
        config = TransferConfig(multipart_threshold=part_size, multipart_chunksize=part_size)
        try:
            self._client.upload_file(path, self.options.bucket, key, ExtraArgs=extra, Config=config)
        except (ClientError, BotoCoreError) as exc:
            raise storage_unavailable() from exc

    def probe(self) -> None:
        """HEAD the bucket and list one key under the prefix: cheap, and fails on a wrong
        endpoint, bucket or credentials."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.head_bucket(Bucket=self.options.bucket)
            self._client.list_objects_v2(Bucket=self.options.bucket, MaxKeys=1,
                                         Prefix=self.options.prefix)
        except (ClientError, BotoCoreError) as exc:
            raise storage_unavailable() from exc

    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return cast(
                dict[str, Any],
                self._client.head_object(
                    Bucket=self.options.bucket, Key=key, ChecksumMode="ENABLED"
                ),
            )
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                return None
            raise storage_unavailable() from exc
        except BotoCoreError as exc:
            raise storage_unavailable() from exc

    def _check_head(
        self, head: dict[str, Any], digests: Digests, *, accepted: tuple[str, ...], strict: bool
    ) -> None:
        """Size must match; the stored SHA-256 checksum must be one we accept.

        Not strict (an object uploaded earlier): a composite checksum that matches nothing was
        made with another part size and says nothing about the content, so it is skipped.
        """
        if head.get("ContentLength") != digests.size:
            raise blob_corrupt(digests.sha256, "stored size differs")
        stored = head.get("ChecksumSHA256")
        if not stored or any(_same_checksum(stored, ok) for ok in accepted):
            return
        composite = "-" in stored or head.get("ChecksumType") == "COMPOSITE"
        if strict or not composite:
            raise blob_corrupt(digests.sha256, "stored SHA-256 checksum differs")

    def _read_lock_enabled(self) -> bool:
        from botocore.exceptions import ClientError

        try:
            conf = self._client.get_object_lock_configuration(Bucket=self.options.bucket)
        except ClientError as exc:
            if _error_code(exc) != "ObjectLockConfigurationNotFoundError":
                logger.warning("cannot read Object Lock configuration: %s", exc)
            return False
        enabled = conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
        return bool(enabled)


def _same_checksum(stored: str, expected: str) -> bool:
    # Some S3-compatible servers drop the "-<parts>" suffix of a composite checksum.
    stored_value, _, stored_parts = stored.partition("-")
    expected_value, _, expected_parts = expected.partition("-")
    same_parts = not stored_parts or not expected_parts or stored_parts == expected_parts
    return stored_value == expected_value and same_parts


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64_hex(hex_digest: str) -> str:
    return _b64(bytes.fromhex(hex_digest))


def _error_code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3CheckpointStore(CheckpointStore):
    """Write-once named objects under <prefix>/checkpoints/<name>: a conditional PUT
    (If-None-Match: *) never replaces an existing name, and the object is put under Object Lock
    (lock_mode, lock_days) when the bucket has it. Outside the blobs' ab/cd/ key space."""

    FOLDER = "checkpoints"

    def __init__(self, backend: S3BlobBackend) -> None:
        self.backend = backend
        opts = backend.options
        self.base = f"{opts.prefix}/{self.FOLDER}/" if opts.prefix else f"{self.FOLDER}/"

    def put(self, name: str, data: bytes) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.base + checkpoint_name_check(name)
        opts = self.backend.options
        if self.backend._head(key) is not None:  # (servers without conditional writes)
            return False
        extra: dict[str, Any] = {"ChecksumAlgorithm": "SHA256",
                                 "ChecksumSHA256": _b64(hashlib.sha256(data).digest())}
        if opts.lock_days and self.backend.lock_enabled():
            extra["ObjectLockMode"] = opts.lock_mode
            extra["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(
                days=opts.lock_days)
        try:
            self.backend._client.put_object(Bucket=opts.bucket, Key=key, Body=data,
                                            IfNoneMatch="*", **extra)
        except ClientError as exc:
            if _error_code(exc) in {"PreconditionFailed", "412", "ConditionalRequestConflict"}:
                return False
            raise storage_unavailable() from exc
        except BotoCoreError as exc:
            raise storage_unavailable() from exc
        return True

    def get(self, name: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        key = self.base + checkpoint_name_check(name)
        try:
            response = self.backend._client.get_object(Bucket=self.backend.options.bucket,
                                                       Key=key)
            return cast(bytes, response["Body"].read())
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND:
                raise blob_missing(name) from None
            raise storage_unavailable() from exc
        except BotoCoreError as exc:
            raise storage_unavailable() from exc

    def names(self, prefix: str = "") -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        found: list[str] = []
        try:
            pages = self.backend._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.backend.options.bucket, Prefix=self.base + prefix)
            for page in pages:
                found.extend(o["Key"][len(self.base):] for o in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            raise storage_unavailable() from exc
        return sorted(n for n in found if "/" not in n)
