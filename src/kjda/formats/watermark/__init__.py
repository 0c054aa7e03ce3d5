"""Watermarks on what a reader takes away (issue 18 item 4); see `mark` for what a mark is.

`watermark(data, mark, key=…)` picks the PDF or image writer; `watermark_read(data, key=…)`
finds a mark in a copy and says whether its signature verifies.
"""

from __future__ import annotations

from kjda.formats.watermark.image import watermark_image, watermark_image_read
from kjda.formats.watermark.mark import NOTICE, Found, Mark, WatermarkError, token
from kjda.formats.watermark.pdf import watermark_pdf, watermark_pdf_read

__all__ = ["NOTICE", "Found", "Mark", "WatermarkError", "is_pdf", "token", "watermark",
           "watermark_read"]


def is_pdf(data: bytes) -> bool:
    return b"%PDF-" in data[:1024]


def watermark(data: bytes, mark: Mark, *, key: bytes) -> tuple[bytes, str]:
    """The watermarked copy and its media type (PDF stays PDF; an image keeps its format where
    it is JPEG, PNG or TIFF, anything else becomes PNG)."""
    if is_pdf(data):
        return watermark_pdf(data, mark, key=key), "application/pdf"
    return watermark_image(data, mark, key=key)


def watermark_read(data: bytes, *, key: bytes) -> Found | None:
    """The mark in a copy, or None when it carries none."""
    if is_pdf(data):
        return watermark_pdf_read(data, key=key)
    return watermark_image_read(data, key=key)
