"""Fonts for the OFD renderer: the embedded TrueType of an OFD font id when reportlab can load
it and it has every glyph needed, else the system CJK font (`kjda.formats.fonts`)."""

from __future__ import annotations

import hashlib
import io
from typing import TYPE_CHECKING

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from kjda.formats.fonts import cjk_font

if TYPE_CHECKING:
    from kjda.formats.ofd.document import OFDDocument

_MAX_EMBEDDED_FONTS = 500  # then the system font: bounds what a long-running worker keeps
_registered = 0

class Fonts:
    """reportlab font names for OFD font ids: the embedded TrueType when usable, else fallback."""

    def __init__(self, doc: OFDDocument, problems: list[str]) -> None:
        self.doc = doc
        self.problems = problems
        self.cache: dict[tuple[str, str], str] = {}

    def name(self, font_id: str, text: str, res) -> str:
        font = res.fonts.get(font_id)
        key = (font_id, font.path if font else "")
        if font and font.path and key not in self.cache:
            self.cache[key] = self._embedded(font)
        name = self.cache.get(key) or ""
        if name:
            face = pdfmetrics.getFont(name).face
            if all(ord(ch) in face.charToGlyph for ch in text if not ch.isspace()):
                return name
        return cjk_font()  # raises the clear "install fonts-wqy-microhei" error if missing

    def _embedded(self, font) -> str:
        data = self.doc.package.read(font.path)
        # Named by content: two OFDs' subsets at the same path are different fonts.
        name = f"KJDA-OFD-{hashlib.sha256(data).hexdigest()[:24]}"
        if name in pdfmetrics.getRegisteredFontNames():
            return name
        global _registered
        if _registered >= _MAX_EMBEDDED_FONTS:  # reportlab's registry lives as long as the process
            return ""
        try:
            pdfmetrics.registerFont(TTFont(name, io.BytesIO(data)))
        except Exception:  # CFF/OpenType, Type1, subset without cmap: reportlab can't use it
            return ""
        _registered += 1
        return name
