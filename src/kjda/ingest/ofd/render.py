"""Rendering OFD pages for preview: PDF (vector, via reportlab) and PNG (that PDF rasterised by
pypdfium2). Pure Python; no network, no fonts fetched.

What is drawn (GB/T 33190 §8–§13): templates (background first), layers and page blocks in order,
PathObject (AbbreviatedData: M/S/L/Q/B/A/C, stroke and fill with DrawParam inheritance),
TextObject (TextCode with DeltaX/DeltaY and the `g n v` shorthand, CTM), ImageObject (any format
Pillow reads; CTM maps the unit square), and seal pictures (PNG/JPEG/GIF/BMP inside the GM/T 0031
seal) at their StampAnnot boundary. Text uses the embedded TrueType font when reportlab can load
it and it has every glyph the page needs, otherwise the system CJK font (fonts-wqy-microhei,
installed by .ci/run). Missing resources are skipped and listed in `problems`; a page always
renders. JBIG2 images (invoice QR codes) go into the PDF as they are (JBIG2Decode). Not drawn:
shadings/patterns (filled with their first colour), clips.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PIL import Image
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from kjda.ingest.ofd.document import OFDDocument, OFDPage, _child, _children, _text, floats

if TYPE_CHECKING:
    from lxml import etree

MM = 72 / 25.4
_LOCK = threading.Lock()  # reportlab's font subsetting state is per process, not per document
_FALLBACK_FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
_FALLBACK_FONT = "KJDA-WQYMicroHei"  # the same registration name renditions.py uses


def _fallback_font() -> str:
    if _FALLBACK_FONT not in pdfmetrics.getRegisteredFontNames():
        from kjda.ingest.renditions import cjk_font

        return cjk_font()  # raises the clear "install fonts-wqy-microhei" error if missing
    return _FALLBACK_FONT


@dataclass
class RenderResult:
    pdf: bytes
    pages: int
    problems: list[str] = field(default_factory=list)


# --- colours and draw parameters -----------------------------------------------------------------

def _color(el: etree._Element | None, spaces: dict) -> tuple[float, float, float, float] | None:
    if el is None:
        return None
    raw = (el.get("Value") or "").strip()
    alpha = (floats(el.get("Alpha")) or [255.0])[0] / 255.0
    if not raw:
        # Axial/radial shading or pattern: use its first segment's colour.
        seg = next((s for s in el.iter("Segment")), None)
        inner = _child(seg, "Color") if seg is not None else None
        return _color(inner, spaces) if inner is not None else None
    if raw.startswith("#") or re.fullmatch(r"(#?[0-9A-Fa-f]{2}\s*)+", raw) and "#" in raw:
        vals = [int(t.lstrip("#"), 16) for t in raw.split()]
    else:
        vals = [int(v) for v in floats(raw)]
    space = spaces.get(el.get("ColorSpace", ""))
    kind = (space.get("Type") if space is not None else "RGB") or "RGB"
    bits = int((space.get("BitsPerComponent") if space is not None else "8") or 8)
    top = float((1 << bits) - 1) or 255.0
    if len(vals) == 1 or kind.upper() == "GRAY":
        g = vals[0] / top
        return (g, g, g, alpha)
    if len(vals) >= 4 or kind.upper() == "CMYK":
        c, m, y, k = ([v / top for v in vals] + [0, 0, 0, 0])[:4]
        return ((1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k), alpha)
    r, g, b = ([v / top for v in vals] + [0, 0, 0])[:3]
    return (r, g, b, alpha)


@dataclass
class _Style:
    line_width: float = 0.353
    stroke: tuple | None = (0.0, 0.0, 0.0, 1.0)
    fill: tuple | None = (0.0, 0.0, 0.0, 1.0)


def _param_style(param_id: str, res, base: _Style, depth: int = 0) -> _Style:
    dp = res.draw_params.get(param_id)
    if dp is None or depth > 8:
        return base
    if dp.get("Relative"):
        base = _param_style(dp.get("Relative"), res, base, depth + 1)
    lw = floats(dp.get("LineWidth"))
    return _Style(line_width=lw[0] if lw else base.line_width,
                  stroke=_color(_child(dp, "StrokeColor"), res.color_spaces) or base.stroke,
                  fill=_color(_child(dp, "FillColor"), res.color_spaces) or base.fill)


# --- AbbreviatedData ------------------------------------------------------------------------------

_TOKEN = re.compile(r"[A-Za-z]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _arc_to_beziers(x0, y0, rx, ry, phi_deg, large, sweep, x, y):
    """SVG-style elliptical arc (the OFD `A` operator has the same parameters) as cubic Béziers."""
    if rx == 0 or ry == 0 or (x0 == x and y0 == y):
        return [(x, y, x, y, x, y)]
    phi = math.radians(phi_deg)
    cp, sp = math.cos(phi), math.sin(phi)
    dx, dy = (x0 - x) / 2, (y0 - y) / 2
    x1p, y1p = cp * dx + sp * dy, -sp * dx + cp * dy
    rx, ry = abs(rx), abs(ry)
    lam = (x1p ** 2) / (rx ** 2) + (y1p ** 2) / (ry ** 2)
    if lam > 1:
        rx, ry = rx * math.sqrt(lam), ry * math.sqrt(lam)
    num = rx ** 2 * ry ** 2 - rx ** 2 * y1p ** 2 - ry ** 2 * x1p ** 2
    den = rx ** 2 * y1p ** 2 + ry ** 2 * x1p ** 2
    coef = math.sqrt(max(0.0, num / den)) if den else 0.0
    if bool(large) == bool(sweep):
        coef = -coef
    cxp, cyp = coef * rx * y1p / ry, -coef * ry * x1p / rx
    cx, cy = cp * cxp - sp * cyp + (x0 + x) / 2, sp * cxp + cp * cyp + (y0 + y) / 2

    def ang(ux, uy, vx, vy):
        a = math.atan2(ux * vy - uy * vx, ux * vx + uy * vy)
        return a

    t1 = ang(1, 0, (x1p - cxp) / rx, (y1p - cyp) / ry)
    dt = ang((x1p - cxp) / rx, (y1p - cyp) / ry, (-x1p - cxp) / rx, (-y1p - cyp) / ry)
    if not sweep and dt > 0:
        dt -= 2 * math.pi
    elif sweep and dt < 0:
        dt += 2 * math.pi
    n = max(1, math.ceil(abs(dt) / (math.pi / 2)))
    step = dt / n
    k = 4 / 3 * math.tan(step / 4)
    out = []
    for i in range(n):
        a1, a2 = t1 + i * step, t1 + (i + 1) * step
        c1, s1, c2, s2 = math.cos(a1), math.sin(a1), math.cos(a2), math.sin(a2)
        p1 = (c1 - k * s1, s1 + k * c1)
        p2 = (c2 + k * s2, s2 - k * c2)
        p3 = (c2, s2)

        def tr(p):
            px, py = p[0] * rx, p[1] * ry
            return cp * px - sp * py + cx, sp * px + cp * py + cy

        out.append((*tr(p1), *tr(p2), *tr(p3)))
    return out


def _path(c: canvas.Canvas, data: str):
    toks = _TOKEN.findall(data or "")
    p = c.beginPath()
    i, cur, start, op, drew = 0, (0.0, 0.0), (0.0, 0.0), "", False

    def num():
        nonlocal i
        v = float(toks[i])
        i += 1
        return v

    try:
        while i < len(toks):
            if toks[i].isalpha():
                op = toks[i]
                i += 1
                if op == "C":
                    p.close()
                    cur = start
                    continue
            if op in ("M", "S"):
                cur = start = (num(), num())
                p.moveTo(*cur)
            elif op == "L":
                cur = (num(), num())
                p.lineTo(*cur)
                drew = True
            elif op == "Q":
                x1, y1, x, y = num(), num(), num(), num()
                x0, y0 = cur
                p.curveTo(x0 + 2 / 3 * (x1 - x0), y0 + 2 / 3 * (y1 - y0),
                          x + 2 / 3 * (x1 - x), y + 2 / 3 * (y1 - y), x, y)
                cur, drew = (x, y), True
            elif op == "B":
                x1, y1, x2, y2, x, y = (num() for _ in range(6))
                p.curveTo(x1, y1, x2, y2, x, y)
                cur, drew = (x, y), True
            elif op == "A":
                rx, ry, phi, large, sweep, x, y = (num() for _ in range(7))
                for seg in _arc_to_beziers(*cur, rx, ry, phi, large, sweep, x, y):
                    p.curveTo(*seg)
                cur, drew = (x, y), True
            else:
                i += 1  # unknown operator's operand: skip it
    except (IndexError, ValueError):
        pass  # truncated data: draw what was read
    return p, drew


# --- text -------------------------------------------------------------------------------------------

def _deltas(value: str | None) -> list[float]:
    """DeltaX/DeltaY with the `g count value` run-length form (GB/T 33190 §11.3)."""
    toks = (value or "").split()
    out, i = [], 0
    while i < len(toks):
        if toks[i] == "g" and i + 2 < len(toks):
            with contextlib.suppress(ValueError):
                out += [float(toks[i + 2])] * int(float(toks[i + 1]))
            i += 3
            continue
        with contextlib.suppress(ValueError):
            out.append(float(toks[i]))
        i += 1
    return out


class _Fonts:
    """reportlab font names for OFD font ids: the embedded TrueType when usable, else fallback."""

    def __init__(self, doc: OFDDocument, problems: list[str]) -> None:
        self.doc = doc
        self.problems = problems
        self.cache: dict[tuple[str, str], str] = {}

    def name(self, font_id: str, text: str, res) -> str:
        font = res.fonts.get(font_id)
        key = (font_id, font.path if font else "")
        if font and font.path and key not in self.cache:
            self.cache[key] = self._embedded(font)
        name = self.cache.get(key) or ""
        if name:
            face = pdfmetrics.getFont(name).face
            if all(ord(ch) in face.charToGlyph for ch in text if not ch.isspace()):
                return name
        return _fallback_font()

    def _embedded(self, font) -> str:
        name = f"KJDA-OFD-{abs(hash((font.path, len(self.doc.package.read(font.path))))):x}"
        if name in pdfmetrics.getRegisteredFontNames():
            return name
        try:
            pdfmetrics.registerFont(TTFont(name, io.BytesIO(self.doc.package.read(font.path))))
        except Exception:  # CFF/OpenType, Type1, subset without cmap: reportlab can't use it
            return ""
        return name


# --- the page painter ----------------------------------------------------------------------------

class _Painter:
    def __init__(self, c: canvas.Canvas, doc: OFDDocument, page: OFDPage, fonts: _Fonts,
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
            for app in _children(annot, "Appearance"):
                self.c.saveState()
                bx = floats(app.get("Boundary"))
                if len(bx) >= 2:
                    self.c.translate(bx[0], bx[1])
                self.block(app, _Style())
                self.c.restoreState()

    def content(self, root: etree._Element) -> None:
        for layer in _children(_child(root, "Content"), "Layer"):
            self.block(layer, _param_style(layer.get("DrawParam", ""), self.res, _Style()))

    def block(self, el: etree._Element, style: _Style) -> None:
        for obj in el:
            if not isinstance(obj.tag, str):
                continue
            try:
                if obj.tag == "PageBlock":
                    self.block(obj, _param_style(obj.get("DrawParam", ""), self.res, style))
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
        if len(ctm) == 6:
            self.c.transform(*ctm)

    def _set_colors(self, stroke, fill) -> None:
        if stroke:
            self.c.setStrokeColorRGB(*stroke[:3], alpha=stroke[3])
        if fill:
            self.c.setFillColorRGB(*fill[:3], alpha=fill[3])

    def path(self, obj: etree._Element, style: _Style) -> None:
        if obj.get("Visible") == "false":
            return
        style = _param_style(obj.get("DrawParam", ""), self.res, style)
        stroke_on = obj.get("Stroke", "true") != "false"
        fill_on = obj.get("Fill", "false") == "true"
        stroke = _color(_child(obj, "StrokeColor"), self.res.color_spaces) or style.stroke
        fill = _color(_child(obj, "FillColor"), self.res.color_spaces) or style.fill
        lw = floats(obj.get("LineWidth"))
        c = self.c
        c.saveState()
        self._place(obj)
        p, _ = _path(c, _text(_child(obj, "AbbreviatedData")))
        c.setLineWidth(lw[0] if lw else style.line_width)
        c.setLineCap({"Round": 1, "Square": 2}.get(obj.get("Cap", ""), 0))
        c.setLineJoin({"Round": 1, "Bevel": 2}.get(obj.get("Join", ""), 0))
        self._set_colors(stroke, fill)
        c.drawPath(p, stroke=int(stroke_on and stroke is not None), fill=int(fill_on and fill is not None),
                   fillMode=0 if obj.get("Rule") == "Even-Odd" else 1)
        c.restoreState()

    def text(self, obj: etree._Element, style: _Style) -> None:
        if obj.get("Visible") == "false":
            return
        style = _param_style(obj.get("DrawParam", ""), self.res, style)
        size = (floats(obj.get("Size")) or [3.5])[0]
        fill = _color(_child(obj, "FillColor"), self.res.color_spaces) or style.fill or (0, 0, 0, 1)
        if obj.get("Fill") == "false":
            return
        hscale = (floats(obj.get("HScale")) or [1.0])[0]
        codes = _children(obj, "TextCode")
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
            dxs, dys = _deltas(code.get("DeltaX")), _deltas(code.get("DeltaY"))
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
            jb2 = _jbig2_embedded(data)
            if jb2 is not None:
                # Pillow can't decode JBIG2 but PDF can carry it (JBIG2Decode): draw a uniquely
                # sized placeholder now and splice the JBIG2 stream in after the PDF is built.
                self.jbig2.append(jb2)
                reader = ImageReader(Image.new("L", (_JB2_MARK + len(self.jbig2) - 1, 1), 0x5A))
            else:
                reader = _image_reader(data, self.problems, media.path)
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

    def composite(self, obj: etree._Element, style: _Style) -> None:
        unit = self.res.composite_units.get(obj.get("ResourceID", ""))
        if unit is None:
            return
        c = self.c
        c.saveState()
        self._place(obj)
        content = _child(unit, "Content")
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
            from kjda.ingest.ofd.package import OFDLimits, OFDPackage

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
            _Painter(c, doc, page, _Fonts(doc, self.problems), self.problems).paint()
            c.restoreState()
            return
        reader = _image_reader(picture, self.problems, "seal picture")
        if reader is None:
            return
        c.saveState()
        c.translate(x, y + h)
        c.scale(1, -1)
        c.drawImage(reader, 0, 0, w, h, mask="auto", preserveAspectRatio=True)
        c.restoreState()


_JBIG2_MAGIC = b"\x97JB2\r\n\x1a\n"
_JB2_MARK = 7919  # placeholder width base: 1-pixel-high images this wide are ours


def _jbig2_embedded(data: bytes) -> tuple[bytes, int, int] | None:
    """A JBIG2 file (ITU T.88 Annex D, sequential organisation) as the embedded stream PDF's
    JBIG2Decode takes, with the page size from its page-information segment."""
    if not data.startswith(_JBIG2_MAGIC) or len(data) < 13:
        return None
    flags, pos = data[8], 9
    if not flags & 0x01:  # random-access organisation: not a plain segment sequence
        return None
    if not flags & 0x02:
        pos += 4  # number of pages
    stream, p = data[pos:], 0
    while p + 11 <= len(stream):
        number = int.from_bytes(stream[p:p + 4], "big")
        seg_flags = stream[p + 4]
        p += 5
        count = stream[p] >> 5
        if count == 7:
            count = int.from_bytes(stream[p:p + 4], "big") & 0x1FFFFFFF
            p += 4 + (count + 8) // 8
        else:
            p += 1
        p += count * (1 if number <= 256 else 2 if number <= 65536 else 4)
        p += 4 if seg_flags & 0x40 else 1
        length = int.from_bytes(stream[p:p + 4], "big")
        p += 4
        if seg_flags & 0x3F == 48 and p + 8 <= len(stream):  # page information
            return stream, int.from_bytes(stream[p:p + 4], "big"), int.from_bytes(stream[p + 4:p + 8], "big")
        if length == 0xFFFFFFFF:
            return None
        p += length
    return None


def _splice_jbig2(pdf: bytes, streams: list[tuple[bytes, int, int]]) -> bytes:
    import pikepdf

    with pikepdf.open(io.BytesIO(pdf)) as doc:
        for page in doc.pages:
            for _, xobj in page.get_images().items():
                index = int(xobj.get("/Width", 0)) - _JB2_MARK
                if int(xobj.get("/Height", 0)) != 1 or not 0 <= index < len(streams):
                    continue
                data, width, height = streams[index]
                xobj.write(data, filter=pikepdf.Name.JBIG2Decode)
                xobj.Width, xobj.Height, xobj.BitsPerComponent = width, height, 1
                xobj.ColorSpace = pikepdf.Name.DeviceGray
                for key in ("/SMask", "/Decode", "/DecodeParms", "/Mask"):
                    if key in xobj:
                        del xobj[key]
        out = io.BytesIO()
        doc.save(out)
    return out.getvalue()


def _image_reader(data: bytes, problems: list[str], name: str) -> ImageReader | None:
    if data[:3] == b"\xff\xd8\xff":
        return ImageReader(io.BytesIO(data))  # JPEG goes in as it is (DCTDecode), not re-encoded
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception:
        problems.append(f"image {name} can't be decoded (format not supported)")
        return None
    if img.mode not in ("RGB", "RGBA", "L", "LA"):
        img = img.convert("RGBA" if "A" in img.mode or "transparency" in img.info else "RGB")
    return ImageReader(img)


def _seal_pictures(doc: OFDDocument) -> dict[str, list[tuple[list[float], bytes]]]:
    """Page ID → (StampAnnot boundary, picture bytes) of each seal whose picture we can draw."""
    from kjda.ingest.ofd.signatures import seal_picture

    out: dict[str, list[tuple[list[float], bytes]]] = {}
    for ref in doc.signatures():
        if ref.path is None:
            continue
        try:
            root = doc.package.xml(ref.path)
            picture = seal_picture(doc.package, ref.path, root)
        except Exception:  # noqa: S112 - a seal we can't read is reported by verification, not here
            continue
        if picture is None:
            continue
        for sa in _child(root, "SignedInfo").iter("StampAnnot"):
            out.setdefault(sa.get("PageRef", ""), []).append((floats(sa.get("Boundary")), picture))
    return out


def render_pdf(doc: OFDDocument) -> RenderResult:
    """Every page of the document as one PDF (not yet PDF/A: see `renditions.ofd_rendition`)."""
    problems: list[str] = []
    buf = io.BytesIO()
    with _LOCK:
        _fallback_font()
        c = canvas.Canvas(buf, invariant=1, pageCompression=1, initialFontName=_fallback_font())
        info = doc.info
        c.setTitle(info.title or "OFD")
        c.setAuthor(info.author)
        c.setCreator("KJDA OFD renderer")
        fonts = _Fonts(doc, problems)
        stamps = _seal_pictures(doc)
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
            c.setFont(_fallback_font(), 12)
            c.drawString(20 * MM, 270 * MM, "（此 OFD 文档没有页面 / this OFD document has no pages）")
            c.showPage()
        c.save()
    pdf = _splice_jbig2(buf.getvalue(), jbig2) if jbig2 else buf.getvalue()
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

    from kjda.ingest.pdfa import make_pdfa2b

    result = render_pdf(doc)
    created = doc.info.creation_date
    if isinstance(created, date) and not isinstance(created, datetime):
        created = datetime(created.year, created.month, created.day, tzinfo=UTC)
    info = doc.info
    result.pdf = make_pdfa2b(result.pdf, title=info.title or "OFD 版式文件转换件 / OFD rendition",
                             author=info.author or info.creator or "", subject="OFD (GB/T 33190) 转换件 / rendition",
                             created=created or datetime(1970, 1, 1, tzinfo=UTC))
    return result
