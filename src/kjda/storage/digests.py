"""SHA-256 and SM3 (GB/T 32905) computed together in one pass over a stream.

SM3 comes from OpenSSL through hashlib when the build has it; otherwise from the pure-Python
`gmssl` package, wrapped so that it hashes incrementally like a hashlib object.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Protocol

from .errors import invalid_sha256

CHUNK_SIZE = 1024 * 1024
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
logger = logging.getLogger(__name__)


class Hash(Protocol):
    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


class GmsslSm3:
    """Incremental SM3 on gmssl's compression function (its `sm3_hash` needs the whole message)."""

    def __init__(self) -> None:
        from gmssl import sm3

        self._cf = sm3.sm3_cf
        self._v: list[int] = list(sm3.IV)
        self._buf = bytearray()
        self._length = 0

    def update(self, data: bytes, /) -> None:
        self._length += len(data)
        self._buf += data
        full = len(self._buf) // 64 * 64
        for i in range(0, full, 64):
            self._v = self._cf(self._v, self._buf[i : i + 64])
        del self._buf[:full]

    def hexdigest(self) -> str:
        tail = bytes(self._buf) + b"\x80" + b"\x00" * ((55 - len(self._buf)) % 64)
        tail += (self._length * 8).to_bytes(8, "big")
        v = self._v
        for i in range(0, len(tail), 64):
            v = self._cf(v, tail[i : i + 64])
        return "".join(f"{word:08x}" for word in v)


def _openssl_has_sm3() -> bool:
    try:
        hashlib.new("sm3")
    except ValueError:
        # RHEL-family OpenSSL builds and FIPS mode leave SM3 out.
        logger.warning("OpenSSL has no SM3; using pure-Python gmssl (slow for large files)")
        return False
    return True


OPENSSL_SM3 = _openssl_has_sm3()


def new_sm3() -> Hash:
    return hashlib.new("sm3") if OPENSSL_SM3 else GmsslSm3()


@dataclass(frozen=True, slots=True)
class Digests:
    sha256: str
    sm3: str
    size: int


class DigestHasher:
    """Feeds every chunk to SHA-256 and SM3 and counts the bytes."""

    def __init__(self) -> None:
        self._sha256 = hashlib.sha256()
        self._sm3 = new_sm3()
        self.size = 0

    def update(self, data: bytes) -> None:
        self._sha256.update(data)
        self._sm3.update(data)
        self.size += len(data)

    def digests(self) -> Digests:
        return Digests(self._sha256.hexdigest(), self._sm3.hexdigest(), self.size)


def read_chunks(stream: IO[bytes], chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    while chunk := stream.read(chunk_size):
        yield chunk


def digest_stream(stream: IO[bytes]) -> Digests:
    hasher = DigestHasher()
    for chunk in read_chunks(stream):
        hasher.update(chunk)
    return hasher.digests()


def require_sha256(value: str) -> str:
    """Reject anything but 64 lower-case hex digits: the value becomes a path or an object key."""
    if not isinstance(value, str) or not _SHA256_RE.fullmatch(value):
        raise invalid_sha256(str(value))
    return value
