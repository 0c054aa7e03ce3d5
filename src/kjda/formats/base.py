"""Format identification by content (never by file name), through a registry of handlers.

Each handler recognises its format from the first bytes (and, for ZIP containers, the member
names), then `probe` opens the file with limits to tell whether it is readable and encrypted, and
`extract_text` returns text for the search index. The handlers live beside this module, one
module a family; `kjda.formats` registers them in the order `identify` tries them.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import BinaryIO, ClassVar

from defusedxml import ElementTree as SafeET

HEAD_BYTES = 8192
MAX_TEXT_CHARS = 200_000
MAX_ZIP_ENTRIES = 10_000
MAX_XML_BYTES = 64 * 1024 * 1024
_TAIL_BYTES = 2048


@dataclass
class FormatInfo:
    name: str  # short id: pdf, ofd, xml, jpeg, png, tiff, txt, zip, docx, …
    mime: str
    puid: str = ""
    version: str = ""
    archival: bool = False  # an allowed long-term format (DA/T 94 §6.4, standards.md §3.5)
    profile: str = ""  # what the content is within the format: einvoice-2019, einvoice-digital…


@dataclass
class Probe:
    readable: bool
    encrypted: bool = False
    pages: int | None = None
    problems: list[str] = field(default_factory=list)
    properties: dict = field(default_factory=dict)
    # The identification refined by opening the file (a PDF/A claim that is not valid, the PNG
    # or Exif version that decides the PRONOM id), None when `identify` already had it right.
    format: FormatInfo | None = None


class FormatHandler:
    name: ClassVar[str]
    mime: ClassVar[str]
    archival: ClassVar[bool] = False

    def matches(self, head: bytes, fh: BinaryIO) -> bool:
        raise NotImplementedError

    def info(self, head: bytes, fh: BinaryIO) -> FormatInfo:
        return FormatInfo(self.name, self.mime, archival=self.archival)

    def probe(self, fh: BinaryIO) -> Probe:
        return Probe(readable=True)

    def extract_text(self, fh: BinaryIO) -> str:
        return ""


_REGISTRY: list[FormatHandler] = []
_CJK_GAP = re.compile(r"(?<=[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef])[ \t\u3000]+"
                      r"(?=[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef])")


def cjk_spacing_removed(text: str) -> str:
    """PDF text layers often space out CJK glyphs (电 子 发 票); Chinese has no word spaces, so
    join them back or search for 发票 would never match."""
    return _CJK_GAP.sub("", text)


def register(handler_cls: type[FormatHandler]) -> type[FormatHandler]:
    _REGISTRY.append(handler_cls())
    return handler_cls


# Format names a handler reports for what it recognises, besides its own name.
_HANDLED_AS = {"docx": "ooxml", "xlsx": "ooxml", "pptx": "ooxml", "odt": "odf", "ods": "odf",
               "odp": "odf", "doc": "ole2", "xls": "ole2", "ppt": "ole2", "ooxml-encrypted": "ole2"}


def handler_for(name: str) -> FormatHandler | None:
    name = _HANDLED_AS.get(name, name)
    return next((h for h in _REGISTRY if h.name == name), None)


def identify(fh: BinaryIO) -> FormatInfo:
    fh.seek(0)
    head = fh.read(HEAD_BYTES)
    fh.seek(0)
    for handler in _REGISTRY:
        try:
            if handler.matches(head, fh):
                return handler.info(head, fh)
        finally:
            fh.seek(0)
    return FormatInfo("unknown", "application/octet-stream")



def head_tail(fh: BinaryIO) -> tuple[bytes, bytes]:
    fh.seek(0)
    head = fh.read(_TAIL_BYTES)
    fh.seek(0, io.SEEK_END)
    size = fh.tell()
    fh.seek(max(0, size - _TAIL_BYTES))
    tail = fh.read(_TAIL_BYTES)
    fh.seek(0)
    return head, tail


def xml_text_of(data: bytes) -> str:
    try:
        root = SafeET.fromstring(data)
    except Exception:  # noqa: BLE001 - any parse failure means "no text", probe reports it
        return ""
    return " ".join(t.strip() for t in root.itertext() if t and t.strip())


def probe_bytes(data: bytes) -> tuple[FormatInfo, Probe]:
    """Identify and probe an in-memory file (tests, small payloads)."""
    fh = io.BytesIO(data)
    info = identify(fh)
    handler = handler_for(info.name)
    probe = handler.probe(fh) if handler else Probe(readable=False)
    return probe.format or info, probe
