"""Invoices in PDFs: the text layer read by position (pypdfium2), the QR code on the rendered
first page (zxing-cpp), and OCR of a page that has no text layer (a scan)."""

from __future__ import annotations

from PIL import Image

from kjda.formats import PDFIUM_LOCK  # PDFium is not thread-safe: one lock for all
from kjda.invoices.layout import Glyph

MAX_PAGES = 3
QR_SCALE = 1.5  # 108 dpi: enough for the QR's modules, cheap to render
OCR_SCALE = 2.5  # 180 dpi for a scanned page's small print


def pdf_first_page_image(data: bytes, *, scale: float = QR_SCALE) -> Image.Image | None:
    import pypdfium2 as pdfium

    with PDFIUM_LOCK:
        try:
            doc = pdfium.PdfDocument(data)
        except pdfium.PdfiumError:
            return None
        try:
            if not len(doc):
                return None
            page = doc[0]
            image = page.render(scale=scale).to_pil()
            page.close()
            return image
        finally:
            doc.close()


def pdf_pages(data: bytes) -> list[list[Glyph]]:
    """Per page (at most MAX_PAGES): its glyphs, as the page is shown (y down, points)."""
    import pypdfium2 as pdfium

    out: list[list[Glyph]] = []
    with PDFIUM_LOCK:
        try:
            doc = pdfium.PdfDocument(data)
        except pdfium.PdfiumError:
            return []
        try:
            for index in range(min(len(doc), MAX_PAGES)):
                page = doc[index]
                rotation = page.get_rotation()
                x_min, y_min, x_max, y_max = page.get_mediabox()
                tp = page.get_textpage()
                glyphs = []
                for i in range(tp.count_chars()):
                    ch = tp.get_text_range(i, 1)
                    if not ch.strip():
                        continue
                    box = _display_box(tp.get_charbox(i), rotation, x_min, y_min, x_max, y_max)
                    glyphs.append(Glyph(ch, *box))
                tp.close()
                page.close()
                out.append(glyphs)
        finally:
            doc.close()
    return out


def _display_box(box: tuple[float, float, float, float], rotation: int, x_min: float,
                 y_min: float, x_max: float, y_max: float) -> tuple[float, float, float, float]:
    """A char box (PDF user space, y up) as the page is shown: /Rotate applied, y down."""
    left, bottom, right, top = box
    if rotation == 90:
        return bottom - y_min, left - x_min, top - y_min, right - x_min
    if rotation == 180:
        return x_max - right, bottom - y_min, x_max - left, top - y_min
    if rotation == 270:
        return y_max - top, x_max - right, y_max - bottom, x_max - left
    return left - x_min, y_max - top, right - x_min, y_max - bottom
