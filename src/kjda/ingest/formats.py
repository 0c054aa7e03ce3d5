"""Format identification by content (never by file name), through a registry of handlers.

Each handler recognises its format from the first bytes (and, for ZIP containers, the member
names), then `probe` opens the file with limits to tell whether it is readable and encrypted, and
`extract_text` returns text for the search index. Issue #5 deepens PDF/A, OFD and invoices.
"""

from __future__ import annotations

import io
import re
import threading
import zipfile
from dataclasses import dataclass, field
from typing import BinaryIO, ClassVar

from defusedxml import ElementTree as SafeET

HEAD_BYTES = 8192
MAX_TEXT_CHARS = 200_000
MAX_ZIP_ENTRIES = 10_000
MAX_XML_BYTES = 64 * 1024 * 1024
# PDFium is not thread-safe (pypdfium2 docs): the web server runs requests in threads.
_PDFIUM_LOCK = threading.Lock()


@dataclass
class FormatInfo:
    name: str  # short id: pdf, ofd, xml, jpeg, png, tiff, txt, zip, docx, …
    mime: str
    puid: str = ""
    version: str = ""
    archival: bool = False  # an allowed long-term format (DA/T 94 §6.4, standards.md §3.5)


@dataclass
class Probe:
    readable: bool
    encrypted: bool = False
    pages: int | None = None
    problems: list[str] = field(default_factory=list)
    properties: dict = field(default_factory=dict)


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


def handler_for(name: str) -> FormatHandler | None:
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


def _zip_names(fh: BinaryIO) -> list[str] | None:
    try:
        fh.seek(0)
        with zipfile.ZipFile(fh) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ZIP_ENTRIES:
                return None
            return [i.filename for i in infos]
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


# --- PDF -----------------------------------------------------------------------------------

_PDF_PUID = {"1.0": "fmt/14", "1.1": "fmt/15", "1.2": "fmt/16", "1.3": "fmt/17", "1.4": "fmt/18",
             "1.5": "fmt/19", "1.6": "fmt/20", "1.7": "fmt/276", "2.0": "fmt/1129"}
_PDFA_PUID = {"1A": "fmt/95", "1B": "fmt/354", "2A": "fmt/476", "2B": "fmt/477", "2U": "fmt/478",
              "3A": "fmt/479", "3B": "fmt/480", "3U": "fmt/481"}
_PDF_HEADER = re.compile(rb"%PDF-(\d\.\d)")
_PDFA_PART = re.compile(rb"pdfaid:part(?:>|=\")\s*(\d)")
_PDFA_CONF = re.compile(rb"pdfaid:conformance(?:>|=\")\s*([ABUabu])")


@register
class PdfHandler(FormatHandler):
    name = "pdf"
    mime = "application/pdf"
    archival = True

    def matches(self, head: bytes, fh: BinaryIO) -> bool:
        return b"%PDF-" in head[:1024]

    def info(self, head: bytes, fh: BinaryIO) -> FormatInfo:
        m = _PDF_HEADER.search(head[:1024])
        version = m.group(1).decode() if m else ""
        info = FormatInfo(self.name, self.mime, _PDF_PUID.get(version, ""), version, True)
        # The XMP packet usually sits in the first megabyte; a cheap claim, checked in #5.
        fh.seek(0)
        chunk = fh.read(1024 * 1024)
        part, conf = _PDFA_PART.search(chunk), _PDFA_CONF.search(chunk)
        if part:
            level = part.group(1).decode() + (conf.group(1).decode().upper() if conf else "")
            info.name, info.version = "pdfa", level
            info.puid = _PDFA_PUID.get(level, info.puid)
        return info

    def probe(self, fh: BinaryIO) -> Probe:
        import pikepdf

        fh.seek(0)
        try:
            with pikepdf.open(fh) as pdf:
                encrypted = bool(pdf.is_encrypted)
                pages = len(pdf.pages)
                problems = []
                if encrypted:
                    problems.append("PDF 已加密 / PDF is encrypted")
                return Probe(readable=True, encrypted=encrypted, pages=pages, problems=problems,
                             properties={"pdf_version": pdf.pdf_version})
        except pikepdf.PasswordError:
            return Probe(readable=False, encrypted=True,
                         problems=["PDF 需要密码 / PDF is password-protected"])
        except pikepdf.PdfError as exc:
            return Probe(readable=False, problems=[f"PDF 无法解析 / PDF cannot be parsed: {exc}"])

    def extract_text(self, fh: BinaryIO) -> str:
        fh.seek(0)
        data = fh.read()
        with _PDFIUM_LOCK:
            return self._pdfium_text(data)

    @staticmethod
    def _pdfium_text(data: bytes) -> str:
        import pypdfium2 as pdfium

        try:
            doc = pdfium.PdfDocument(data)
        except pdfium.PdfiumError:
            return ""
        parts: list[str] = []
        size = 0
        try:
            for index in range(len(doc)):
                page = doc[index]
                textpage = page.get_textpage()
                text = textpage.get_text_range()
                textpage.close()
                page.close()
                parts.append(text)
                size += len(text)
                if size > MAX_TEXT_CHARS:
                    break
        finally:
            doc.close()
        return cjk_spacing_removed("\n".join(parts))[:MAX_TEXT_CHARS]


@register
class PdfAHandler(PdfHandler):
    """Registered so `handler_for("pdfa")` finds the PDF code; identification goes via PDF."""

    name = "pdfa"

    def matches(self, head: bytes, fh: BinaryIO) -> bool:
        return False


# --- ZIP containers: OFD, Office, plain ZIP ---------------------------------------------------

def _zip_probe(fh: BinaryIO, required: str | None = None) -> Probe:
    fh.seek(0)
    try:
        with zipfile.ZipFile(fh) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ZIP_ENTRIES:
                return Probe(readable=False, problems=["压缩包条目过多 / too many ZIP entries"])
            encrypted = any(i.flag_bits & 0x1 for i in infos)
            problems = []
            if encrypted:
                problems.append("压缩包已加密 / ZIP entries are encrypted")
            if any(i.filename.startswith("/") or ".." in i.filename.split("/") for i in infos):
                problems.append("压缩包含越界路径 / ZIP has path-traversal entries")
            if required and required not in {i.filename.lstrip("/") for i in infos}:
                problems.append(f"缺少 {required} / {required} missing")
            from kjda.ingest.ofd.package import DEFAULT_LIMITS, OFDError, OFDLimits, OFDPackage

            # Declared sizes, ratio, count and paths, before testzip inflates anything. Plain
            # ZIPs and Office files may be bigger than an OFD, not more compressed.
            limits = DEFAULT_LIMITS if required == "OFD.xml" else OFDLimits(
                max_entries=MAX_ZIP_ENTRIES, max_entry_bytes=4 * 1024**3, max_total_bytes=16 * 1024**3)
            try:
                OFDPackage(zf, limits=limits)
            except OFDError as exc:
                if exc.code != "ofd_encrypted":
                    return Probe(readable=False, problems=[exc.message])
            bad = zf.testzip() if not encrypted and len(infos) < 2000 else None
            if bad:
                problems.append(f"压缩包条目损坏 / corrupt ZIP entry: {bad}")
            return Probe(readable=not problems or (encrypted and len(problems) == 1),
                         encrypted=encrypted, problems=problems)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return Probe(readable=False, problems=[f"压缩包无法读取 / ZIP unreadable: {exc}"])


@register
class OfdHandler(FormatHandler):
    name = "ofd"
    mime = "application/ofd"
    archival = True

    def matches(self, head: bytes, fh: BinaryIO) -> bool:
        if not head.startswith(b"PK\x03\x04"):
            return False
        names = _zip_names(fh)
        return bool(names) and any(n.lstrip("/") == "OFD.xml" for n in names)

    def probe(self, fh: BinaryIO) -> Probe:
        return _zip_probe(fh, required="OFD.xml")

    def extract_text(self, fh: BinaryIO) -> str:
        fh.seek(0)
        parts: list[str] = []
        try:
            with zipfile.ZipFile(fh) as zf:
                for info in zf.infolist():
                    if not info.filename.endswith(".xml") or info.file_size > MAX_XML_BYTES:
                        continue
                    if "/Pages/" not in info.filename and "Attachs/" not in info.filename:
                        continue
                    with zf.open(info) as member:
                        parts.append(_xml_text(member.read(MAX_XML_BYTES)))
        except (zipfile.BadZipFile, OSError, ValueError):
            return ""
        return "\n".join(p for p in parts if p)[:MAX_TEXT_CHARS]


_OOXML = {"word/": ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "fmt/412"),
          "xl/": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "fmt/214"),
          "ppt/": ("pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation", "fmt/215")}


@register
class OoxmlHandler(FormatHandler):
    name = "ooxml"
    mime = "application/zip"

    def matches(self, head: bytes, fh: BinaryIO) -> bool:
        if not head.startswith(b"PK\x03\x04"):
            return False
        names = _zip_names(fh) or []
        return "[Content_Types].xml" in names and any(
            n.startswith(p) for n in names for p in _OOXML)

    def info(self, head: bytes, fh: BinaryIO) -> FormatInfo:
        names = _zip_names(fh) or []
        for prefix, (name, mime, puid) in _OOXML.items():
            if any(n.startswith(prefix) for n in names):
                return FormatInfo(name, mime, puid)
        return FormatInfo("zip", "application/zip", "x-fmt/263")

    def probe(self, fh: BinaryIO) -> Probe:
        return _zip_probe(fh)


@register
class ZipHandler(FormatHandler):
    name = "zip"
    mime = "application/zip"

    def matches(self, head: bytes, fh: BinaryIO) -> bool:
        return head.startswith((b"PK\x03\x04", b"PK\x05\x06"))

    def info(self, head: bytes, fh: BinaryIO) -> FormatInfo:
        return FormatInfo(self.name, self.mime, "x-fmt/263")

    def probe(self, fh: BinaryIO) -> Probe:
        return _zip_probe(fh)


@register
class OleHandler(FormatHandler):
    """Legacy Office (doc/xls/ppt) and other OLE2 compound files."""

    name = "ole2"
    mime = "application/x-ole-storage"

    def matches(self, head: bytes, fh: BinaryIO) -> bool:
        return head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")


# --- XML -------------------------------------------------------------------------------------

def _xml_text(data: bytes) -> str:
    try:
        root = SafeET.fromstring(data)
    except Exception:  # noqa: BLE001 - any parse failure means "no text", probe reports it
        return ""
    return " ".join(t.strip() for t in root.itertext() if t and t.strip())


@register
class XmlHandler(FormatHandler):
    name = "xml"
    mime = "application/xml"
    archival = True

    def matches(self, head: bytes, fh: BinaryIO) -> bool:
        text = head.lstrip(b"\xef\xbb\xbf").lstrip()
        return text.startswith(b"<?xml") or (text.startswith(b"<") and b">" in text[:512]
                                             and not text[:15].lower().startswith(b"<!doctype html"))

    def info(self, head: bytes, fh: BinaryIO) -> FormatInfo:
        if b"xbrl" in head[:4096].lower():
            return FormatInfo("xbrl", "application/xbrl+xml", "fmt/1186", archival=True)
        return FormatInfo(self.name, self.mime, "fmt/101", archival=True)

    def probe(self, fh: BinaryIO) -> Probe:
        fh.seek(0)
        data = fh.read(MAX_XML_BYTES + 1)
        if len(data) > MAX_XML_BYTES:
            return Probe(readable=False, problems=["XML 过大 / XML too large to check"])
        try:
            SafeET.fromstring(data)
        except Exception as exc:  # noqa: BLE001 - defusedxml raises several kinds
            return Probe(readable=False, problems=[f"XML 无法解析 / XML cannot be parsed: {exc}"])
        return Probe(readable=True)

    def extract_text(self, fh: BinaryIO) -> str:
        fh.seek(0)
        return _xml_text(fh.read(MAX_XML_BYTES))[:MAX_TEXT_CHARS]


@register
class XbrlHandler(XmlHandler):
    name = "xbrl"

    def matches(self, head: bytes, fh: BinaryIO) -> bool:
        return False


# --- JSON: structured data (the OA form and approval trail as data, beside their PDF/A) ------

@register
class JsonHandler(FormatHandler):
    name = "json"
    mime = "application/json"
    archival = True  # open, self-describing UTF-8 text (RFC 8259), like XML

    def matches(self, head: bytes, fh: BinaryIO) -> bool:
        text = head.lstrip(b"\xef\xbb\xbf").lstrip()
        return text[:1] in (b"{", b"[")

    def info(self, head: bytes, fh: BinaryIO) -> FormatInfo:
        return FormatInfo(self.name, self.mime, "fmt/817", archival=True)

    def probe(self, fh: BinaryIO) -> Probe:
        import json

        fh.seek(0)
        data = fh.read(MAX_XML_BYTES + 1)
        if len(data) > MAX_XML_BYTES:
            return Probe(readable=False, problems=["JSON 过大 / JSON too large to check"])
        try:
            json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError) as exc:
            return Probe(readable=False, problems=[f"JSON 无法解析 / JSON cannot be parsed: {exc}"])
        return Probe(readable=True)

    def extract_text(self, fh: BinaryIO) -> str:
        import json

        fh.seek(0)
        try:
            data = json.loads(fh.read(MAX_XML_BYTES).decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError):
            return ""
        parts: list[str] = []

        def walk(value) -> None:
            if isinstance(value, dict):
                for v in value.values():
                    walk(v)
            elif isinstance(value, list):
                for v in value:
                    walk(v)
            elif isinstance(value, str) and value.strip():
                parts.append(value.strip())

        walk(data)
        return " ".join(parts)[:MAX_TEXT_CHARS]


# --- Images ----------------------------------------------------------------------------------

class _ImageHandler(FormatHandler):
    archival = True
    magic: ClassVar[tuple[bytes, ...]]
    puid: ClassVar[str] = ""

    def matches(self, head: bytes, fh: BinaryIO) -> bool:
        return head.startswith(self.magic)

    def info(self, head: bytes, fh: BinaryIO) -> FormatInfo:
        return FormatInfo(self.name, self.mime, self.puid, archival=True)

    def probe(self, fh: BinaryIO) -> Probe:
        from PIL import Image, UnidentifiedImageError

        fh.seek(0)
        try:
            with Image.open(fh) as img:
                size = img.size
                img.verify()
            fh.seek(0)
            with Image.open(fh) as img:
                img.load()  # verify() misses truncated pixel data
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            return Probe(readable=False, problems=[f"图像无法读取 / image unreadable: {exc}"])
        return Probe(readable=True, pages=1, properties={"width": size[0], "height": size[1]})


@register
class JpegHandler(_ImageHandler):
    name, mime, magic, puid = "jpeg", "image/jpeg", (b"\xff\xd8\xff",), "fmt/43"


@register
class PngHandler(_ImageHandler):
    name, mime, magic, puid = "png", "image/png", (b"\x89PNG\r\n\x1a\n",), "fmt/13"


@register
class TiffHandler(_ImageHandler):
    name, mime, magic, puid = "tiff", "image/tiff", (b"II*\x00", b"MM\x00*"), "fmt/353"


# --- Executables (never archived) and plain text ----------------------------------------------

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


def probe_bytes(data: bytes) -> tuple[FormatInfo, Probe]:
    """Identify and probe an in-memory file (tests, small payloads)."""
    fh = io.BytesIO(data)
    info = identify(fh)
    handler = handler_for(info.name)
    probe = handler.probe(fh) if handler else Probe(readable=False)
    return info, probe
