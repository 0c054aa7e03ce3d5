"""What ingest learns from inside a file beyond its format: the signatures it carries (固化信息)
and, for an OFD, its pages, text, attachments and a PDF/A rendition for viewing.

Runs as the pipeline's `Inspect` step, after Extract. A file whose content can't be read is
still archived; what went wrong is recorded in its details, never raised.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

from kjda.ingest.signatures import file_signatures

if TYPE_CHECKING:
    from kjda.ingest.pipeline import IncomingFile

log = logging.getLogger(__name__)
PDFA2B_PUID = "fmt/476"  # PRONOM: PDF/A-2b


@dataclass
class Rendition:
    """A derived file stored beside the original (the original is never changed)."""

    filename: str
    sha256: str
    sm3: str
    size: int
    format_name: str = "pdfa"
    format_version: str = "2b"
    mime: str = "application/pdf"
    puid: str = PDFA2B_PUID


def inspect_file(f: IncomingFile) -> None:
    """Fill `f.signatures`, `f.details` and (OFD) `f.text` and `f.renditions`."""
    fmt = f.format.name
    if fmt not in ("ofd", "pdf", "pdfa", "xml", "xbrl") or not f.probe.readable or f.probe.encrypted:
        return
    f.stream.seek(0)
    try:
        f.signatures = file_signatures(f.stream, fmt)
    except Exception:  # a verifier bug must not lose the file
        log.warning("signature check failed for %s", f.filename, exc_info=True)
        f.signatures = [{"status": "unsupported", "reason": "签名校验出错 / signature check failed",
                         "signer": "", "kind": fmt}]
    finally:
        f.stream.seek(0)
    if fmt == "ofd":
        _inspect_ofd(f)


def _inspect_ofd(f: IncomingFile) -> None:
    from kjda.ingest.ofd import OFDError, OFDPackage
    from kjda.ingest.ofd.render import render_pdfa

    f.stream.seek(0)
    try:
        with OFDPackage.open(f.stream) as pkg:
            docs = pkg.documents()
            doc = docs[0]
            f.text = "\n\n".join(d.text() for d in docs)
            summary = doc.summary()
            summary["documents"] = len(docs)
            f.details["ofd"] = summary
            if getattr(settings, "KJDA_OFD_RENDITION", True):
                try:
                    pdf = render_pdfa(doc).pdf
                except Exception as exc:  # the OFD stays archived; the preview is what's lost
                    log.warning("OFD rendition failed for %s", f.filename, exc_info=True)
                    summary["problems"].append(f"rendition failed: {type(exc).__name__}")
                else:
                    f.renditions.append(_store(pdf, f.filename))
    except OFDError as exc:
        f.details["ofd"] = {"error": exc.code, "message": exc.message}
    finally:
        f.stream.seek(0)


def _store(pdf: bytes, original_name: str) -> Rendition:
    from kjda.storage.services import blob_store

    stored = blob_store(source=io.BytesIO(pdf), max_bytes=settings.KJDA_MAX_FILE_BYTES)
    stem = original_name.rsplit(".", 1)[0] if "." in original_name else original_name
    return Rendition(filename=f"{stem}.pdf", sha256=stored.sha256, sm3=stored.sm3, size=stored.size)


def signature_summary(files: list[IncomingFile]) -> tuple[str, str]:
    """(result, reason) of the 固化信息 (signature) check over all files, one clause per signature."""
    from kjda.ingest.checks import FAIL, PASS, SKIP, WARN

    parts, statuses = [], []
    for f in files:
        for i, s in enumerate(f.signatures, start=1):
            statuses.append(s["status"])
            who = f"（{s['signer']}）" if s.get("signer") else ""
            seal = f"「{s['seal_name']}」" if s.get("seal_name") else ""
            tail = f": {s['reason']}" if s.get("reason") else ""
            parts.append(f"{f.filename} #{i} {s.get('kind', '')}{seal}{who} {s['status']}{tail}")
    if not statuses:
        return SKIP, "文件未含电子签名/电子印章 / no electronic signatures or seals in the files"
    if "invalid" in statuses:
        return FAIL, "; ".join(parts)
    if "unsupported" in statuses:
        return WARN, "; ".join(parts)
    return PASS, "; ".join(parts)
