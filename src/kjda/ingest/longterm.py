"""Long-term format renditions of received files: images and PDFs that are not PDF/A become
PDF/A-2b, beside the original, which is kept unchanged (DA/T 94: OFD or PDF/A for fixed layout).

Images go through img2pdf (JPEG is embedded as it is, PNG without re-compression where it can),
PDFs through `make_pdfa2b` (XMP identification, sRGB output intent, trailer ID, no encryption,
JavaScript or forbidden actions). Fonts are not embedded after the fact: a PDF with a font that
is not embedded gets no rendition, and the reason says so. Every rendition is checked by the
PDF/A checker before it is kept; one that the checker faults is refused with the clauses.
Ghostscript's -dPDFA=2 would embed substitute fonts, but a substitute changes how the original
looks, which an archive must not do silently, so it is not used.
"""

from __future__ import annotations

import io
from datetime import datetime

from django.conf import settings

from kjda.errors import DomainError
from kjda.formats.ofd import OFDError
from kjda.formats.pdfa import PdfAError, make_pdfa2b
from kjda.formats.pdfa_check import PdfAReport, pdfa_check
from kjda.ingest.renditions import ofd_rendition

IMAGE_FORMATS = {"jpeg", "png", "tiff"}
# An OFD is itself a long-term format (GB/T 33190) and stays the original; its PDF/A rendition is
# what browsers can show.
VIEW_FORMATS = {"ofd"}
# Violations make_pdfa2b cannot repair: fonts that are not embedded, and encryption it cannot
# open. Everything else (XMP, output intent, ID, actions) it writes anew.
_UNREPAIRABLE = {"6.3.4", "6.2.11.4.1"}


class RenditionRefused(DomainError):
    status = 422


def rendition_needed(format_name: str, pdfa: dict | None) -> bool:
    if format_name in IMAGE_FORMATS:
        return True
    if format_name in VIEW_FORMATS:
        return bool(getattr(settings, "KJDA_OFD_RENDITION", True))
    return format_name in ("pdf", "pdfa") and pdfa is not None and not pdfa["compliant"]


def rendition_obstacle(pdfa: dict) -> str:
    """Why a PDF cannot be made PDF/A here, from its checker verdict ("" when it can be tried)."""
    fonts = [v["message"] for v in pdfa["violations"] if v["clause"] in _UNREPAIRABLE]
    if fonts:
        return "字体未嵌入，无法生成 PDF/A（不替换字体以免改变版式） / fonts are not embedded, so no " \
               "PDF/A rendition (a substitute font would change the layout): " + "; ".join(fonts)
    return ""


def _checked(data: bytes) -> bytes:
    report: PdfAReport = pdfa_check(data)
    if not report.compliant:
        clauses = ", ".join(sorted({v.clause for v in report.violations}))
        raise RenditionRefused("rendition_not_pdfa", f"转换结果不符合 PDF/A-2b（条款 {clauses}）",
                               f"the rendition does not conform to PDF/A-2b (clauses {clauses})",
                               detail={"violations": [v.as_dict() for v in report.violations]})
    return data


def _image_for_pdf(data: bytes) -> bytes:
    """The image as img2pdf takes it: JPEG in RGB or grey as it is; anything with alpha, a
    palette with transparency, CMYK or 16 bits per channel as 8-bit RGB PNG (PDF/A-2b with an
    sRGB output intent allows DeviceRGB and DeviceGray, not DeviceCMYK)."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as img:
        fine = (img.format == "JPEG" and img.mode in ("RGB", "L")) or (
            img.format in ("PNG", "TIFF") and img.mode in ("RGB", "L", "1")
            and "transparency" not in img.info and getattr(img, "n_frames", 1) == 1)
        if fine:
            return data
        frame = ImageOps.exif_transpose(img)
        if frame.mode in ("RGBA", "LA", "PA") or "transparency" in frame.info:
            background = Image.new("RGB", frame.size, "white")
            rgba = frame.convert("RGBA")
            background.paste(rgba, mask=rgba.getchannel("A"))
            frame = background
        frame = frame.convert("L" if frame.mode in ("L", "I;16", "I") else "RGB")
        out = io.BytesIO()
        frame.save(out, "PNG")
        return out.getvalue()


def image_to_pdfa(data: bytes, *, title: str, author: str, created: datetime | None = None) -> bytes:
    """A scanned or photographed image as a one-page PDF/A-2b at the image's own resolution."""
    import img2pdf

    try:
        pdf = img2pdf.convert(_image_for_pdf(data), rotation=img2pdf.Rotation.ifvalid)
    except (img2pdf.ImageOpenError, ValueError, OSError) as exc:
        raise RenditionRefused("rendition_image_unreadable", "图像无法转换为 PDF/A",
                               f"the image cannot be converted to PDF/A: {exc}") from exc
    return _checked(make_pdfa2b(pdf, title=title, author=author, created=created))


def pdf_to_pdfa(data: bytes, *, title: str, author: str, created: datetime | None = None,
                pdfa: dict | None = None) -> bytes:
    """A PDF that is not PDF/A as PDF/A-2b, where that needs no change to how it looks."""
    obstacle = rendition_obstacle(pdfa) if pdfa else ""
    if obstacle:
        raise RenditionRefused("rendition_font_not_embedded", obstacle.split(" / ")[0],
                               obstacle.split(" / ", 1)[1])
    try:
        converted = make_pdfa2b(data, title=title, author=author, created=created)
    except PdfAError as exc:
        raise RenditionRefused(exc.code, exc.zh, exc.en, detail=exc.detail) from exc
    return _checked(converted)


def ofd_to_pdfa(data: bytes, *, title: str, author: str, created: datetime | None = None) -> bytes:
    """An OFD's pages as PDF/A-2b for viewing (text with the embedded or a system CJK font)."""
    try:
        return _checked(ofd_rendition(data))
    except OFDError as exc:
        raise RenditionRefused(exc.code, exc.zh, exc.en) from exc


def converter_for(format_name: str):
    """The function that makes the PDF/A-2b rendition of a file of this format."""
    if format_name in IMAGE_FORMATS:
        return image_to_pdfa
    if format_name in VIEW_FORMATS:
        return ofd_to_pdfa
    return pdf_to_pdfa
