"""The ingest pipeline: receive → identify → extract → check (四性) → file.

Each step is a small class with one method, `run(ctx)`, in the order of `STEPS`. The API upload,
the web upload and (issue #3) OA callbacks all build an `IngestContext` and run the same steps.
"""

from __future__ import annotations

import io
import logging
import os

from django.conf import settings

from kjda.errors import DomainError
from kjda.formats import Probe, handler_for, identify
from kjda.ingest import checks, longterm
from kjda.ingest.content import inspect_file
from kjda.ingest.metadata import FileMetaIn
from kjda.ingest.types import IncomingFile, IngestContext, mime_agrees  # noqa: F401 - re-exported
from kjda.inputs import filename_check
from kjda.invoices.services import invoice_for_incoming, invoice_search_text
from kjda.storage.services import blob_put

log = logging.getLogger(__name__)

# DA/T 94 §8.4.1: in a voucher item the 记账凭证 comes first, then its 原始凭证, then the rest.
_DOCUMENT_ORDER = {"记账凭证": 0, "审批单": 1, "报销单": 1, "原始凭证": 1, "发票": 1, "电子发票": 1,
                   "银行回单": 1, "合同": 1}
MAX_EXTRACT_BYTES = 64 * 1024 * 1024
class Step:
    def run(self, ctx: IngestContext) -> None:
        raise NotImplementedError


class Receive(Step):
    """Store every file's bytes first (streamed, hashed, verified): nothing received is lost,
    whatever the checks say. Their Blob rows are written when the record is (kjda.ingest.services)."""

    def run(self, ctx: IngestContext) -> None:
        for f in ctx.files:
            stored = blob_put(source=f.stream, max_bytes=settings.KJDA_MAX_FILE_BYTES,
                              actor=ctx.actor)
            f.sha256, f.sm3, f.size = stored.sha256, stored.sm3, stored.size
            f.stored_sha256 = stored.sha256


class Identify(Step):
    def run(self, ctx: IngestContext) -> None:
        for f in ctx.files:
            f.format = identify(f.stream)
            handler = handler_for(f.format.name)
            f.probe = handler.probe(f.stream) if handler else Probe(
                readable=False, problems=["无法识别的格式 / unidentified format"])
            if f.probe.format is not None:  # opening the file told more (PDF/A claim, version)
                f.format = f.probe.format


class Convert(Step):
    """Long-term renditions: images and PDFs that are not PDF/A become PDF/A-2b, stored beside
    the unchanged original and filed as its rendition. A file that can't be converted keeps a
    note of why (shown in the GD-3-3.1 check)."""

    def run(self, ctx: IngestContext) -> None:
        for index, f in enumerate(list(ctx.files)):
            pdfa = f.probe.properties.get("pdfa")
            if (f.meta.role != "original" or f.derived_from is not None or not f.probe.readable
                    or f.probe.encrypted or not longterm.rendition_needed(f.format.name, pdfa)):
                continue
            if f.size > MAX_EXTRACT_BYTES:
                f.rendition_note = "文件过大，未生成 PDF/A 转换件 / too large for a PDF/A rendition"
                continue
            if pdfa and (obstacle := longterm.rendition_obstacle(pdfa)):
                f.rendition_note = obstacle  # known from the check: no need to try
                continue
            f.stream.seek(0)
            convert = longterm.converter_for(f.format.name)
            try:
                data = convert(f.stream.read(), title=ctx.values["title"],
                               author=ctx.values.get("responsible") or "")
            except longterm.RenditionRefused as exc:
                f.rendition_note = exc.message
                continue
            finally:
                f.stream.seek(0)
            ctx.files.append(self._rendition(f, index, data))

    @staticmethod
    def _rendition(original: IncomingFile, index: int, data: bytes) -> IncomingFile:
        stem = os.path.splitext(original.filename)[0] or "file"
        rendition = IncomingFile(
            stream=io.BytesIO(data), filename=f"{stem}.pdfa.pdf",
            meta=FileMetaIn(role="rendition", document_type=original.meta.document_type,
                            creating_application="KJDA (img2pdf, pikepdf)"),
            derived_from=index)
        stored = blob_put(source=rendition.stream, max_bytes=settings.KJDA_MAX_FILE_BYTES)
        rendition.sha256, rendition.sm3, rendition.size = stored.sha256, stored.sm3, stored.size
        rendition.stored_sha256 = stored.sha256
        rendition.format = identify(rendition.stream)
        handler = handler_for(rendition.format.name)
        assert handler is not None  # a PDF, which has one
        rendition.probe = handler.probe(rendition.stream)
        rendition.format = rendition.probe.format or rendition.format
        return rendition


class Extract(Step):
    def run(self, ctx: IngestContext) -> None:
        for f in ctx.files:
            if f.derived_from is not None:
                continue  # a rendition holds the original's text: index it once
            handler = handler_for(f.format.name)
            if handler and f.probe.readable and not f.probe.encrypted and f.size <= MAX_EXTRACT_BYTES:
                try:
                    f.text = handler.extract_text(f.stream)
                except Exception:  # a file we can't read text from is still archived
                    log.warning("text extraction failed for %s", f.filename, exc_info=True)


class Inspect(Step):
    """Signatures (固化信息) of every file; an OFD's pages, text and attachments."""

    def run(self, ctx: IngestContext) -> None:
        for f in ctx.files:
            if f.size <= MAX_EXTRACT_BYTES:
                inspect_file(f)


class Check(Step):
    def run(self, ctx: IngestContext) -> None:
        ctx.results = checks.run_checks(ctx)


class InvoiceExtract(Step):
    """Invoice data (kjda.invoices) of files that may hold an invoice; its text is indexed."""

    def run(self, ctx: IngestContext) -> None:
        for f in ctx.files:
            if f.size <= MAX_EXTRACT_BYTES and f.derived_from is None:
                f.invoice = invoice_for_incoming(f)
                if f.invoice:
                    f.text = "\n".join(t for t in (f.text, invoice_search_text(f.invoice)) if t)


# Convert comes last: renditions are made from what the earlier steps read, and are not
# themselves extracted, inspected or read for invoices again (they hold the original's text,
# no signatures, and the original's invoice).
STEPS: list[Step] = [Receive(), Identify(), Extract(), Inspect(), InvoiceExtract(), Convert(),
                     Check()]


def order_files(files: list[IncomingFile]) -> list[IncomingFile]:
    return sorted(files, key=lambda f: _DOCUMENT_ORDER.get(f.meta.document_type, 2))


def ensure_files(files: list[IncomingFile]) -> None:
    if not files:
        raise DomainError("files_missing", "至少需要一个文件（files 字段）",
                          "at least one file is required (form field `files`)")
    for f in files:
        filename_check(f.filename)  # too long or with control characters: refused as received
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
