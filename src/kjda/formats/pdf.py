"""PDF and PDF/A: identification by header and XMP claim, probing with pikepdf (the PDF/A
clauses in `kjda.formats.pdfa_check`), text through PDFium."""

from __future__ import annotations

import re
import threading
from typing import BinaryIO

from kjda.formats.base import (
    MAX_TEXT_CHARS,
    FormatHandler,
    FormatInfo,
    Probe,
    cjk_spacing_removed,
    head_tail,
    register,
)

# PDFium is not thread-safe (pypdfium2 docs): the web server runs requests in threads.
PDFIUM_LOCK = threading.Lock()

# PRONOM ids (checked against siegfried's PRONOM signatures, DROID V125, in the tests).
_PDF_PUID = {"1.0": "fmt/14", "1.1": "fmt/15", "1.2": "fmt/16", "1.3": "fmt/17", "1.4": "fmt/18",
             "1.5": "fmt/19", "1.6": "fmt/20", "1.7": "fmt/276", "2.0": "fmt/1129"}
_PDFA_PUID = {"1A": "fmt/95", "1B": "fmt/354", "2A": "fmt/476", "2B": "fmt/477", "2U": "fmt/478",
              "3A": "fmt/479", "3B": "fmt/480", "3U": "fmt/481"}
_PDF_HEADER = re.compile(rb"%PDF-(\d\.\d)")
_PDFA_PART = re.compile(rb"pdfaid:part(?:>|=[\"'])\s*(\d)")
_PDFA_CONF = re.compile(rb"pdfaid:conformance(?:>|=[\"'])\s*([ABUabu])")


def pdf_format(version: str, claim: str | None) -> FormatInfo:
    """PDF or PDF/A by the header version and the (validly stated) PDF/A claim."""
    if claim and claim in _PDFA_PUID:
        return FormatInfo("pdfa", "application/pdf", _PDFA_PUID[claim], claim, True,
                          profile=f"PDF/A-{claim[0]}{claim[1:].lower()}")
    return FormatInfo("pdf", "application/pdf", _PDF_PUID.get(version, ""), version, True)


@register
class PdfHandler(FormatHandler):
    name = "pdf"
    mime = "application/pdf"
    archival = True

    def matches(self, head: bytes, fh: BinaryIO) -> bool:
        return b"%PDF-" in head[:1024]

    def info(self, head: bytes, fh: BinaryIO) -> FormatInfo:
        m = _PDF_HEADER.search(head[:1024])
        version = m.group(1).decode() if m else ""
        # A cheap first look at the claim in the XMP packet (usually in the first megabyte);
        # `probe` reads it properly (namespace, part) and corrects it.
        fh.seek(0)
        chunk = fh.read(1024 * 1024)
        start = chunk.find(b"pdfaid:")  # a plain substring scan first: most PDFs have no claim
        part = _PDFA_PART.search(chunk, start) if start >= 0 else None
        conf = _PDFA_CONF.search(chunk, start) if start >= 0 else None
        claim = part.group(1).decode() + conf.group(1).decode().upper() if part and conf else None
        return pdf_format(version, claim)

    def probe(self, fh: BinaryIO) -> Probe:
        import pikepdf

        from kjda.formats.active_content import pdf_active_content
        from kjda.formats.pdfa_check import pdfa_check_pdf

        head, tail = head_tail(fh)
        problems = []
        if b"%%EOF" not in tail:
            problems.append("PDF 不完整：末尾没有 %%EOF，可能被截断 / PDF is truncated: no %%EOF at "
                            "the end")
        fh.seek(0)
        try:
            with pikepdf.open(fh) as pdf:
                encrypted = bool(pdf.is_encrypted)
                pages = len(pdf.pages)
                if any("reconstruct" in w or "damaged" in w for w in pdf.get_warnings()):
                    problems.append("PDF 交叉引用表损坏（只能重建后读取） / PDF cross-reference "
                                    "table is broken (readable only by reconstruction)")
                report = pdfa_check_pdf(pdf, head=head, tail=tail)
                # the security scan (GD-4-2.1) reads the document already open for PDF/A
                active = [] if encrypted else pdf_active_content(pdf)
                damaged = bool(problems)
                if encrypted:
                    problems.append("PDF 已加密 / PDF is encrypted")
                return Probe(readable=not damaged, encrypted=encrypted, pages=pages, problems=problems,
                             properties={"pdf_version": pdf.pdf_version,
                                         "pdfa": report.as_dict(), "active_content": active},
                             format=pdf_format(pdf.pdf_version, report.claimed))
        except pikepdf.PasswordError:
            return Probe(readable=False, encrypted=True,
                         problems=["PDF 需要密码 / PDF is password-protected"])
        except pikepdf.PdfError as exc:
            return Probe(readable=False, problems=problems + [
                f"PDF 无法解析 / PDF cannot be parsed: {exc}"])

    def extract_text(self, fh: BinaryIO) -> str:
        fh.seek(0)
        data = fh.read()
        with PDFIUM_LOCK:
            return self._pdfium_text(data)

    @staticmethod
    def _pdfium_text(data: bytes) -> str:
        import pypdfium2 as pdfium

        try:
            doc = pdfium.PdfDocument(data)
        except pdfium.PdfiumError:
            return ""
        parts: list[str] = []
        size = 0
        try:
            for index in range(len(doc)):
                page = doc[index]
                textpage = page.get_textpage()
                text = textpage.get_text_range()
                textpage.close()
                page.close()
                parts.append(text)
                size += len(text)
                if size > MAX_TEXT_CHARS:
                    break
        finally:
            doc.close()
        return cjk_spacing_removed("\n".join(parts))[:MAX_TEXT_CHARS]


@register
class PdfAHandler(PdfHandler):
    """Registered so `handler_for("pdfa")` finds the PDF code; identification goes via PDF."""

    name = "pdfa"

    def matches(self, head: bytes, fh: BinaryIO) -> bool:
        return False

