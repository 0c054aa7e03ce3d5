"""How a stored file is sent, by the API and the web alike: the one place that decides.

A file is shown inline only when the format our identify step found (never the type its sender
declared, nor its name) is one a browser renders without running anything: PDF, PNG, JPEG. A
TIFF is not: its PDF/A rendition is what gets shown. Everything else (SVG, HTML, XML, scripts,
unknown bytes) goes out as an attachment of type application/octet-stream. Every file response
also carries a sandboxing CSP and nosniff, so even a mistake here cannot run script in our
origin. The bytes are re-hashed on the way out and a damaged blob never completes a download.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from django.http import HttpRequest, StreamingHttpResponse
from django.utils.http import content_disposition_header

from kjda.archives.models import RecordFile, RecordStatus
from kjda.audit.models import Outcome
from kjda.audit.services import audit_log
from kjda.storage.services import StorageError, blob_read_verified

logger = logging.getLogger(__name__)

# Identified format name (kjda.formats) → the type it is served as when inline.
INLINE_FORMATS = {"pdf": "application/pdf", "pdfa": "application/pdf", "png": "image/png",
                  "jpeg": "image/jpeg"}
ATTACHMENT_TYPE = "application/octet-stream"
# Set on the response itself: a page-wide CSP middleware leaves a response that has one alone.
FILE_HEADERS = {
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-store",
}
FIXITY_FAILED = "file.fixity_failed"


@dataclass(frozen=True, slots=True)
class Delivery:
    inline: bool
    content_type: str


def file_delivery(*, format_name: str, inline: bool) -> Delivery:
    """Inline only when asked for and the identified format is on the allow-list."""
    safe_type = INLINE_FORMATS.get(format_name)
    if safe_type is None:
        return Delivery(inline=False, content_type=ATTACHMENT_TYPE)
    return Delivery(inline=inline, content_type=safe_type)


def file_previewable(rf: RecordFile) -> bool:
    """Whether a page may embed the file (an <iframe> or <img> of its inline URL)."""
    return file_delivery(format_name=rf.format_name, inline=True).inline


def file_response(*, request: HttpRequest, rf: RecordFile, inline: bool) -> StreamingHttpResponse:
    """The file's exact bytes as a streamed response, verified while they are sent.

    Raises StorageError: 'blob_missing', or 'fixity_failed' for a damaged blob found before the
    first byte is sent (any blob of up to 1 MiB); a bigger one found damaged mid-way is cut off
    before its last chunk. Either way the failure is audited as file.fixity_failed.
    """
    if rf.record.status == RecordStatus.DESTROYED:
        raise file_destroyed(rf)
    delivery = file_delivery(format_name=rf.format_name, inline=inline)
    stream = _audited(blob_read_verified(sha256=rf.sha256, sm3=rf.sm3, size=rf.size),
                      request=request, rf=rf)
    first = next(stream, None)  # opens the blob; a small one is wholly checked here
    body = itertools.chain([] if first is None else [first], stream)
    response = StreamingHttpResponse(body, content_type=delivery.content_type)
    response["Content-Length"] = str(rf.size)
    response["Content-Disposition"] = content_disposition_header(
        not delivery.inline, rf.filename or f"file-{rf.pk}") or "inline"  # None only unnamed
    response["X-Content-SHA256"] = rf.sha256
    response["X-Content-SM3"] = rf.sm3
    for name, value in FILE_HEADERS.items():
        response[name] = value
    return response


def file_destroyed(rf: RecordFile) -> StorageError:
    """410 Gone: the file was destroyed on purpose (79号令 Art.18); its digests remain."""
    return StorageError(
        "file_destroyed",
        f"文件“{rf.filename}”已按销毁程序销毁，仅保留其元数据和摘要 / "
        f"The file '{rf.filename}' was destroyed under the destruction procedure; only its "
        "metadata and digests are kept", status=410)


def _audited(chunks: Iterator[bytes], *, request: HttpRequest,
             rf: RecordFile) -> Iterator[bytes]:
    try:
        yield from chunks
    except StorageError as exc:
        if exc.code == "fixity_failed":
            audit_log(action=FIXITY_FAILED, request=request, outcome=Outcome.FAILURE,
                      object_type="file", object_id=str(rf.pk),
                      detail={"record": rf.record_id, "file": rf.pk, "sha256": rf.sha256,
                              "found": exc.found})
        raise
