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

`pdfa` is null for a file that is not a PDF. `signatures` and `invoice` come from parts that
other modules add with `inspect_part`:

    @inspect_part("signatures")
    def ofd_signatures(fh: BinaryIO, fmt: FormatInfo) -> list[dict]: ...

    @inspect_part("invoice")
    def invoice_data(fh: BinaryIO, fmt: FormatInfo) -> dict | None: ...

Every "signatures" part's list is added to the answer (OFD seals, PDF and XML signatures);
for "invoice" the first part that returns an object wins. A part sees the stream at offset 0
and the identified format, and must not keep the stream.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from kjda.ingest.formats import FormatInfo, Probe, handler_for, identify

InspectPart = Callable[[BinaryIO, FormatInfo], Any]
_PARTS: dict[str, list[InspectPart]] = {"signatures": [], "invoice": []}


def inspect_part(name: str) -> Callable[[InspectPart], InspectPart]:
    """Register a function that fills the answer's `signatures` or `invoice`."""
    if name not in _PARTS:
        raise ValueError(f"unknown inspection part {name!r}; one of {sorted(_PARTS)}")

    def wrap(fn: InspectPart) -> InspectPart:
        if fn not in _PARTS[name]:
            _PARTS[name].append(fn)
        return fn
    return wrap


def _parts(name: str, fh: BinaryIO, fmt: FormatInfo) -> list[Any]:
    values = []
    for part in _PARTS[name]:
        fh.seek(0)
        values.append(part(fh, fmt))
    fh.seek(0)
    return values


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
        for value in _parts("signatures", fh, fmt):
            signatures.extend(value or [])
        invoice = next((v for v in _parts("invoice", fh, fmt) if v is not None), None)
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
