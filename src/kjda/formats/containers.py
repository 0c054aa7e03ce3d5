"""ZIP containers (OFD, OOXML, OpenDocument, plain ZIP) and OLE2 compound files (legacy
Office, encrypted OOXML): recognised by member names, probed with the OFD package's limits."""

from __future__ import annotations

import re
import zipfile
from typing import BinaryIO

from kjda.formats.base import (
    MAX_TEXT_CHARS,
    MAX_XML_BYTES,
    MAX_ZIP_ENTRIES,
    FormatHandler,
    FormatInfo,
    Probe,
    register,
    xml_text_of,
)


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
            from kjda.formats.ofd.package import DEFAULT_LIMITS, OFDError, OFDLimits, OFDPackage

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
        return names is not None and any(n.lstrip("/") == "OFD.xml" for n in names)

    def probe(self, fh: BinaryIO) -> Probe:
        return _zip_probe(fh, required="OFD.xml")

    # No `extract_text`: the Inspect step (`kjda.ingest.content`) reads an OFD's text once,
    # through the OFD reader (pages in reading order, templates included).


def ofd_xml_text(fh: BinaryIO) -> str:
    """The text of an OFD's page and attachment XML parts, read as plain XML: for an OFD the OFD
    reader can't open as a document (no or broken DocBody), whose pages still hold text."""
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
                    parts.append(xml_text_of(member.read(MAX_XML_BYTES)))
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
        return head.startswith(b"PK\x03\x04") and m is not None and m.group(1).decode() in _ODF

    def info(self, head: bytes, fh: BinaryIO) -> FormatInfo:
        m = _ODF_MIME.search(head[30:120])
        assert m is not None  # matches() found it
        kind = m.group(1).decode()
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

