"""Watermarks on what a reader takes away (issue 18 item 4): pure functions over bytes.

A mark says who received a copy, when, under which loan (借阅单号), "仅供查阅", and a unique mark
id. It is put on a copy twice: visibly (diagonal, repeated CJK text on every page or over the
image) and machine-readably (PDF: XMP properties in our own namespace plus an invisible text
layer; images: a PNG iTXt chunk, a JPEG COM segment and XMP, a TIFF ImageDescription). The
machine-readable payload is signed with an HMAC, so a mark someone typed in is told apart from
one we made. The stored original is never touched: callers watermark each response on the fly.

This module is the mark itself and its signed payload; `kjda.formats.watermark` (the package)
dispatches to the PDF and image writers and readers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import asdict, dataclass

from kjda.errors import DomainError

NOTICE = "仅供查阅"
TOKEN_PREFIX = "KJDAWM1"
# The token as it appears in extracted text: whitespace an extractor adds is removed first.
TOKEN_RE = re.compile(rb"KJDAWM1\.([A-Za-z0-9_-]+)\.([0-9a-f]{64})")
PAYLOAD_VERSION = 1


class WatermarkError(DomainError):
    """The file cannot be watermarked (unreadable, encrypted, not a PDF or image)."""

    status = 409


@dataclass(frozen=True, slots=True)
class Mark:
    mark_id: str  # unique per response; the audit event `file.watermark` carries it too
    person: str
    department: str
    time: str  # ISO 8601 with offset, as shown
    loan_no: str = ""  # 借阅单号, empty when no loan is involved (policy `always`)
    notice: str = NOTICE

    def lines(self) -> list[str]:
        """The visible text, line by line."""
        who = " · ".join(p for p in (self.notice, self.person, self.department) if p)
        loan = f"借阅单号 {self.loan_no} · " if self.loan_no else ""
        return [who, f"{loan}{self.time[:16].replace('T', ' ')}", f"#{self.mark_id}"]


@dataclass(frozen=True, slots=True)
class Found:
    """A mark read back from a copy."""

    mark: Mark
    verified: bool  # the HMAC matches under the key given
    source: str  # where it was found: xmp, text, png-itxt, jpeg-com, jpeg-xmp, tiff


def payload(mark: Mark) -> bytes:
    """The canonical bytes that are signed (sorted keys, no spaces, UTF-8)."""
    data = {"v": PAYLOAD_VERSION, **asdict(mark)}
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def signature(mark: Mark, key: bytes) -> str:
    return hmac.new(key, payload(mark), hashlib.sha256).hexdigest()


def verify(mark: Mark, sig: str, key: bytes) -> bool:
    return hmac.compare_digest(signature(mark, key), sig)


def token(mark: Mark, key: bytes) -> str:
    """The mark and its signature as one ASCII string (survives copy and paste and re-saving)."""
    body = base64.urlsafe_b64encode(payload(mark)).rstrip(b"=").decode()
    return f"{TOKEN_PREFIX}.{body}.{signature(mark, key)}"


def mark_from_fields(fields: dict[str, object]) -> Mark | None:
    try:
        return Mark(mark_id=str(fields["mark_id"]), person=str(fields["person"]),
                    department=str(fields["department"]), time=str(fields["time"]),
                    loan_no=str(fields.get("loan_no", "")),
                    notice=str(fields.get("notice", NOTICE)))
    except (KeyError, TypeError):
        return None


def token_find(text: bytes | str, key: bytes, *, source: str) -> Found | None:
    """The first well-formed token in `text` (whitespace ignored), verified under `key`."""
    raw = text.encode() if isinstance(text, str) else text
    match = TOKEN_RE.search(re.sub(rb"\s+", b"", raw))
    if match is None:
        return None
    body, sig = match.groups()
    try:
        fields = json.loads(base64.urlsafe_b64decode(body + b"=" * (-len(body) % 4)))
    except (binascii.Error, ValueError):
        return None
    mark = mark_from_fields(fields) if isinstance(fields, dict) else None
    if mark is None:
        return None
    return Found(mark=mark, verified=verify(mark, sig.decode(), key), source=source)
