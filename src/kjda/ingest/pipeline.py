"""The ingest pipeline: receive → identify → extract → check (四性) → file.

Each step is a small class with one method, `run(ctx)`, in the order of `STEPS`. The API upload,
the web upload and (issue #3) OA callbacks all build an `IngestContext` and run the same steps.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from django.conf import settings

from kjda.archives.models import Fonds, Record, RetentionRule
from kjda.errors import DomainError
from kjda.ingest import checks
from kjda.ingest.formats import FormatInfo, Probe, handler_for, identify
from kjda.ingest.metadata import FileMetaIn, RecordMetadata
from kjda.storage.services import blob_store

log = logging.getLogger(__name__)

# Extensions we expect for each identified format; a mismatch is a GD-1-9 failure.
_EXTENSIONS = {
    "pdf": {".pdf"}, "pdfa": {".pdf"}, "ofd": {".ofd"}, "xml": {".xml"}, "xbrl": {".xml", ".xbrl"},
    "jpeg": {".jpg", ".jpeg", ".jpe"}, "png": {".png"}, "tiff": {".tif", ".tiff"},
    "txt": {".txt", ".csv", ".log", ""}, "json": {".json"}, "zip": {".zip"},
    "docx": {".docx"}, "xlsx": {".xlsx"}, "pptx": {".pptx"},
}
# DA/T 94 §8.4.1: in a voucher item the 记账凭证 comes first, then its 原始凭证, then the rest.
_DOCUMENT_ORDER = {"记账凭证": 0, "审批单": 1, "报销单": 1, "原始凭证": 1, "发票": 1, "电子发票": 1,
                   "银行回单": 1, "合同": 1}
MAX_EXTRACT_BYTES = 64 * 1024 * 1024


@dataclass
class IncomingFile:
    stream: BinaryIO
    filename: str
    meta: FileMetaIn
    sha256: str = ""
    sm3: str = ""
    size: int = 0
    stored_sha256: str = ""
    blob_created: bool = False  # the store had no such content before this file
    format: FormatInfo = field(default_factory=lambda: FormatInfo("unknown", ""))
    probe: Probe = field(default_factory=lambda: Probe(readable=False))
    text: str = ""

    @property
    def extension_mismatch(self) -> bool:
        ext = os.path.splitext(self.filename)[1].lower()
        expected = _EXTENSIONS.get(self.format.name)
        return expected is not None and ext not in expected and bool(ext)


@dataclass
class IngestContext:
    metadata: RecordMetadata
    files: list[IncomingFile]
    actor: Any = None
    fonds: Fonds | None = None
    rule: RetentionRule | None = None
    values: dict = field(default_factory=dict)
    results: list[checks.CheckResult] = field(default_factory=list)
    duplicate_document_of: str | None = None
    same_content_records: list[int] = field(default_factory=list)
    record: Record | None = None


class Step:
    def run(self, ctx: IngestContext) -> None:
        raise NotImplementedError


class Receive(Step):
    """Store every file's bytes first (streamed, hashed, verified): nothing received is lost,
    whatever the checks say."""

    def run(self, ctx: IngestContext) -> None:
        for f in ctx.files:
            stored = blob_store(source=f.stream, max_bytes=settings.KJDA_MAX_FILE_BYTES)
            f.sha256, f.sm3, f.size = stored.sha256, stored.sm3, stored.size
            f.stored_sha256, f.blob_created = stored.sha256, stored.created


class Identify(Step):
    def run(self, ctx: IngestContext) -> None:
        for f in ctx.files:
            f.format = identify(f.stream)
            handler = handler_for(f.format.name)
            f.probe = handler.probe(f.stream) if handler else Probe(
                readable=False, problems=["无法识别的格式 / unidentified format"])


class Extract(Step):
    def run(self, ctx: IngestContext) -> None:
        for f in ctx.files:
            handler = handler_for(f.format.name)
            if handler and f.probe.readable and not f.probe.encrypted and f.size <= MAX_EXTRACT_BYTES:
                try:
                    f.text = handler.extract_text(f.stream)
                except Exception:  # a file we can't read text from is still archived
                    log.warning("text extraction failed for %s", f.filename, exc_info=True)


class Check(Step):
    def run(self, ctx: IngestContext) -> None:
        ctx.results = checks.run_checks(ctx)


STEPS: list[Step] = [Receive(), Identify(), Extract(), Check()]


def order_files(files: list[IncomingFile]) -> list[IncomingFile]:
    return sorted(files, key=lambda f: _DOCUMENT_ORDER.get(f.meta.document_type, 2))


def ensure_files(files: list[IncomingFile]) -> None:
    if not files:
        raise DomainError("files_missing", "至少需要一个文件（files 字段）",
                          "at least one file is required (form field `files`)")
    for f in files:
        f.stream.seek(0, os.SEEK_END)
        size = f.stream.tell()
        f.stream.seek(0)
        if size == 0:
            raise DomainError("file_empty", f"文件为空：{f.filename}", f"empty file: {f.filename}")
        if size > settings.KJDA_MAX_FILE_BYTES:
            raise DomainError("file_too_large",
                              f"文件超过 {settings.KJDA_MAX_FILE_BYTES} 字节上限：{f.filename}",
                              f"file exceeds the {settings.KJDA_MAX_FILE_BYTES}-byte limit: {f.filename}",
                              status=413)
