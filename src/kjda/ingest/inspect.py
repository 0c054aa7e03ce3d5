"""Inspect one file without storing it: what it is, whether it is PDF/A, its signatures and
its invoice data. Behind `POST /api/v1/files/inspect`, for checks before an approval finishes.

    file_inspect(path_or_stream) -> {
        "format": "pdfa", "format_version": "2B", "profile": "PDF/A-2b",
        "mime": "application/pdf", "puid": "fmt/477",
        "readable": true, "encrypted": false, "problems": [],
        "pdfa": {"claimed": "2B", "checked_as": "2B", "compliant": true,
                 "violations": [{"clause": "6.1.3", "message": "中文 / English"}]} | null,
        "signatures": [{"status": "valid|invalid|unsupported", "reason": "", "signer": ""}],
        "invoice": {...the invoice object of issue #5...} | null,
    }

`pdfa` is null for a file that is not a PDF; `signatures` are those of
`kjda.ingest.signatures.file_signatures` (OFD seals, PDF and XML signatures); `invoice` is
`kjda.invoices.services.invoice_extract` (OCR included for pictures and scans).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

from kjda.formats import Probe, handler_for, identify
from kjda.ingest.signatures import file_signatures
from kjda.invoices.services import invoice_extract


def file_inspect(source: str | Path | BinaryIO) -> dict:
    """Identify, probe and check one file (a path or a seekable binary stream)."""
    if isinstance(source, (str, Path)):
        with open(source, "rb") as fh:
            return _inspect(fh)
    return _inspect(source)


def _inspect(fh: BinaryIO) -> dict:
    fmt = identify(fh)
    handler = handler_for(fmt.name)
    probe = handler.probe(fh) if handler else Probe(
        readable=False, problems=["无法识别的格式 / unidentified format"])
    fmt = probe.format or fmt
    signatures: list[dict] = []
    invoice = None
    if probe.readable and not probe.encrypted:
        fh.seek(0)
        signatures = file_signatures(fh, fmt.name)
        fh.seek(0)
        invoice = invoice_extract(fh, fmt.name)
        fh.seek(0)
    return {
        "format": fmt.name, "format_version": fmt.version, "profile": fmt.profile,
        "mime": fmt.mime, "puid": fmt.puid or None, "archival": fmt.archival,
        "readable": probe.readable, "encrypted": probe.encrypted, "pages": probe.pages,
        "problems": probe.problems,
        "pdfa": probe.properties.get("pdfa"),
        "signatures": signatures,
        "invoice": invoice,
    }


def bytes_inspect(data: bytes) -> dict:
    return _inspect(io.BytesIO(data))
