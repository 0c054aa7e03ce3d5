"""Label-based reading of an invoice face from positioned text (a PDF text layer, OCR boxes).

Invoice faces space their labels and values out (`合        计`, one glyph per text object), so
the text is first put back into lines by position; labels are then matched in each line's
text with the gaps removed, and the value is what follows the label on the same line. Buyer and
seller blocks are told apart by their markers (购买方 / 销售方): a label belongs to the nearer
one. Nothing is taken without its label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kjda.invoices import codes
from kjda.invoices.data import InvoiceBuilder


@dataclass
class Glyph:
    text: str
    x0: float
    y0: float  # top, in a y-down frame
    x1: float
    y1: float  # bottom

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    @property
    def h(self) -> float:
        return max(self.y1 - self.y0, 1.0)


GAP = 3.0  # a horizontal gap wider than this many glyph heights separates two values


class Line:
    """One row of text. `text` has the glyphs in x order with a tab wherever the gap between
    two glyphs is wide: labels are matched across tabs, values end at one."""

    def __init__(self, glyphs: list[Glyph]) -> None:
        self.glyphs = glyphs
        parts: list[str] = []
        self._xs: list[float] = []
        prev: Glyph | None = None
        for g in glyphs:
            if prev is not None and g.x0 - prev.x1 > GAP * max(g.h, prev.h):
                parts.append("\t")
                self._xs.append(prev.x1)
            parts.append(g.text)
            self._xs.extend([g.x0] * len(g.text))
            prev = g
        self.text = "".join(parts)
        self.cy = sum(g.cy for g in glyphs) / len(glyphs) if glyphs else 0.0

    def x_at(self, index: int) -> float:
        """x of character `index` of `text`."""
        return self._xs[min(index, len(self._xs) - 1)] if self._xs else 0.0


def glyphs_from_boxes(boxes: list[tuple[str, float, float, float, float]]) -> list[Glyph]:
    """Boxes of whole words (OCR) as glyphs, one per character spread over the box's width."""
    out: list[Glyph] = []
    for text, x0, y0, x1, y1 in boxes:
        text = re.sub(r"\s+", "", text)
        if not text:
            continue
        step = (x1 - x0) / len(text)
        out.extend(Glyph(ch, x0 + i * step, y0, x0 + (i + 1) * step, y1)
                   for i, ch in enumerate(text))
    return out


def lines_from_glyphs(glyphs: list[Glyph]) -> list[Line]:
    """Rows of text: a glyph joins the row whose band (the union of its glyphs of ordinary
    height) holds its centre or overlaps it enough. Labels and values of
    one row don't always share a baseline (¥ is taller than digits)."""
    rows: list[list[Glyph]] = []
    bands: list[tuple[float, float]] = []
    for g in sorted((g for g in glyphs if g.text.strip()), key=lambda g: g.cy):
        if bands:
            top, bottom = bands[-1]
            overlap = min(bottom, g.y1) - max(top, g.y0)
            if top <= g.cy <= bottom or overlap > 0.25 * min(g.h, bottom - top):
                rows[-1].append(g)
                heights = sorted(x.h for x in rows[-1])
                median = heights[len(heights) // 2]
                # Dots, dashes and tall boxes (vertical 购买方 columns, OCR) don't set the band.
                full = [x for x in rows[-1] if 0.5 * median <= x.h <= 2 * median] or rows[-1]
                bands[-1] = (min(x.y0 for x in full), max(x.y1 for x in full))
                continue
        rows.append([g])
        bands.append((g.y0, g.y1))
    return [Line(sorted(row, key=lambda g: g.x0)) for row in rows]


def _label(word: str) -> str:
    """A label whose characters may be spaced out (名        称)."""
    return "\t?".join(re.escape(ch) for ch in word)


_T = "\t?"
_NUMBER = re.compile(_label("发票号码") + rf"{_T}[:：]?{_T}(\d{{20}}|\d{{8}})(?!\d)")
_CODE = re.compile(_label("发票代码") + rf"{_T}[:：]?{_T}(\d{{12}}|\d{{10}})(?!\d)")
_DATE = re.compile(rf"(?:{_label('开票日期')}|{_label('填开日期')}){_T}[:：]?{_T}"
                   r"(\d{4}年\d{1,2}月\d{1,2}日|\d{4}-\d{2}-\d{2})")
_CHECK = re.compile(_label("校验码") + rf"{_T}[:：]?{_T}(\d{{20}})(?!\d)")
_NAME_LABEL = re.compile(_label("名称") + rf"{_T}[:：]{_T}")
_TAXID_LABEL = re.compile(rf"(?:统一社会信用代码/)?{_label('纳税人识别号')}{_T}[:：]{_T}")
_TAXID = re.compile(r"[0-9A-Z]{15,20}(?![0-9A-Z])")
_MONEY = re.compile(r"[¥￥]\t?(-?\d+\.\d{2})")
_INCL = re.compile(rf"[(（]?小写[)）]?{_T}[¥￥]?{_T}(-?\d+\.\d{{2}})")
_TITLE = re.compile(r"电子发票[(（](?:增值税专用发票|普通发票|铁路电子客票|航空运输电子客票行程单)[)）]"
                    r"|[\u4e00-\u9fff]{0,6}增值税电子(?:普通|专用)发票(?:[(（]通行费[)）])?"
                    r"|[\u4e00-\u9fff]{0,6}增值税(?:普通|专用)发票")


def kind_from_text(text: str) -> str:
    """The invoice kind from its printed title (电子发票（普通发票）, 湖北增值税电子普通发票 …)."""
    m = _TITLE.search(re.sub(r"\s+", "", text))
    if not m:
        return ""
    title = m.group(0).replace("(", "（").replace(")", "）")
    for generic in ("增值税电子普通发票", "增值税电子专用发票", "增值税普通发票", "增值税专用发票"):
        if title.endswith(generic) and not title.startswith("电子发票"):
            return generic  # the province prefix (湖北…) is not part of the kind
    return title


def _markers(lines: list[Line]) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    buyer, seller = [], []
    for ln in lines:
        for g in ln.glyphs:
            if g.text in ("购", "买") or g.text.startswith("购买方"):
                buyer.append(((g.x0 + g.x1) / 2, g.cy))
            elif g.text in ("销", "售") or g.text.startswith("销售方"):
                seller.append(((g.x0 + g.x1) / 2, g.cy))
    return buyer, seller


def _nearest(point: tuple[float, float], buyer: list, seller: list) -> str:
    def dist(marks: list) -> float:
        return min(((point[0] - x) ** 2 + (point[1] - y) ** 2 for x, y in marks),
                   default=float("inf"))
    b, s = dist(buyer), dist(seller)
    if b == s:
        return ""
    return "buyer" if b < s else "seller"


def _party_values(line: Line, label: re.Pattern) -> list[tuple[float, float, str]]:
    """(x, y, text after the label up to the next label) for each label in the line."""
    text = line.text
    hits = list(label.finditer(text))
    out = []
    for i, m in enumerate(hits):
        end = hits[i + 1].start() if i + 1 < len(hits) else len(text)
        out.append((line.x_at(m.start()), line.cy, text[m.end():end].split("\t")[0]))
    return out


def parse_lines(lines: list[Line], source: str, b: InvoiceBuilder | None = None) -> InvoiceBuilder:
    b = b or InvoiceBuilder()
    b.put("kind", kind_from_text("\n".join(ln.text for ln in lines)), source)
    buyer, seller = _markers(lines)
    for ln in lines:
        text = ln.text
        for pattern, field in ((_NUMBER, "invoice_number"), (_CODE, "invoice_code"),
                               (_DATE, "issue_date"), (_CHECK, "check_code")):
            if m := pattern.search(text):
                b.put(field, m.group(1), source)
        for x, y, value in _party_values(ln, _NAME_LABEL):
            party = _nearest((x, y), buyer, seller)
            if party and value:
                b.put(f"{party}_name", re.split(r"[:：]|地址|纳税人|统一社会|密码区|名称|销售方|购买方", value)[0], source)
        for x, y, value in _party_values(ln, _TAXID_LABEL):
            party = _nearest((x, y), buyer, seller)
            if party and (m := _TAXID.match(value)):
                b.put(f"{party}_tax_id", m.group(0), source)
        if re.search(_label("价税合计"), text):
            if m := _INCL.search(text):
                b.put("total_incl_tax", m.group(1), source)
        elif re.search("^" + _label("合计"), text) and len(money := _MONEY.findall(text)) == 2:
            b.put("total_excl_tax", money[0], source)
            b.put("total_tax", money[1], source)
    return b


def lines_text(lines: list[Line]) -> str:
    return "\n".join(ln.text for ln in lines)


def qr_in_text(text: str) -> codes.QrData | None:
    """An invoice QR string printed as text (some layouts carry it), else None."""
    for m in re.finditer(r"01,\d{2},[^\s]{10,120}", text):
        if qr := codes.qr_parse(m.group(0)):
            return qr
    return None
