"""What ingest learns from inside a file beyond its format: the signatures it carries (固化信息)
and, for an OFD, its pages, text and attachments (its PDF/A rendition is made by the Convert step,
`kjda.ingest.longterm`).

Runs as the pipeline's `Inspect` step, after Extract. A file whose content can't be read is
still archived; what went wrong is recorded in its details, never raised.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kjda.formats.active_content import ofd_active_content
from kjda.formats.containers import ofd_xml_text
from kjda.formats.ofd import OFDError, OFDPackage
from kjda.ingest.signatures import file_signatures

if TYPE_CHECKING:
    from kjda.ingest.types import IncomingFile

log = logging.getLogger(__name__)


def inspect_file(f: IncomingFile) -> None:
    """Fill `f.signatures`, `f.details` and (OFD) `f.text`: the Extract step leaves an OFD's
    text to this step, which reads it once with the OFD reader."""
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
    f.stream.seek(0)
    text = None
    try:
        with OFDPackage.open(f.stream) as pkg:
            docs = pkg.documents()
            doc = docs[0]
            f.text = text = "\n\n".join(d.text() for d in docs)
            summary = doc.summary()
            summary["documents"] = len(docs)
            f.details["ofd"] = summary
            f.probe.properties["active_content"] = ofd_active_content(pkg, docs)
    except OFDError as exc:
        f.details["ofd"] = {"error": exc.code, "message": exc.message}
        if text is None:  # not readable as a document: its pages may still hold text
            f.text = ofd_xml_text(f.stream)
    finally:
        f.stream.seek(0)
