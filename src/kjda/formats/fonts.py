"""The CJK font every PDF we make embeds (renditions, the OFD renderer's fallback): one owner
of its registration with reportlab.

The font is Debian's fonts-wqy-microhei (installed by `.ci/run`); without it we refuse rather
than fall back to a font that is not embedded.
"""

from __future__ import annotations

import functools
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from kjda.errors import DomainError

FONT_PACKAGE = "fonts-wqy-microhei"
FONT_PATH = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
FONT_NAME = "KJDA-WQYMicroHei"


class RenditionError(DomainError):
    status = 500


@functools.cache
def cjk_font() -> str:
    """Register the embedded CJK TrueType font once; its reportlab name."""
    if not FONT_PATH.exists():
        raise RenditionError(
            "rendition_font_missing",
            f"缺少中文字体 {FONT_PATH}：请安装 Debian 软件包 {FONT_PACKAGE}"
            f"（apt-get install {FONT_PACKAGE}），归档版式文件必须嵌入字体",
            f"CJK font {FONT_PATH} missing: install the Debian package {FONT_PACKAGE} "
            "(archival renditions must embed their font)")
    pdfmetrics.registerFont(TTFont(FONT_NAME, str(FONT_PATH), subfontIndex=0))
    return FONT_NAME
