"""Rendering OFD pages for preview: PDF (vector, via reportlab) and PNG (that PDF rasterised by
pypdfium2). Pure Python; no network, no fonts fetched.

What is drawn (GB/T 33190 §8–§13): templates (background first), layers and page blocks in order,
PathObject (AbbreviatedData: M/S/L/Q/B/A/C, stroke and fill with DrawParam inheritance),
TextObject (TextCode with DeltaX/DeltaY and the `g n v` shorthand, CTM), ImageObject (any format
Pillow reads; CTM maps the unit square), clip areas, annotations (watermarks, stamps), and seal
pictures (raster or OFD inside the GM/T 0031 seal) at their StampAnnot boundary. Text uses the
embedded TrueType font when reportlab can load it and it has every glyph the page needs,
otherwise the system CJK font (fonts-wqy-microhei, installed by .ci/run). Missing resources are
skipped and listed in `problems`; a page always renders. JBIG2 images (invoice QR codes) go into
the PDF as they are (JBIG2Decode). Not drawn: shadings/patterns (filled with their first colour),
text clips, blend modes.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PIL import Image
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen import canvas

from kjda.formats.fonts import cjk_font
from kjda.formats.ofd.document import OFDDocument, OFDPage, el_child, el_children, el_text, floats
from kjda.formats.ofd.fonts import Fonts
from kjda.formats.ofd.graphics import (
    IDENTITY,
    JB2_MARK,
    Style,
    color_of,
    deltas,
    draw_path,
    image_reader,
    jbig2_embedded,
    matrix_of,
    matrix_then,
    param_style,
    splice_jbig2,
)
from kjda.formats.ofd.stamps import seal_pictures, seal_reader

if TYPE_CHECKING:
    from lxml import etree

MM = 72 / 25.4
_LOCK = threading.Lock()  # reportlab's font subsetting state is per process, not per document


@dataclass
class RenderResult:
    pdf: bytes
    pages: int
    problems: list[str] = field(default_factory=list)


# --- the page painter ----------------------------------------------------------------------------

class _Painter:
    def __init__(self, c: canvas.Canvas, doc: OFDDocument, page: OFDPage, fonts: Fonts,
                 problems: list[str], jbig2: list | None = None) -> None:
        self.c, self.doc, self.page, self.fonts, self.problems = c, doc, page, fonts, problems
        self.res = page.resources
        self.images: dict[str, ImageReader | None] = {}
        self.jbig2 = jbig2 if jbig2 is not None else []  # (stream, width, height) to splice in

    def run(self, box: tuple[float, float, float, float]) -> None:
        px, py, w, h = box
        self.c.setPageSize((w * MM, h * MM))
        self.c.saveState()
        # OFD user space: millimetres, origin top-left, y down.
        self.c.transform(MM, 0, 0, -MM, -px * MM, h * MM + py * MM)
        self.paint()
        self.c.restoreState()

    def paint(self) -> None:
        """Templates and content in the current (millimetre, y-down) space."""
        templates = self.page.templates()
        for root, z in templates:
            if z == "Background":
                self.content(root)
        if self.page.root is not None:
            self.content(self.page.root)
        for root, z in templates:
            if z != "Background":
                self.content(root)
        for annot in self.doc.annotations(self.page):
            if annot.get("Visible") == "false" or annot.get("NoView") == "true":
                continue
            for app in el_children(annot, "Appearance"):
                self.c.saveState()
                bx = floats(app.get("Boundary"))
                if len(bx) >= 2:
                    self.c.translate(bx[0], bx[1])
                self.block(app, Style())
                self.c.restoreState()

    def content(self, root: etree._Element) -> None:
        for layer in el_children(el_child(root, "Content"), "Layer"):
            self.block(layer, param_style(layer.get("DrawParam", ""), self.res, Style()))

    def block(self, el: etree._Element, style: Style) -> None:
        for obj in el:
            if not isinstance(obj.tag, str):
                continue
            try:
                if obj.tag == "PageBlock":
                    self.block(obj, param_style(obj.get("DrawParam", ""), self.res, style))
                elif obj.tag == "PathObject":
                    self.path(obj, style)
                elif obj.tag == "TextObject":
                    self.text(obj, style)
                elif obj.tag == "ImageObject":
                    self.image(obj)
                elif obj.tag == "CompositeObject":
                    self.composite(obj, style)
            except Exception as exc:  # one bad object must not lose the page
                self.problems.append(f"page {self.page.index + 1}: {obj.tag} {obj.get('ID', '')} skipped: {exc}")

    def _place(self, obj: etree._Element) -> None:
        bx = floats(obj.get("Boundary"))
        if len(bx) >= 2:
            self.c.translate(bx[0], bx[1])
        ctm = floats(obj.get("CTM"))
        self._clip(obj, tuple(ctm) if len(ctm) == 6 else IDENTITY)
        if len(ctm) == 6:
            self.c.transform(*ctm)

    def _clip(self, obj: etree._Element, ctm) -> None:
        """GB/T 33190 §8.4: each Clip intersects; its Areas (paths, each with its own CTM and
        boundary, under the Area's CTM, and under the object's CTM when TransFlag is true) unite.
        A Clip with an area we can't build (text clips) is skipped rather than hiding content."""
        clips = el_child(obj, "Clips")
        if clips is None:
            return
        outer = ctm if clips.get("TransFlag") == "true" else IDENTITY
        for clip in el_children(clips, "Clip"):
            areas = el_children(clip, "Area")
            shapes = [sh for a in areas if (sh := el_child(a, "Path")) is not None]
            if not areas or len(shapes) < len(areas):
                continue
            p = self.c.beginPath()
            even_odd = False
            for area, shape in zip(areas, shapes, strict=True):
                m = IDENTITY
                own = matrix_of(floats(shape.get("CTM")))
                if own is not None:
                    m = matrix_then(m, own)
                pb = floats(shape.get("Boundary"))
                if len(pb) >= 2:
                    m = matrix_then(m, (1, 0, 0, 1, pb[0], pb[1]))
                actm = matrix_of(floats(area.get("CTM")))
                if actm is not None:
                    m = matrix_then(m, actm)
                m = matrix_then(m, outer)
                draw_path(self.c, el_text(el_child(shape, "AbbreviatedData")), into=p, matrix=m)
                even_odd = even_odd or shape.get("Rule") == "Even-Odd"
            self.c.clipPath(p, stroke=0, fill=0, fillMode=0 if even_odd else 1)

    def _set_colors(self, stroke, fill) -> None:
        if stroke:
            self.c.setStrokeColorRGB(*stroke[:3], alpha=stroke[3])
        if fill:
            self.c.setFillColorRGB(*fill[:3], alpha=fill[3])

    def path(self, obj: etree._Element, style: Style) -> None:
        if obj.get("Visible") == "false":
            return
        style = param_style(obj.get("DrawParam", ""), self.res, style)
        stroke_on = obj.get("Stroke", "true") != "false"
        fill_on = obj.get("Fill", "false") == "true"
        stroke = color_of(el_child(obj, "StrokeColor"), self.res.color_spaces) or style.stroke
        fill = color_of(el_child(obj, "FillColor"), self.res.color_spaces) or style.fill
        lw = floats(obj.get("LineWidth"))
        c = self.c
        c.saveState()
        self._place(obj)
        p, _ = draw_path(c, el_text(el_child(obj, "AbbreviatedData")))
        c.setLineWidth(lw[0] if lw else style.line_width)
        c.setLineCap({"Round": 1, "Square": 2}.get(obj.get("Cap", ""), 0))
        c.setLineJoin({"Round": 1, "Bevel": 2}.get(obj.get("Join", ""), 0))
        self._set_colors(stroke, fill)
        c.drawPath(p, stroke=int(stroke_on and stroke is not None), fill=int(fill_on and fill is not None),
                   fillMode=0 if obj.get("Rule") == "Even-Odd" else 1)
        c.restoreState()

    def text(self, obj: etree._Element, style: Style) -> None:
        if obj.get("Visible") == "false":
            return
        style = param_style(obj.get("DrawParam", ""), self.res, style)
        size = (floats(obj.get("Size")) or [3.5])[0]
        fill = color_of(el_child(obj, "FillColor"), self.res.color_spaces) or style.fill or (0, 0, 0, 1)
        if obj.get("Fill") == "false":
            return
        hscale = (floats(obj.get("HScale")) or [1.0])[0]
        codes = el_children(obj, "TextCode")
        all_text = "".join(cd.text or "" for cd in codes)
        font = self.fonts.name(obj.get("Font", ""), all_text, self.res)
        c = self.c
        c.saveState()
        self._place(obj)
        c.setFillColorRGB(*fill[:3], alpha=fill[3])
        t = c.beginText()
        t.setFont(font, size)
        x = y = 0.0
        for code in codes:
            chars = code.text or ""
            xs, ys = floats(code.get("X")), floats(code.get("Y"))
            x = xs[0] if xs else x
            y = ys[0] if ys else y
            dxs, dys = deltas(code.get("DeltaX")), deltas(code.get("DeltaY"))
            vertical = not dxs and any(dys)
            for i, ch in enumerate(chars):
                if not ch.isspace():
                    # Each glyph upright at its own position (y is down in OFD space).
                    t.setTextTransform(hscale, 0, 0, -1, x, y)
                    t.textOut(ch)
                # A vertical run gives (non-zero) DeltaY and no DeltaX: then x stays put.
                x += dxs[i] if i < len(dxs) else (
                    0.0 if vertical else pdfmetrics.stringWidth(ch, font, size) * hscale)
                y += dys[i] if i < len(dys) else 0.0
        c.drawText(t)
        c.restoreState()

    def _reader(self, resource_id: str) -> ImageReader | None:
        if resource_id in self.images:
            return self.images[resource_id]
        media = self.res.media.get(resource_id)
        reader = None
        if media is None or media.path is None:
            self.problems.append(f"page {self.page.index + 1}: image {resource_id} missing")
        else:
            data = self.doc.package.read(media.path)
            jb2 = jbig2_embedded(data)
            if jb2 is not None:
                # Pillow can't decode JBIG2 but PDF can carry it (JBIG2Decode): draw a uniquely
                # sized placeholder now and splice the JBIG2 stream in after the PDF is built.
                self.jbig2.append(jb2)
                reader = ImageReader(Image.new("L", (JB2_MARK + len(self.jbig2) - 1, 1), 0x5A))
            else:
                reader = image_reader(data, self.problems, media.path)
        self.images[resource_id] = reader
        return reader

    def image(self, obj: etree._Element) -> None:
        if obj.get("Visible") == "false":
            return
        reader = self._reader(obj.get("ResourceID", ""))
        c = self.c
        c.saveState()
        self._place(obj)
        # Image space is the unit square with y down; drawImage paints y up: flip it.
        c.transform(1, 0, 0, -1, 0, 1)
        if reader is not None:
            c.drawImage(reader, 0, 0, 1, 1, mask="auto", preserveAspectRatio=False)
        else:
            c.setStrokeColorRGB(0.8, 0.8, 0.8)
            c.setLineWidth(0.01)
            c.rect(0, 0, 1, 1, stroke=1, fill=0)
        c.restoreState()

    def composite(self, obj: etree._Element, style: Style) -> None:
        unit = self.res.composite_units.get(obj.get("ResourceID", ""))
        if unit is None:
            return
        c = self.c
        c.saveState()
        self._place(obj)
        content = el_child(unit, "Content")
        self.block(content if content is not None else unit, style)
        c.restoreState()

    def stamp(self, boundary: list[float], picture: bytes, depth: int = 0) -> None:
        if len(boundary) != 4:
            return
        x, y, w, h = boundary
        c = self.c
        if picture[:4] == b"PK\x03\x04":
            # Invoice seals are themselves tiny OFDs (GM/T 0031 picture type "ofd"): paint their
            # first page into the stamp's boundary. Nested seals are not followed.
            if depth:
                return
            from kjda.formats.ofd.package import OFDLimits, OFDPackage

            try:
                inner = OFDPackage.open(picture, limits=OFDLimits(max_total_bytes=16 * 1024 * 1024))
                doc = inner.documents()[0]
                page = doc.pages[0]
            except Exception:
                self.problems.append("seal picture (OFD) can't be read")
                return
            px, py, pw, ph = page.box
            c.saveState()
            c.translate(x, y)
            c.scale(w / (pw or w), h / (ph or h))
            c.translate(-px, -py)
            _Painter(c, doc, page, Fonts(doc, self.problems), self.problems).paint()
            c.restoreState()
            return
        reader = seal_reader(picture)
        if reader is None:
            self.problems.append("seal picture can't be decoded")
            return
        c.saveState()
        c.translate(x, y + h)
        c.scale(1, -1)
        c.drawImage(reader, 0, 0, w, h, mask="auto", preserveAspectRatio=True)
        c.restoreState()


def render_pdf(doc: OFDDocument) -> RenderResult:
    """Every page of the document as one PDF (not yet PDF/A: see `renditions.ofd_rendition`)."""
    problems: list[str] = []
    buf = io.BytesIO()
    with _LOCK:
        cjk_font()
        c = canvas.Canvas(buf, invariant=1, pageCompression=1, initialFontName=cjk_font())
        info = doc.info
        c.setTitle(info.title or "OFD")
        c.setAuthor(info.author)
        c.setCreator("KJDA OFD renderer")
        fonts = Fonts(doc, problems)
        stamps = seal_pictures(doc)
        pages = doc.pages or []
        jbig2: list[tuple[bytes, int, int]] = []
        for page in pages:
            painter = _Painter(c, doc, page, fonts, problems, jbig2)
            box = page.box
            painter.run(box)
            if stamps.get(page.id):
                px, py, w, h = box
                c.saveState()
                c.transform(MM, 0, 0, -MM, -px * MM, h * MM + py * MM)
                for boundary, picture in stamps[page.id]:
                    painter.stamp(boundary, picture)
                c.restoreState()
            c.showPage()
        if not pages:
            c.setPageSize((210 * MM, 297 * MM))
            c.setFont(cjk_font(), 12)
            c.drawString(20 * MM, 270 * MM, "（此 OFD 文档没有页面 / this OFD document has no pages）")
            c.showPage()
        c.save()
    pdf = splice_jbig2(buf.getvalue(), jbig2) if jbig2 else buf.getvalue()
    return RenderResult(pdf, max(1, len(pages)), problems + doc.problems)


def render_png(doc: OFDDocument, *, page: int = 0, dpi: int = 144, pdf: bytes | None = None) -> bytes:
    """One page as PNG (the PDF rendition rasterised, so both previews look the same)."""
    import pypdfium2 as pdfium

    data = pdf if pdf is not None else render_pdf(doc).pdf
    pdf_doc = pdfium.PdfDocument(data)
    try:
        bitmap = pdf_doc[page].render(scale=dpi / 72)
        img = bitmap.to_pil()
    finally:
        pdf_doc.close()
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    return out.getvalue()


def render_pdfa(doc: OFDDocument) -> RenderResult:
    """The document as PDF/A-2b (the viewing rendition kept beside the original OFD). Dated from
    the OFD's own creation date, so the same OFD always gives the same bytes."""
    from datetime import UTC, date, datetime

    from kjda.formats.pdfa import make_pdfa2b

    result = render_pdf(doc)
    created = doc.info.creation_date
    if isinstance(created, date) and not isinstance(created, datetime):
        created = datetime(created.year, created.month, created.day, tzinfo=UTC)
    info = doc.info
    result.pdf = make_pdfa2b(result.pdf, title=info.title or "OFD 版式文件转换件 / OFD rendition",
                             author=info.author or info.creator or "", subject="OFD (GB/T 33190) 转换件 / rendition",
                             created=created or datetime(1970, 1, 1, tzinfo=UTC))
    return result
