"""A PDF page as a PNG (pypdfium2), for phones: the PDF viewer of a desktop browser is not
there in the OA apps' built-in browsers, so the record page shows page images instead of an
<iframe> of the PDF. A marked page is cut out of the document first and marked alone, so one
page of a 100-page PDF costs one page's work, and the PNG carries the signed token in iTXt.
"""

from __future__ import annotations

import io
import threading

import pikepdf
import pypdfium2 as pdfium
from PIL import PngImagePlugin

from kjda.formats.watermark.image import PNG_KEY
from kjda.formats.watermark.mark import Mark, WatermarkError, token
from kjda.formats.watermark.pdf import watermark_pdf

# PDFium is not thread-safe; a threaded server renders one page at a time.
_PDFIUM = threading.Lock()
MAX_PIXELS = 1400 * 2000  # a phone screen at 2–3× is well inside this


def pdf_page_count(data: bytes) -> int:
    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            return len(pdf.pages)
    except pikepdf.PdfError as exc:
        raise WatermarkError("preview_unreadable", "PDF 无法读取，无法预览",
                             f"unreadable PDF, no preview: {exc}") from exc


def _one_page(data: bytes, index: int) -> bytes:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        if not 0 <= index < len(pdf.pages):
            raise WatermarkError("preview_no_page", f"没有第 {index + 1} 页",
                                 f"there is no page {index + 1}", status=404)
        # The document minus the other pages: its catalogue (the XMP PDF/A claim, which
        # decides the mark's transparency, and the output intent) stays; qpdf drops the rest.
        del pdf.pages[index + 1:]
        del pdf.pages[:index]
        out = io.BytesIO()
        pdf.save(out)
    return out.getvalue()


def pdf_page_png(data: bytes, index: int, *, width: int = 1080, mark: Mark | None = None,
                 key: bytes = b"") -> bytes:
    """Page `index` (0-based) rendered `width` pixels wide, watermarked when `mark` is given."""
    try:
        page_pdf = _one_page(data, index)
    except pikepdf.PdfError as exc:
        raise WatermarkError("preview_unreadable", "PDF 无法读取，无法预览",
                             f"unreadable PDF, no preview: {exc}") from exc
    if mark is not None:
        page_pdf = watermark_pdf(page_pdf, mark, key=key)
    with _PDFIUM:
        doc = pdfium.PdfDocument(page_pdf)
        try:
            page = doc[0]
            w, h = page.get_size()
            scale = min(width / w, (MAX_PIXELS / (w * h)) ** 0.5)
            image = page.render(scale=scale).to_pil()
        finally:
            doc.close()
    info = PngImagePlugin.PngInfo()
    if mark is not None:
        info.add_itxt(PNG_KEY, token(mark, key))
    buf = io.BytesIO()
    image.save(buf, "PNG", pnginfo=info, compress_level=3)  # the default 6: ~2x slower
    return buf.getvalue()
