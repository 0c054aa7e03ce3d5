"""Format identification by content, through a registry of handlers (see `base`).

Importing the handler modules registers them; the order is the order `identify` tries them in:
PDF before the ZIP containers (OFD, Office, then plain ZIP) and OLE2, structured text (XML,
JSON), images, and last executables and plain text, which would match much else.
"""

import importlib

from kjda.formats.base import (
    HEAD_BYTES,
    MAX_TEXT_CHARS,
    MAX_XML_BYTES,
    MAX_ZIP_ENTRIES,
    FormatHandler,
    FormatInfo,
    Probe,
    cjk_spacing_removed,
    handler_for,
    identify,
    probe_bytes,
    register,
)

# Imported in this order, not the alphabetical one an import sorter would give.
for _module in ("pdf", "containers", "structured", "images", "plain"):
    importlib.import_module(f"{__name__}.{_module}")

from kjda.formats.pdf import PDFIUM_LOCK, pdf_format  # noqa: E402 - after registration

__all__ = ["HEAD_BYTES", "MAX_TEXT_CHARS", "MAX_XML_BYTES", "MAX_ZIP_ENTRIES", "PDFIUM_LOCK",
           "FormatHandler", "FormatInfo", "Probe", "cjk_spacing_removed", "handler_for",
           "identify", "pdf_format", "probe_bytes", "register"]
