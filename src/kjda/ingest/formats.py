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
from collections.abc import Iterator
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

# PRONOM ids (checked against siegfried's PRONOM signatures, DROID V125, in the tests).
_PDF_PUID = {"1.0": "fmt/14", "1.1": "fmt/15", "1.2": "fmt/16", "1.3": "fmt/17", "1.4": "fmt/18",
             "1.5": "fmt/19", "1.6": "fmt/20", "1.7": "fmt/276", "2.0": "fmt/1129"}
_PDFA_PUID = {"1A": "fmt/95", "1B": "fmt/354", "2A": "fmt/476", "2B": "fmt/477", "2U": "fmt/478",
              "3A": "fmt/479", "3B": "fmt/480", "3U": "fmt/481"}
_PDF_HEADER = re.compile(rb"%PDF-(\d\.\d)")
_PDFA_PART = re.compile(rb"pdfaid:part(?:>|=[\"'])\s*(\d)")
_PDFA_CONF = re.compile(rb"pdfaid:conformance(?:>|=[\"'])\s*([ABUabu])")
_TAIL_BYTES = 2048


def _head_tail(fh: BinaryIO) -> tuple[bytes, bytes]:
    fh.seek(0)
    head = fh.read(_TAIL_BYTES)
    fh.seek(0, io.SEEK_END)
    size = fh.tell()
    fh.seek(max(0, size - _TAIL_BYTES))
    tail = fh.read(_TAIL_BYTES)
    fh.seek(0)
    return head, tail


def pdf_format(version: str, claim: str | None) -> FormatInfo:
    """PDF or PDF/A by the header version and the (validly stated) PDF/A claim."""
    if claim and claim in _PDFA_PUID:
        return FormatInfo("pdfa", "application/pdf", _PDFA_PUID[claim], claim, True,
                          profile=f"PDF/A-{claim[0]}{claim[1:].lower()}")
    return FormatInfo("pdf", "application/pdf", _PDF_PUID.get(version, ""), version, True)


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
        # A cheap first look at the claim in the XMP packet (usually in the first megabyte);
        # `probe` reads it properly (namespace, part) and corrects it.
        fh.seek(0)
        chunk = fh.read(1024 * 1024)
        part, conf = _PDFA_PART.search(chunk), _PDFA_CONF.search(chunk)
        claim = part.group(1).decode() + conf.group(1).decode().upper() if part and conf else None
        return pdf_format(version, claim)

    def probe(self, fh: BinaryIO) -> Probe:
        import pikepdf

        from kjda.ingest.pdfa_check import pdfa_check_pdf

        head, tail = _head_tail(fh)
        problems = []
        if b"%%EOF" not in tail:
            problems.append("PDF 不完整：末尾没有 %%EOF，可能被截断 / PDF is truncated: no %%EOF at "
                            "the end")
        fh.seek(0)
        try:
            with pikepdf.open(fh) as pdf:
                encrypted = bool(pdf.is_encrypted)
                pages = len(pdf.pages)
                if any("reconstruct" in w or "damaged" in w for w in pdf.get_warnings()):
                    problems.append("PDF 交叉引用表损坏（只能重建后读取） / PDF cross-reference "
                                    "table is broken (readable only by reconstruction)")
                report = pdfa_check_pdf(pdf, head=head, tail=tail)
                damaged = bool(problems)
                if encrypted:
                    problems.append("PDF 已加密 / PDF is encrypted")
                return Probe(readable=not damaged, encrypted=encrypted, pages=pages, problems=problems,
                             properties={"pdf_version": pdf.pdf_version,
                                         "pdfa": report.as_dict()},
                             format=pdf_format(pdf.pdf_version, report.claimed))
        except pikepdf.PasswordError:
            return Probe(readable=False, encrypted=True,
                         problems=["PDF 需要密码 / PDF is password-protected"])
        except pikepdf.PdfError as exc:
            return Probe(readable=False, problems=problems + [
                f"PDF 无法解析 / PDF cannot be parsed: {exc}"])

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


# OpenDocument: the first member is an uncompressed `mimetype`; the PRONOM id follows the
# office:version of the manifest (ids as siegfried's PRONOM signatures assign them).
_ODF = {"text": ("odt", {"1.0": "fmt/136", "1.1": "fmt/290", "1.2": "fmt/291", "1.3": "fmt/1756"}),
        "spreadsheet": ("ods", {"1.0": "fmt/137", "1.1": "fmt/294", "1.2": "fmt/295",
                                "1.3": "fmt/1755"}),
        "presentation": ("odp", {"1.0": "fmt/138", "1.1": "fmt/292", "1.2": "fmt/293",
                                 "1.3": "fmt/1754"})}
_ODF_MIME = re.compile(rb"mimetypeapplication/vnd\.oasis\.opendocument\.(\w+)")
_ODF_VERSION = re.compile(rb'manifest:version="([\d.]+)"')


@register
class OdfHandler(FormatHandler):
    name = "odf"
    mime = "application/vnd.oasis.opendocument"

    def matches(self, head: bytes, fh: BinaryIO) -> bool:
        m = _ODF_MIME.search(head[30:120])
        return head.startswith(b"PK\x03\x04") and bool(m) and m.group(1).decode() in _ODF

    def info(self, head: bytes, fh: BinaryIO) -> FormatInfo:
        kind = _ODF_MIME.search(head[30:120]).group(1).decode()
        name, puids = _ODF[kind]
        version = ""
        fh.seek(0)
        try:
            with zipfile.ZipFile(fh) as zf, zf.open("META-INF/manifest.xml") as member:
                m = _ODF_VERSION.search(member.read(64 * 1024))
                version = m.group(1).decode() if m else ""
        except (KeyError, zipfile.BadZipFile, OSError, ValueError):
            pass
        return FormatInfo(name, f"application/vnd.oasis.opendocument.{kind}",
                          puids.get(version, ""), version)

    def probe(self, fh: BinaryIO) -> Probe:
        probe = _zip_probe(fh)
        fh.seek(0)
        try:
            with zipfile.ZipFile(fh) as zf, zf.open("META-INF/manifest.xml") as member:
                # ODF encryption is declared per file in the manifest (ODF 1.2 §3.8).
                if b"encryption-data" in member.read(4 * 1024 * 1024):
                    probe.encrypted = True
                    probe.problems.append("文档已加密（需要密码） / document is password-protected")
        except (KeyError, zipfile.BadZipFile, OSError, ValueError):
            pass
        return probe


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


_OLE_STREAMS = {"WordDocument": ("doc", "application/msword", "fmt/40"),
                "Workbook": ("xls", "application/vnd.ms-excel", "fmt/61"),
                "PowerPoint Document": ("ppt", "application/vnd.ms-powerpoint", "fmt/126")}
MAX_OLE_SCAN = 16 * 1024 * 1024


def _ole_names(fh: BinaryIO) -> set[str]:
    """Stream names found in the compound file's directory sectors (UTF-16LE entry names):
    enough to tell Word, Excel, PowerPoint and an encrypted OOXML package apart."""
    fh.seek(0)
    data = fh.read(MAX_OLE_SCAN)
    names = set()
    for name in (*_OLE_STREAMS, "EncryptedPackage", "EncryptionInfo"):
        if name.encode("utf-16-le") + b"\x00\x00" in data:
            names.add(name)
    return names


@register
class OleHandler(FormatHandler):
    """Legacy Office (doc/xls/ppt) and other OLE2 compound files; a password-protected
    docx/xlsx/pptx is an OLE2 file holding an EncryptedPackage stream (MS-OFFCRYPTO)."""

    name = "ole2"
    mime = "application/x-ole-storage"

    def matches(self, head: bytes, fh: BinaryIO) -> bool:
        return head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")

    def info(self, head: bytes, fh: BinaryIO) -> FormatInfo:
        names = _ole_names(fh)
        if "EncryptedPackage" in names:
            return FormatInfo("ooxml-encrypted", "application/x-ole-storage", profile="encrypted")
        for stream, (name, mime, puid) in _OLE_STREAMS.items():
            if stream in names:
                return FormatInfo(name, mime, puid)
        return FormatInfo(self.name, self.mime)

    def probe(self, fh: BinaryIO) -> Probe:
        if "EncryptedPackage" in _ole_names(fh):
            return Probe(readable=False, encrypted=True,
                         problems=["Office 文档已加密（需要密码） / Office document is "
                                   "password-protected"])
        return Probe(readable=True)


# --- XML -------------------------------------------------------------------------------------

def _xml_text(data: bytes) -> str:
    try:
        root = SafeET.fromstring(data)
    except Exception:  # noqa: BLE001 - any parse failure means "no text", probe reports it
        return ""
    return " ".join(t.strip() for t in root.itertext() if t and t.strip())


_NS_XBRL = "http://www.xbrl.org/2003/instance"
_NS_EINVOICE_2019 = "http://www.edrm.org.cn/schema/e-invoice/2019"
_XML_PROLOG = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>)", re.S)
_XML_ROOT = re.compile(rb"\s*<(?:[\w.-]+:)?([\w.-]+)([^>]*)>", re.S)
_XMLNS = re.compile(rb"""xmlns(?::[\w.-]+)?\s*=\s*["']([^"']*)["']""")


def _xml_root(text: bytes) -> tuple[str, set[str]]:
    """The root element's local name and the namespaces declared on it (from the head)."""
    pos = 0
    while m := _XML_PROLOG.match(text, pos):
        if m.end() == pos:
            break
        pos = m.end()
    m = _XML_ROOT.match(text, pos)
    if not m:
        return "", set()
    return (m.group(1).decode("ascii", "replace"),
            {ns.decode("utf-8", "replace") for ns in _XMLNS.findall(m.group(2))})


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
        text = head.lstrip(b"\xef\xbb\xbf").lstrip()
        # PRONOM's XML 1.0 signature (fmt/101) needs the XML declaration; PRONOM has no XBRL
        # entry, so an XBRL instance is XML 1.0 there too.
        puid = "fmt/101" if text.startswith(b"<?xml") else ""
        root, namespaces = _xml_root(text)
        if root == "xbrl" and _NS_XBRL in namespaces:
            profile = "mof-evoucher" if any("xbrl.mof.gov.cn" in n for n in namespaces) else ""
            return FormatInfo("xbrl", "application/xbrl+xml", puid, archival=True,
                              profile=profile)
        if root == "EInvoice":
            profile = "einvoice-digital"  # 数电票 (全面数字化的电子发票) XML
        elif _NS_EINVOICE_2019 in namespaces:
            profile = "einvoice-2019"  # 增值税电子发票 structured data (original_invoice.xml)
        else:
            profile = ""
        return FormatInfo(self.name, self.mime, puid, archival=True, profile=profile)

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

    def complete(self, fh: BinaryIO) -> bool:
        """Whether the file ends the way the format says it must (not truncated)."""
        return True

    def refined(self, img, info: FormatInfo) -> FormatInfo | None:
        return None

    def probe(self, fh: BinaryIO) -> Probe:
        from PIL import Image, UnidentifiedImageError

        if not self.complete(fh):
            return Probe(readable=False, problems=["图像不完整（缺少结束标记，可能被截断） / image "
                                                   "is truncated (no end marker)"])
        fh.seek(0)
        head = fh.read(HEAD_BYTES)
        try:
            fh.seek(0)
            with Image.open(fh) as img:
                size = img.size
                img.verify()
            fh.seek(0)
            with Image.open(fh) as img:
                img.load()  # verify() misses truncated pixel data
                refined = self.refined(img, self.info(head, fh))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            return Probe(readable=False, problems=[f"图像无法读取 / image unreadable: {exc}"])
        return Probe(readable=True, pages=1, properties={"width": size[0], "height": size[1]},
                     format=refined)


# PRONOM ids of JFIF by its version, and of Exif-only JPEG by its ExifVersion tag (as
# siegfried's PRONOM signatures assign them); neither: "raw JPEG stream" fmt/41.
_JFIF_PUID = {(1, 0): "fmt/42", (1, 1): "fmt/43", (1, 2): "fmt/44"}
_EXIF_PUID = {"0200": "x-fmt/398", "0210": "x-fmt/390", "0220": "x-fmt/391", "0221": "fmt/645",
              "0230": "fmt/1507"}


@register
class JpegHandler(_ImageHandler):
    name, mime, magic, puid = "jpeg", "image/jpeg", (b"\xff\xd8\xff",), "fmt/41"

    def info(self, head: bytes, fh: BinaryIO) -> FormatInfo:
        puid = self.puid
        if head[2:4] == b"\xff\xe0" and head[6:11] == b"JFIF\x00":
            puid = _JFIF_PUID.get((head[11], head[12]), self.puid)
        return FormatInfo(self.name, self.mime, puid, archival=True)

    def complete(self, fh: BinaryIO) -> bool:
        _, tail = _head_tail(fh)
        return b"\xff\xd9" in tail  # EOI, possibly followed by padding

    def refined(self, img, info: FormatInfo) -> FormatInfo | None:
        if info.puid != self.puid:
            return None  # JFIF decided it
        version = img.getexif().get_ifd(0x8769).get(0x9000)
        if isinstance(version, bytes):
            version = version.decode("ascii", "replace")
        puid = _EXIF_PUID.get(str(version or ""), "")
        return FormatInfo(self.name, self.mime, puid, archival=True) if puid else None


def _png_chunks(fh: BinaryIO) -> Iterator[bytes]:
    fh.seek(8)
    for _ in range(100_000):
        header = fh.read(8)
        if len(header) < 8:
            return
        length = int.from_bytes(header[:4], "big")
        yield header[4:]
        fh.seek(length + 4, io.SEEK_CUR)


@register
class PngHandler(_ImageHandler):
    name, mime, magic, puid = "png", "image/png", (b"\x89PNG\r\n\x1a\n",), "fmt/11"

    def info(self, head: bytes, fh: BinaryIO) -> FormatInfo:
        # PRONOM tells PNG 1.0/1.1/1.2 apart by the chunks each version introduced.
        chunks = set(_png_chunks(fh))
        fh.seek(0)
        puid = ("fmt/13" if b"iTXt" in chunks else
                "fmt/12" if chunks & {b"iCCP", b"sRGB", b"sPLT"} else "fmt/11")
        return FormatInfo(self.name, self.mime, puid, archival=True)

    def complete(self, fh: BinaryIO) -> bool:
        return b"IEND" in set(_png_chunks(fh))


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
    return probe.format or info, probe
