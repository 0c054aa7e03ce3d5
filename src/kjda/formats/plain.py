"""Executables (recognised so they are never archived) and plain text (UTF-8 or GB 18030).
Registered last: plain text is what is left."""

from __future__ import annotations

from typing import BinaryIO

from kjda.formats.base import MAX_TEXT_CHARS, FormatHandler, FormatInfo, register


@register
class ExecutableHandler(FormatHandler):
    name = "executable"
    mime = "application/x-executable"

    def matches(self, head: bytes, fh: BinaryIO) -> bool:
        return head.startswith((b"MZ", b"\x7fELF", b"\xcf\xfa\xed\xfe", b"#!"))


@register
class TextHandler(FormatHandler):
    name = "txt"
    mime = "text/plain"

    def matches(self, head: bytes, fh: BinaryIO) -> bool:
        if not head or b"\x00" in head:
            return False
        for encoding in ("utf-8", "gb18030"):
            try:
                head.decode(encoding)
                return True
            except UnicodeDecodeError:
                # The head may cut a multi-byte character in two.
                try:
                    head[:-3].decode(encoding)
                    return True
                except UnicodeDecodeError:
                    continue
        return False

    def info(self, head: bytes, fh: BinaryIO) -> FormatInfo:
        return FormatInfo(self.name, self.mime, "x-fmt/111")

    def extract_text(self, fh: BinaryIO) -> str:
        fh.seek(0)
        data = fh.read(MAX_TEXT_CHARS * 4)
        for encoding in ("utf-8", "gb18030"):
            try:
                return data.decode(encoding)[:MAX_TEXT_CHARS]
            except UnicodeDecodeError:
                continue
        return data.decode("utf-8", "replace")[:MAX_TEXT_CHARS]

