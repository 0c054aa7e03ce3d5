"""Structured text: XML (with the XBRL and e-invoice profiles told apart by the root element)
and JSON."""

from __future__ import annotations

import re
from typing import BinaryIO

from defusedxml import ElementTree as SafeET

from kjda.formats.base import (
    MAX_TEXT_CHARS,
    MAX_XML_BYTES,
    FormatHandler,
    FormatInfo,
    Probe,
    register,
    xml_text_of,
)

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
        return xml_text_of(fh.read(MAX_XML_BYTES))[:MAX_TEXT_CHARS]


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

