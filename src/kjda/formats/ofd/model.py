"""The plain parts of the OFD model: XML helpers over namespace-stripped trees, the date forms
real OFDs carry, and the small records (DocInfo, fonts, media, attachments, signatures, text)
that `OFDDocument` hands out; `OFDError`, and `PartReader`: what a document needs of its
package (`OFDPackage` is one), so that the document module need not import the package one."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Protocol

from kjda.errors import DomainError

if TYPE_CHECKING:
    from lxml import etree


class OFDError(DomainError):
    """An OFD that can't be read safely. `code` is stable; `zh`/`en` say why."""

    status = 422


class PartReader(Protocol):
    """The parts of an OFD package by path (implemented by `OFDPackage`)."""

    def find(self, path: str, base: str = "") -> str | None: ...

    def read(self, path: str, base: str = "") -> bytes: ...

    def xml(self, path: str, base: str = "") -> etree._Element: ...


def path_dir(path: str) -> str:
    return posixpath.dirname(path)


def el_text(el: etree._Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def el_child(el: etree._Element | None, tag: str) -> etree._Element | None:
    if el is None:
        return None
    for c in el:
        if isinstance(c.tag, str) and c.tag == tag:
            return c
    return None


def el_children(el: etree._Element | None, tag: str) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str) and c.tag == tag] if el is not None else []


def floats(value: str | None) -> list[float]:
    out = []
    for tok in (value or "").replace(",", " ").split():
        try:
            out.append(float(tok))
        except ValueError:
            continue
    return out


_PDF_DATE = re.compile(r"^D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:([Zz+\-])(\d{2})?'?(\d{2})?'?)?")
_CJK_DATE = re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?(Z)?$")


def parse_ofd_date(value: str | None) -> date | datetime | None:
    """DocInfo/attachment/signature dates. The standard says xs:date or xs:dateTime; real files also
    carry `2020/04/23 16:02:18`, `2025年01月06日`, ASN.1 `20210331075023Z` and PDF-style
    `D:20220708103442+02'34'` (WPS). None when nothing date-like is there (never a guess)."""
    s = (value or "").strip()
    if not s:
        return None
    m = _PDF_DATE.match(s)
    if m:
        y, mo, d, h, mi, sec = (int(g) if g else dflt for g, dflt in zip(m.groups()[:6], (0, 1, 1, 0, 0, 0), strict=True))
        tz = None
        if m.group(7):
            sign = -1 if m.group(7) == "-" else 1
            off = timedelta(hours=int(m.group(8) or 0), minutes=int(m.group(9) or 0))
            if abs(off) < timedelta(hours=24):
                tz = timezone(sign * off)
        try:
            return datetime(y, mo, d, h, mi, sec, tzinfo=tz)
        except ValueError:
            return None
    m = _CJK_DATE.match(s)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            return None
    m = _COMPACT.match(s)
    if m:
        try:
            y, mo, d, h, mi, sec = (int(g) for g in m.groups()[:6])
            return datetime(y, mo, d, h, mi, sec, tzinfo=UTC if m[7] else None)
        except ValueError:
            return None
    iso = s.replace("/", "-").replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(iso)
        return parsed.date() if len(iso) <= 10 else parsed
    except ValueError:
        pass
    try:
        return date.fromisoformat(iso)
    except ValueError:
        return None


@dataclass
class DocInfo:
    doc_id: str = ""
    title: str = ""
    author: str = ""
    subject: str = ""
    abstract: str = ""
    creator: str = ""
    creator_version: str = ""
    creation_date_raw: str = ""
    mod_date_raw: str = ""
    keywords: list[str] = field(default_factory=list)

    @property
    def creation_date(self) -> date | datetime | None:
        return parse_ofd_date(self.creation_date_raw)

    @property
    def mod_date(self) -> date | datetime | None:
        return parse_ofd_date(self.mod_date_raw)


@dataclass
class Font:
    id: str
    name: str
    family: str = ""
    bold: bool = False
    italic: bool = False
    path: str | None = None  # member holding the embedded font file, if any


@dataclass
class Media:
    id: str
    type: str
    format: str
    ref: str
    path: str | None  # None: referenced but missing from the package


@dataclass
class Attachment:
    id: str
    name: str
    format: str
    path: str | None
    data: bytes | None
    creation_date: str = ""
    usage: str = ""
    visible: bool = True

    @property
    def filename(self) -> str:
        return posixpath.basename(self.path) if self.path else self.name


@dataclass
class SignatureRef:
    id: str
    type: str  # "Seal" (电子签章) or "Sign" (电子签名), GB/T 33190 §18
    path: str | None
    ref: str


@dataclass
class Resources:
    fonts: dict[str, Font] = field(default_factory=dict)
    media: dict[str, Media] = field(default_factory=dict)
    draw_params: dict[str, etree._Element] = field(default_factory=dict)
    composite_units: dict[str, etree._Element] = field(default_factory=dict)
    color_spaces: dict[str, etree._Element] = field(default_factory=dict)


@dataclass
class TextItem:
    object_id: str
    text: str
    x: float
    y: float
    size: float
