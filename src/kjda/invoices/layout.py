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


@dataclass
class Line:
    glyphs: list[Glyph]

    @property
    def text(self) -> str:
        return "".join(g.text for g in self.glyphs)

    def x_at(self, index: int) -> float:
        """x of the glyph that holds character `index` of `text`."""
        pos = 0
        for g in self.glyphs:
            pos += len(g.text)
            if index < pos:
                return g.x0
        return self.glyphs[-1].x1 if self.glyphs else 0.0

    @property
    def cy(self) -> float:
        return sum(g.cy for g in self.glyphs) / len(self.glyphs)


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
    """Group glyphs whose vertical centres lie within half a glyph height of a line's."""
    lines: list[list[Glyph]] = []
    for g in sorted((g for g in glyphs if g.text.strip()), key=lambda g: g.cy):
        if lines:
            last = lines[-1]
            ref = sum(x.cy for x in last) / len(last)
            if abs(g.cy - ref) <= 0.5 * max(g.h, max(x.h for x in last)):
                last.append(g)
                continue
        lines.append([g])
    return [Line(sorted(ln, key=lambda g: g.x0)) for ln in lines]


_NUMBER = re.compile(r"发票号码[:：]?(\d{20}|\d{8})(?!\d)")
_CODE = re.compile(r"发票代码[:：]?(\d{12}|\d{10})(?!\d)")
_DATE = re.compile(r"(?:开票日期|填开日期)[:：]?(\d{4}年\d{1,2}月\d{1,2}日|\d{4}-\d{2}-\d{2})")
_CHECK = re.compile(r"校验码[:：]?(\d{20})(?!\d)")
_NAME_LABEL = re.compile(r"名称[:：]")
_TAXID_LABEL = re.compile(r"(?:统一社会信用代码/)?纳税人识别号[:：]")
_TAXID = re.compile(r"[0-9A-Z]{15,20}")
_MONEY = re.compile(r"[¥￥](-?\d+\.\d{2})")
_INCL = re.compile(r"[(（]?小写[)）]?[¥￥]?(-?\d+\.\d{2})")
_TITLE = re.compile(r"电子发票[(（](?:增值税专用发票|普通发票|铁路电子客票|航空运输电子客票行程单)[)）]"
                    r"|[\u4e00-\u9fff]{0,6}增值税电子(?:普通|专用)发票(?:[(（]通行费[)）])?"
                    r"|[\u4e00-\u9fff]{0,6}增值税(?:普通|专用)发票")


def kind_from_text(text: str) -> str:
    """The invoice kind from its printed title (电子发票（普通发票）, 湖北增值税电子普通发票 …)."""
    flat = re.sub(r"\s+", "", text)
    m = _TITLE.search(flat)
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
        out.append((line.x_at(m.start()), line.cy, text[m.end():end]))
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
                b.put(f"{party}_name", re.split(r"[:：]|地址|纳税人|统一社会", value)[0], source)
        for x, y, value in _party_values(ln, _TAXID_LABEL):
            party = _nearest((x, y), buyer, seller)
            if party and (m := _TAXID.match(value)):
                b.put(f"{party}_tax_id", m.group(0), source)
        if "价税合计" in text:
            if m := _INCL.search(text):
                b.put("total_incl_tax", m.group(1), source)
        elif re.search(r"^合计|[^价税]合计", text) and len(money := _MONEY.findall(text)) == 2:
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
