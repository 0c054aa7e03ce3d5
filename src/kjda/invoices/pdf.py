"""Invoices in PDFs: the text layer read by position (pypdfium2), the QR code on the rendered
first page (zxing-cpp), and OCR of a page that has no text layer (a scan)."""

from __future__ import annotations

from PIL import Image

from kjda.ingest.formats import _PDFIUM_LOCK  # PDFium is not thread-safe: one lock for all
from kjda.invoices.layout import Glyph

MAX_PAGES = 3
RENDER_SCALE = 2.0  # 144 dpi: QR modules and small print stay readable


def pdf_pages(data: bytes, *, render: bool) -> list[tuple[list[Glyph], Image.Image | None]]:
    """Per page (at most MAX_PAGES): its glyphs (y down, points) and, if asked, its picture."""
    import pypdfium2 as pdfium

    out: list[tuple[list[Glyph], Image.Image | None]] = []
    with _PDFIUM_LOCK:
        try:
            doc = pdfium.PdfDocument(data)
        except pdfium.PdfiumError:
            return []
        try:
            for index in range(min(len(doc), MAX_PAGES)):
                page = doc[index]
                height = page.get_height()
                tp = page.get_textpage()
                glyphs = []
                for i in range(tp.count_chars()):
                    ch = tp.get_text_range(i, 1)
                    if not ch.strip():
                        continue
                    left, bottom, right, top = tp.get_charbox(i)
                    glyphs.append(Glyph(ch, left, height - top, right, height - bottom))
                tp.close()
                image = page.render(scale=RENDER_SCALE).to_pil() if render else None
                page.close()
                out.append((glyphs, image))
        finally:
            doc.close()
    return out
