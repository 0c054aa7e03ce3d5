"""Archival renditions of OA data: the approval form and the approval record (审批记录) as
PDF/A-2b with an embedded CJK font, and the page layout they share with the payment voucher
(付款凭证, `kjda.ingest.payment_voucher`); the record's canonical JSON is in
`kjda.ingest.approval_record`. Pure functions: data in, bytes out, no database.

The font is Debian's fonts-wqy-microhei (`kjda.formats.fonts`); without it we refuse rather
than fall back to a font that is not embedded. Output is reproducible: the PDF dates come from
the data (finish time of the approval, date of the voucher), so the same input gives the same
bytes and the same digest.
"""

from __future__ import annotations

import functools
import io
import json
import threading
from collections.abc import Iterable, Sequence
from datetime import date, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen import canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer
from reportlab.platypus.tables import Table, TableStyle

from kjda.formats.fonts import cjk_font
from kjda.formats.ofd import OFDPackage
from kjda.formats.ofd.render import render_pdfa
from kjda.formats.pdfa import make_pdfa2b
from kjda.ingest.approval_record import action_zh, result_zh
from kjda.ingest.types import ApprovalInstance, AttachmentRef, FormField, TrailEntry

MISSING_GLYPH = "〓"  # the customary mark for a character the font cannot show
LINE, LABEL_BG = colors.HexColor("#7a8494"), colors.HexColor("#eef1f5")


# --- font, text, styles --------------------------------------------------------------------

def _clean(text: Any) -> str:
    """Text the font can show: control characters dropped, missing glyphs marked 〓."""
    glyphs = pdfmetrics.getFont(cjk_font()).face.charToGlyph
    out = []
    for ch in str(text).replace("\r\n", "\n").replace("\t", "    "):
        if ch == "\n" or ord(ch) in glyphs:
            out.append(ch)
        elif ord(ch) >= 0x20 and ch != "\x7f":
            out.append(MISSING_GLYPH)
    return "".join(out)


@functools.cache
def _styles() -> dict[str, ParagraphStyle]:
    font = cjk_font()
    base = ParagraphStyle("body", fontName=font, fontSize=9.5, leading=13.5, wordWrap="CJK")
    return {
        "body": base,
        "label": ParagraphStyle("label", parent=base, textColor=colors.HexColor("#2f3a4a")),
        "money": ParagraphStyle("money", parent=base, alignment=TA_RIGHT),
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=11,
                                textColor=colors.HexColor("#555555")),
        "title": ParagraphStyle("title", parent=base, fontSize=17, leading=24,
                                alignment=TA_CENTER, spaceAfter=2),
        "subtitle": ParagraphStyle("subtitle", parent=base, fontSize=9.5, alignment=TA_CENTER,
                                   textColor=colors.HexColor("#555555"), spaceAfter=8),
        "h2": ParagraphStyle("h2", parent=base, fontSize=11.5, leading=16, spaceBefore=10,
                             spaceAfter=4),
    }


def para(text: Any, style: str = "body") -> Paragraph:
    return Paragraph(escape(_clean(text)).replace("\n", "<br/>"), _styles()[style])


def display_tz() -> tzinfo:
    try:
        from django.conf import settings

        return ZoneInfo(settings.TIME_ZONE or "Asia/Shanghai")
    except Exception:  # settings not configured (a script): the users' own zone
        return ZoneInfo("Asia/Shanghai")


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is not None:
        value = value.astimezone(display_tz())
    return f"{value:%Y-%m-%d %H:%M:%S}"


# --- values --------------------------------------------------------------------------------

def money_text(value: Any) -> str | None:
    try:
        amount = Decimal(str(value).replace(",", "").replace("¥", "").strip())
    except (InvalidOperation, ValueError):
        return None
    return f"{amount.quantize(Decimal('0.01'), ROUND_HALF_UP):,.2f}" if amount.is_finite() else None


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, datetime):
        return _when(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        for key in ("text", "fileName", "filename", "name", "label", "value"):
            if key in value and not isinstance(value[key], dict | list):
                return _plain(value[key])
        return "\n".join(f"{k}：{_plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        items = [_plain(v) for v in value]
        return ("\n" if any(isinstance(v, dict) for v in value) else "、").join(items)
    return str(value)


def _cell(item: Any) -> tuple[str, Any, str] | None:
    """(column, value, kind) of one cell of a vendor's table row, or None."""
    if not isinstance(item, dict) or "value" not in item:
        return None
    for key in ("label", "name", "title", "key", "id"):
        name = item.get(key)
        if isinstance(name, list) and name and isinstance(name[0], dict):  # WeCom [{text, lang}]
            name = name[0].get("text")
        if name:
            kind = item.get("componentType") or item.get("type") or item.get("control") or ""
            return str(name), item["value"], str(kind)
    return None


def table_rows(value: Any) -> list[list[tuple[str, Any, str]]] | None:
    """Rows of a table / detail-list field (DingTalk rowValue, WeCom children.list, Feishu
    lists of cells, plain dicts), or None when the value is not a table."""
    if isinstance(value, str) and value.lstrip().startswith("[{"):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, list) or not value:
        return None
    rows: list[list[tuple[str, Any, str]]] = []
    for item in value:
        if isinstance(item, dict) and isinstance(item.get("rowValue"), list):
            item = item["rowValue"]
        elif isinstance(item, dict) and isinstance(item.get("list"), list):
            item = item["list"]
        if isinstance(item, dict):
            if _cell(item) is not None:
                return None  # a list of cells is one record, shown as text
            rows.append([(str(k), v, "") for k, v in item.items()])
        elif isinstance(item, list):
            cells = [_cell(c) for c in item]
            if not cells or any(c is None for c in cells):
                return None
            rows.append([c for c in cells if c is not None])
        else:
            return None
    return rows


def _is_attachment(f: FormField) -> bool:
    kind = f.kind.lower()
    return any(word in kind for word in ("attach", "file", "image", "photo", "picture"))


def _size(size: int | None) -> str:
    if size is None:
        return ""
    return f"{size} B" if size < 1024 else f"{size / 1024:.1f} KB" if size < 1 << 20 \
        else f"{size / (1 << 20):.1f} MB"


def _value_flowable(f: FormField, attachments: Sequence[AttachmentRef]) -> Paragraph:
    if _is_attachment(f):
        refs = [a for a in attachments if f.id and a.field_id == f.id
                or f.name and a.field_name == f.name]
        names = ([f"{a.filename}（{_size(a.size)}）" if a.size is not None else a.filename
                  for a in refs] or [_plain(v) for v in
                                     (f.value if isinstance(f.value, list) else [f.value])])
        return para("\n".join(n for n in names if n) or "（无附件）")
    kind = f.kind.lower()
    if isinstance(f.value, Decimal | int | float) and not isinstance(f.value, bool) or \
            "money" in kind or "amount" in kind:
        text = None if "number" in kind else money_text(f.value)
        return para(text if text is not None else _plain(f.value), "money")
    return para(_plain(f.value))


# --- tables --------------------------------------------------------------------------------

def table_grid(rows: list[list[Any]], widths: list[float], *, header: bool = False,
          label_col: bool = False, extra: Iterable[tuple] = ()) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0, splitInRow=1)
    style = [("FONT", (0, 0), (-1, -1), cjk_font(), 9.5),  # never the unembedded Helvetica
             ("GRID", (0, 0), (-1, -1), 0.5, LINE), ("VALIGN", (0, 0), (-1, -1), "TOP"),
             ("LEFTPADDING", (0, 0), (-1, -1), 4), ("RIGHTPADDING", (0, 0), (-1, -1), 4),
             ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 4)]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), LABEL_BG))
    if label_col:
        style.append(("BACKGROUND", (0, 0), (0, -1), LABEL_BG))
    table.setStyle(TableStyle(style + list(extra)))
    return table


def _money_column(name: str, cells: list[tuple[Any, str]]) -> bool:
    """A column of amounts: its vendor type or its name says money, and every value parses."""
    hint = any(w in k.lower() for _, k in cells for w in ("money", "amount")) or \
        any(w in name.lower() for w in ("金额", "价", "费", "amount", "money", "price", "total"))
    return bool(cells) and hint and all(money_text(v) is not None for v, _ in cells)


def _sub_table(name: str, rows: list[list[tuple[str, Any, str]]], width: float) -> Table:
    columns: list[str] = []
    for row in rows:
        columns += [c for c, _, _ in row if c not in columns]
    money = {c for c in columns if _money_column(c, [(v, k) for r in rows for n, v, k in r
                                                      if n == c and v not in (None, "")])}
    body = []
    for row in rows:
        cells = {c: (v, kind) for c, v, kind in row}
        body.append([para(money_text(cells[c][0]), "money") if c in money and c in cells else
                     para(_plain(cells[c][0]) if c in cells else "") for c in columns])
    caption = [para(f"{name}（共 {len(rows)} 行）", "label")] + [""] * (len(columns) - 1)
    data = [caption, [para(c, "label") for c in columns], *body]
    table = table_grid(data, [width / len(columns)] * len(columns), extra=[
        ("SPAN", (0, 0), (-1, 0)), ("BACKGROUND", (0, 0), (-1, 1), LABEL_BG)])
    table.repeatRows = 2
    return table


def _pairs_table(pairs: list[tuple[str, Any]], width: float) -> Table:
    """Label/value pairs two to a row: | label | value | label | value |."""
    rows = []
    for i in range(0, len(pairs), 2):
        row: list[Any] = []
        for label, value in pairs[i:i + 2]:
            row += [para(label, "label"), para(_plain(value))]
        rows.append(row + [""] * (4 - len(row)))
    label_w = 24 * mm
    return table_grid(rows, [label_w, width / 2 - label_w] * 2, extra=[
        ("BACKGROUND", (0, 0), (0, -1), LABEL_BG), ("BACKGROUND", (2, 0), (2, -1), LABEL_BG)])


def _trail_table(trail: Sequence[TrailEntry], width: float) -> Table:
    head = ["序号", "节点", "处理人", "操作", "结果", "时间", "意见"]
    rows: list[list[Any]] = [[para(h, "label") for h in head]]
    for i, t in enumerate(trail, 1):
        actor = t.actor_name or t.actor_id
        rows.append([para(i), para(t.node), para(actor), para(action_zh(t.action)),
                     para(result_zh(t.result)), para(_when(t.time)), para(t.remark)])
    if not trail:
        rows.append([para("（无审批记录）")] + [""] * 6)
    fractions = [0.06, 0.15, 0.13, 0.09, 0.08, 0.225, 0.265]
    return table_grid(rows, [width * f for f in fractions], header=True,
                 extra=[("SPAN", (0, 1), (-1, 1))] if not trail else [])


# --- documents -----------------------------------------------------------------------------

class _NumberedCanvas(canvas.Canvas):
    """Draws "第 N 页 共 M 页" once the page count is known."""

    def __init__(self, *args: Any, footer: str = "", margin: float = 15 * mm,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._footer, self._margin = footer, margin
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:  # noqa: N802 - reportlab's name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for number, state in enumerate(self._pages, 1):
            self.__dict__.update(state)
            width = self._pagesize[0]
            self.setFont(cjk_font(), 8)
            self.setFillColor(colors.HexColor("#555555"))
            self.drawString(self._margin, 9 * mm, _clean(self._footer))
            self.drawRightString(width - self._margin, 9 * mm, f"第 {number} 页 共 {total} 页")
            super().showPage()
        super().save()


# reportlab's TrueType subsetting keeps per-font state that breaks when two documents are built
# at once in one process (KeyError in makeSubset): the task worker and the periodic thread do.
_BUILD_LOCK = threading.Lock()


def pdf_build(story: list[Flowable], **kwargs: Any) -> bytes:
    with _BUILD_LOCK:
        return _build_unlocked(story, **kwargs)


def _build_unlocked(story: list[Flowable], *, pagesize: tuple[float, float], margin: float, title: str,
           author: str, subject: str, keywords: str, created: datetime | None,
           footer: str) -> bytes:
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=pagesize, leftMargin=margin, rightMargin=margin,
                            topMargin=margin, bottomMargin=margin + 6 * mm, invariant=1,
                            initialFontName=cjk_font(), enforceColorSpace="rgb",
                            title=title, author=author, subject=subject)
    doc.build(story, canvasmaker=functools.partial(_NumberedCanvas, footer=footer,
                                                     margin=margin))
    return make_pdfa2b(buf.getvalue(), title=title, author=author, subject=subject,
                       keywords=keywords, created=created)


def ofd_rendition(source: Any) -> bytes:
    """PDF/A-2b of an OFD's pages for viewing in the browser; the OFD itself stays the original.
    `source` is a path, bytes or a binary stream (see `kjda.formats.ofd`)."""
    with OFDPackage.open(source) as pkg:
        return render_pdfa(pkg.documents()[0]).pdf


def _instance_pairs(instance: ApprovalInstance) -> list[tuple[str, Any]]:
    originator = instance.originator_name or instance.originator_id
    if instance.originator_name and instance.originator_id:
        originator = f"{instance.originator_name}（{instance.originator_id}）"
    return [("流程编码", instance.process_code), ("审批编号", instance.instance_id),
            ("发起人", originator), ("所在部门", instance.department),
            ("发起时间", _when(instance.created_at)), ("完成时间", _when(instance.finished_at)),
            ("审批状态", result_zh(instance.status)), ("审批结果", result_zh(instance.result))]


def render_approval_form(instance: ApprovalInstance, *, platform_label: str,
                         scenario_label: str) -> bytes:
    """The approval form as a clean A4 PDF/A-2b: header, every field, attachments, trail."""
    width = A4[0] - 40 * mm
    title = instance.title or f"{scenario_label}审批单"
    story: list[Flowable] = [para(title, "title"), para(f"{platform_label} · {scenario_label}审批单",
                                                    "subtitle"),
                             _pairs_table([("审批平台", platform_label),
                                           ("业务场景", scenario_label),
                                           *_instance_pairs(instance)], width),
                             para("表单内容", "h2")]
    pending: list[list[Any]] = []

    def flush() -> None:
        if pending:
            story.append(table_grid(list(pending), [40 * mm, width - 40 * mm], label_col=True))
            pending.clear()

    for f in instance.fields:
        rows = None if _is_attachment(f) else table_rows(f.value)
        if rows:
            flush()
            story.append(_sub_table(f.name or f.id, rows, width))
        else:
            pending.append([para(f.name or f.id, "label"),
                            _value_flowable(f, instance.attachments)])
    flush()
    if not instance.fields:
        story.append(para("（表单无字段）"))
    if instance.attachments:
        story += [para("附件", "h2"), table_grid(
            [[para(h, "label") for h in ("序号", "文件名", "所属字段", "大小")]] +
            [[para(i), para(a.filename), para(a.field_name or a.field_id or "审批意见"),
              para(_size(a.size), "money")] for i, a in enumerate(instance.attachments, 1)],
            [width * f for f in (0.08, 0.54, 0.24, 0.14)], header=True)]
    story += [para("审批记录", "h2"), _trail_table(instance.trail, width), Spacer(1, 6 * mm),
              para(f"本文件由 KJDA 电子会计档案系统根据{platform_label}审批数据生成；"
                 "审批记录另存为 PDF/A 与 JSON。", "small")]
    return pdf_build(story, pagesize=A4, margin=20 * mm, title=title,
                  author=instance.originator_name or instance.originator_id,
                  subject=f"{platform_label} {scenario_label}审批单 {instance.instance_id}",
                  keywords=f"审批单, {scenario_label}, {instance.process_code}, "
                           f"{instance.instance_id}",
                  created=instance.finished_at or instance.created_at,
                  footer=f"{platform_label} 审批编号 {instance.instance_id}")


def render_approval_trail(instance: ApprovalInstance) -> bytes:
    """The approval record (审批记录) of the instance as an A4 PDF/A-2b table."""
    width = A4[0] - 40 * mm
    story: list[Flowable] = [para("审批记录", "title"), para(instance.title, "subtitle"),
                             _pairs_table(_instance_pairs(instance), width), Spacer(1, 5 * mm),
                             _trail_table(instance.trail, width)]
    return pdf_build(story, pagesize=A4, margin=20 * mm, title=f"审批记录 {instance.title}".strip(),
                  author=instance.originator_name or instance.originator_id,
                  subject=f"审批记录 {instance.instance_id}",
                  keywords=f"审批记录, {instance.process_code}, {instance.instance_id}",
                  created=instance.finished_at or instance.created_at,
                  footer=f"审批记录 审批编号 {instance.instance_id}")
