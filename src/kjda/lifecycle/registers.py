"""The registers of 79号令 as documents: 移交清册, 保管清册, 鉴定意见书, 销毁清册, 卷内目录, 备考表.

A `Register` is a title, the particulars above the table (unit, fonds, number, …), the table itself
(columns and an iterable of rows, so 100,000 items stream), a summary, the signatures and notes.
`register_pdf` lays it out as PDF/A-2b (A4 landscape by default, the header row repeated on every
page, "第 N 页 共 M 页"); `register_xlsx` writes the same table to Excel with its particulars
and signatures above and below. Both are deterministic for the same register and `created`, so
a register's digest (what the signatories sign) can be recomputed.

The table is drawn on the canvas row by row rather than through reportlab's platypus tables:
platypus splits one table across pages in time that grows with its length, which a 100,000-row
销毁清册 cannot afford (bench/registers.py).
"""

from __future__ import annotations

import hashlib
import io
import threading
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfdoc import PDFArray, PDFName, PDFStream
from reportlab.pdfgen import canvas

from kjda.accounts.services import system_user
from kjda.archives.access_log import register_download_log
from kjda.archives.downloads import FILE_HEADERS
from kjda.archives.models import Record
from kjda.errors import NotFound
from kjda.export_cells import cell_value
from kjda.formats.fonts import cjk_font
from kjda.formats.pdfa import make_pdfa2b
from kjda.ingest.metadata import FileMetaIn, RecordMetadata, RelationIn
from kjda.ingest.renditions import display_tz
from kjda.ingest.services import record_ingest
from kjda.ingest.types import IncomingFile

LINE, HEADER_BG = colors.HexColor("#7a8494"), colors.HexColor("#eef1f5")
FONT_SIZE, LEADING, PAD = 8.5, 11.0, 3.0
MAX_LINES = 4  # a cell longer than this many lines ends in "…" (the full text is in the xlsx)


@dataclass(frozen=True)
class Column:
    label: str
    weight: float = 1.0  # share of the table's width
    align: str = "left"  # "left" | "right" | "center"


@dataclass(frozen=True)
class Signature:
    """One signatory's line: the role they sign as, and (once signed) who, when and what."""

    role: str
    name: str = ""
    signed_at: datetime | None = None
    opinion: str = ""


@dataclass
class Register:
    title: str
    columns: Sequence[Column]
    rows: Iterable[Sequence[Any]]
    particulars: Sequence[tuple[str, str]] = ()  # (label, value) above the table
    summary: Sequence[tuple[str, str]] = ()  # (label, value) below the table
    signatures: Sequence[Signature] = ()
    notes: str = ""
    landscape: bool = True
    author: str = "KJDA"
    created: datetime | None = None
    extra_sections: Sequence[tuple[str, str]] = field(default_factory=tuple)  # (heading, text)


def text_of(value: Any) -> str:
    """A cell as the register shows it: dates as YYYY-MM-DD, amounts with two decimals."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(display_tz())
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return str(value)


def _when(value: datetime | None) -> str:
    return text_of(value) if value else ""


class _Text:
    """Width of text in the register's font, cached per character (CJK text repeats a lot)."""

    def __init__(self, font: str, size: float) -> None:
        self.font, self.size = font, size
        self._widths: dict[str, float] = {}
        face = pdfmetrics.getFont(font).face
        self._glyphs = face.charToGlyph

    def width(self, text: str) -> float:
        w = self._widths
        total = 0.0
        for ch in text:
            cw = w.get(ch)
            if cw is None:
                cw = w[ch] = pdfmetrics.stringWidth(ch, self.font, self.size)
            total += cw
        return total

    def clean(self, text: str) -> str:
        return "".join(ch if ord(ch) in self._glyphs or ch == " " else "〓"
                       for ch in text.replace("\r", "").replace("\t", " ") if ch >= " " or ch == "\n")

    def wrap(self, text: str, width: float, max_lines: int = MAX_LINES) -> list[str]:
        """Lines of `text` no wider than `width`, broken at any character (CJK has no spaces)."""
        lines: list[str] = []
        for para in self.clean(text).split("\n"):
            line, used = "", 0.0
            for ch in para:
                cw = self.width(ch)
                if used + cw > width and line:
                    lines.append(line)
                    line, used = "", 0.0
                line += ch
                used += cw
            lines.append(line)
        if len(lines) > max_lines:
            lines = lines[:max_lines]
            lines[-1] = lines[-1][:-1] + "…" if lines[-1] else "…"
        return lines


class _CompactCanvas(canvas.Canvas):
    """A canvas that compresses each page's content stream when the page is finished, not
    when the document is saved: reportlab otherwise holds every page's drawing operators as
    text until the end, ~2 KB per table row (a 100,000-row 销毁清册 grew by ~190 MB)."""

    def showPage(self) -> None:
        super().showPage()
        page = self._doc.Pages.pages[-1]
        stream = getattr(page, "stream", None)
        if stream and not page.Contents:
            data = stream.encode("utf8") if isinstance(stream, str) else stream
            packed = PDFStream(content=zlib.compress(data), filters=[])
            packed.dictionary["Filter"] = PDFArray([PDFName("FlateDecode")])
            packed.__Comment__ = "page stream"
            page.Contents, page.stream = packed, None


# reportlab keeps per-font subsetting state that breaks when two documents are built at once.
_BUILD_LOCK = threading.Lock()


def register_pdf(register: Register) -> bytes:
    """The register as PDF/A-2b."""
    with _BUILD_LOCK:
        raw = _draw(register)
    return make_pdfa2b(raw, title=register.title, author=register.author,
                       subject=register.title, created=register.created)


def _draw(reg: Register) -> bytes:
    font = cjk_font()
    pagesize = landscape(A4) if reg.landscape else A4
    page_w, page_h = pagesize
    margin = 15 * mm
    usable = page_w - 2 * margin
    total_weight = sum(c.weight for c in reg.columns) or 1.0
    widths = [usable * c.weight / total_weight for c in reg.columns]
    text = _Text(font, FONT_SIZE)
    buf = io.BytesIO()
    c = _CompactCanvas(buf, pagesize=pagesize, invariant=1, initialFontName=font,
                       enforceColorSpace="rgb")
    c.setTitle(reg.title)
    c.setAuthor(reg.author)
    state = {"page": 0}
    bottom = margin + 8 * mm

    def footer() -> None:
        c.setFont(font, 8)
        c.setFillColor(colors.HexColor("#555555"))
        c.drawString(margin, 9 * mm, text.clean(reg.title))
        c.drawRightString(page_w - margin - 12 * mm, 9 * mm, f"第 {state['page']} 页")
        c.doForm("page_total")  # "共 M 页", drawn once the page count is known
        c.setFillColor(colors.black)

    def new_page() -> float:
        if state["page"]:
            footer()
            c.showPage()
        state["page"] += 1
        return page_h - margin

    def header_row(y: float) -> float:
        heights = [len(text.wrap(col.label, w - 2 * PAD, 2)) for col, w in zip(reg.columns, widths, strict=True)]
        h = max(heights) * LEADING + 2 * PAD
        x = margin
        c.setFillColor(HEADER_BG)
        c.rect(margin, y - h, usable, h, stroke=0, fill=1)
        c.setFillColor(colors.black)
        c.setFont(font, FONT_SIZE)
        for col, w in zip(reg.columns, widths, strict=True):
            for i, line in enumerate(text.wrap(col.label, w - 2 * PAD, 2)):
                c.drawCentredString(x + w / 2, y - PAD - (i + 1) * LEADING + 2.5, line)
            x += w
        _grid(y, h)
        return y - h

    def _grid(y: float, h: float) -> None:
        c.setStrokeColor(LINE)
        c.setLineWidth(0.5)
        c.rect(margin, y - h, usable, h, stroke=1, fill=0)
        x = margin
        for w in widths[:-1]:
            x += w
            c.line(x, y, x, y - h)

    def paragraph(y: float, value: str, size: float = 9.5, centred: bool = False) -> float:
        t = _Text(font, size)
        for line in t.wrap(value, usable, 50):
            if y - size * 1.5 < bottom:
                y = new_page()
            c.setFont(font, size)
            if centred:
                c.drawCentredString(page_w / 2, y - size * 1.2, line)
            else:
                c.drawString(margin, y - size * 1.2, line)
            y -= size * 1.5
        return y

    y = new_page()
    c.setFont(font, 17)
    c.drawCentredString(page_w / 2, y - 20, text.clean(reg.title))
    y -= 30
    if reg.particulars:
        y = paragraph(y, "    ".join(f"{k}：{v}" for k, v in reg.particulars), centred=True)
    y -= 4
    y = header_row(y)
    count = 0
    for row in reg.rows:
        cells = [text.wrap(text_of(v), w - 2 * PAD) for v, w in zip(row, widths, strict=True)]
        h = max(len(lines) for lines in cells) * LEADING + 2 * PAD
        if y - h < bottom:
            y = header_row(new_page())
        c.setFont(font, FONT_SIZE)
        x = margin
        for col, w, lines in zip(reg.columns, widths, cells, strict=True):
            for i, line in enumerate(lines):
                base = y - PAD - (i + 1) * LEADING + 2.5
                if col.align == "right":
                    c.drawRightString(x + w - PAD, base, line)
                elif col.align == "center":
                    c.drawCentredString(x + w / 2, base, line)
                else:
                    c.drawString(x + PAD, base, line)
            x += w
        _grid(y, h)
        y -= h
        count += 1
    if not count:
        y = paragraph(y, "（无）", centred=True)
    y -= 6
    if reg.summary:
        y = paragraph(y, "    ".join(f"{k}：{v}" for k, v in reg.summary))
    for heading, body in reg.extra_sections:
        y = paragraph(y - 4, heading, 11)
        y = paragraph(y, body)
    if reg.notes:
        y = paragraph(y - 4, f"备注：{reg.notes}")
    if reg.signatures:
        y = paragraph(y - 6, "签署", 11)
        for s in reg.signatures:
            signed = f"{s.name}    {_when(s.signed_at)}" if s.name else "（未签署）"
            opinion = f"    意见：{s.opinion}" if s.opinion else ""
            y = paragraph(y, f"{s.role}：{signed}{opinion}")
    footer()
    c.showPage()
    c.beginForm("page_total")
    c.setFont(font, 8)
    c.setFillColor(colors.HexColor("#555555"))
    c.drawRightString(page_w - margin, 9 * mm, f"共 {state['page']} 页")
    c.endForm()
    c.save()
    return buf.getvalue()


def register_xlsx(register: Register) -> bytes:
    """The register as an Excel workbook: particulars, the table, summary and signatures."""
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    def safe(value: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(display_tz()).replace(tzinfo=None)
        return cell_value(ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value)

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(register.title[:31])
    ws.append([safe(register.title)])
    for label, value in register.particulars:
        ws.append([safe(label), safe(value)])
    ws.append([])
    ws.append([safe(col.label) for col in register.columns])
    for row in register.rows:
        ws.append([safe(v) for v in row])
    ws.append([])
    for label, value in register.summary:
        ws.append([safe(label), safe(value)])
    for heading, body in register.extra_sections:
        ws.append([safe(heading), safe(body)])
    if register.notes:
        ws.append(["备注", safe(register.notes)])
    for s in register.signatures:
        ws.append([safe(s.role), safe(s.name or "（未签署）"), safe(s.signed_at), safe(s.opinion)])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def register_download(request: HttpRequest, register: Register, *, kind: str, label: str,
                      object_type: str, object_id: str, filename: str) -> HttpResponse:
    """A register as the HTTP download both channels (web and API) give: access-logged (it lists
    archive numbers and titles), PDF/A or Excel, as an attachment under `filename`.`kind`."""
    if kind not in ("pdf", "xlsx"):
        raise NotFound("format_unknown", "只提供 pdf 或 xlsx", "pdf or xlsx only")
    register_download_log(request=request, register=label, object_type=object_type,
                          object_id=object_id, file_format=kind)
    if kind == "pdf":
        response = HttpResponse(register_pdf(register), content_type="application/pdf")
    else:
        response = HttpResponse(register_xlsx(register), content_type=XLSX)
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(f'{filename}.{kind}')}"
    for header, value in FILE_HEADERS.items():
        response[header] = value
    return response


def register_digest(rows: Iterable[Sequence[Any]], *, columns: Sequence[Column]) -> str:
    """SHA-256 over the register's table as text (one line per row, cells tab-separated): what
    the signatories sign. It does not change when a signature is added to the document."""
    h = hashlib.sha256()
    h.update("\t".join(c.label for c in columns).encode())
    for row in rows:
        h.update(b"\n")
        h.update("\t".join(text_of(v) for v in row).encode())
    return h.hexdigest()



def register_file(*, pdf: bytes, title: str, rule_name: str, fonds_code: str, fiscal_year: int,
                  document_no: str, external_id: str, on: date,
                  department: str = "", responsible: str = "",
                  relations: Sequence[dict[str, str]] = (),
                  request: HttpRequest | None = None) -> Record:
    """File a register as a record of its own category (79号令 Art.6: 移交清册, 保管清册, 销毁清册
    and 鉴定意见书 are 其他会计资料, with the terms of 附表1 rows 13–16), through the same ingest
    as every other record: checked, numbered and audited. Idempotent on `external_id` (e.g.
    `destruction:12`), so a retried step files it once. Only the PDF/A is filed: an xlsx is not
    a long-term format (it would fail GD-3-3 and leave the register pending); the Excel copy is
    made again from the same data on request."""
    files = [IncomingFile(stream=io.BytesIO(pdf), filename=f"{title}.pdf",
                          meta=FileMetaIn(role="original", document_type=rule_name))]
    metadata = RecordMetadata(
        fonds=fonds_code, category=rule_name, fiscal_year=fiscal_year, title=title[:500],
        date=on, document_no=document_no[:100], department=department[:200],
        responsible=(responsible or "档案管理机构")[:200], source_system="kjda",
        external_id=external_id[:200],
        relations=[RelationIn(**r) for r in relations])
    result = record_ingest(metadata=metadata, files=files,
                           actor=system_user(name="kjda:registers", roles=["archivist"]),
                           request=request)
    return result.record
