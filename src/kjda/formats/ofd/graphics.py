"""Drawing primitives for OFD rendering: colours and draw parameters (GB/T 33190 §8), the
AbbreviatedData path language (§9.3) with elliptical arcs, TextCode delta lists (§11.3), and
images: Pillow readers, JBIG2 streams passed through to PDF."""

from __future__ import annotations

import contextlib
import io
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from kjda.formats.ofd.document import el_child, floats

if TYPE_CHECKING:
    from lxml import etree

# --- colours and draw parameters -----------------------------------------------------------------

def color_of(el: etree._Element | None, spaces: dict) -> tuple[float, float, float, float] | None:
    if el is None:
        return None
    raw = (el.get("Value") or "").strip()
    alpha = (floats(el.get("Alpha")) or [255.0])[0] / 255.0
    if not raw:
        # Axial/radial shading or pattern: use its first segment's colour.
        seg = next((s for s in el.iter("Segment")), None)
        inner = el_child(seg, "Color") if seg is not None else None
        return color_of(inner, spaces) if inner is not None else None
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
class Style:
    line_width: float = 0.353
    stroke: tuple | None = (0.0, 0.0, 0.0, 1.0)
    fill: tuple | None = (0.0, 0.0, 0.0, 1.0)


def param_style(param_id: str, res, base: Style, depth: int = 0) -> Style:
    dp = res.draw_params.get(param_id)
    if dp is None or depth > 8:
        return base
    if dp.get("Relative"):
        base = param_style(dp.get("Relative"), res, base, depth + 1)
    lw = floats(dp.get("LineWidth"))
    return Style(line_width=lw[0] if lw else base.line_width,
                  stroke=color_of(el_child(dp, "StrokeColor"), res.color_spaces) or base.stroke,
                  fill=color_of(el_child(dp, "FillColor"), res.color_spaces) or base.fill)


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


Matrix = tuple[float, float, float, float, float, float]
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def matrix_of(values: list[float]) -> Matrix | None:
    """A CTM attribute's numbers as a matrix; None unless there are exactly six."""
    if len(values) != 6:
        return None
    a, b, c, d, e, f = values
    return (a, b, c, d, e, f)


def matrix_then(m: Matrix, n: Matrix) -> Matrix:
    """The matrix applying `m` first, then `n` (row-vector convention, as OFD and PDF write it)."""
    a, b, c, d, e, f = m
    A, B, C, D, E, F = n  # noqa: N806
    return (a * A + b * C, a * B + b * D, c * A + d * C, c * B + d * D, e * A + f * C + E, e * B + f * D + F)


class _Mapped:
    """A reportlab path whose points pass through an affine matrix first (clip areas combine
    several transforms into one path)."""

    def __init__(self, path, m: Matrix) -> None:
        self.path, self.m = path, m

    def _t(self, x: float, y: float) -> tuple[float, float]:
        a, b, c, d, e, f = self.m
        return a * x + c * y + e, b * x + d * y + f

    def moveTo(self, x, y):  # noqa: N802 - reportlab's names
        self.path.moveTo(*self._t(x, y))

    def lineTo(self, x, y):  # noqa: N802
        self.path.lineTo(*self._t(x, y))

    def curveTo(self, x1, y1, x2, y2, x3, y3):  # noqa: N802
        self.path.curveTo(*self._t(x1, y1), *self._t(x2, y2), *self._t(x3, y3))

    def close(self):
        self.path.close()


def draw_path(c: canvas.Canvas, data: str, *, into=None, matrix: Matrix | None = None):
    """Build AbbreviatedData as a reportlab path (or append it to `into`, mapped by `matrix`)."""
    toks = _TOKEN.findall(data or "")
    base = into if into is not None else c.beginPath()
    p = _Mapped(base, matrix) if matrix is not None else base
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
    return base, drew


def deltas(value: str | None) -> list[float]:
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


_JBIG2_MAGIC = b"\x97JB2\r\n\x1a\n"
JB2_MARK = 7919  # placeholder width base: 1-pixel-high images this wide are ours


def jbig2_embedded(data: bytes) -> tuple[bytes, int, int] | None:
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


def splice_jbig2(pdf: bytes, streams: list[tuple[bytes, int, int]]) -> bytes:
    import pikepdf

    with pikepdf.open(io.BytesIO(pdf)) as doc:
        for page in doc.pages:
            for _, xobj in page.get_images().items():
                index = int(xobj.get("/Width", 0)) - JB2_MARK
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


def image_reader(data: bytes, problems: list[str], name: str) -> ImageReader | None:
    if data[:3] == b"\xff\xd8\xff":
        return ImageReader(io.BytesIO(data))  # JPEG goes in as it is (DCTDecode), not re-encoded
    try:
        img: Image.Image = Image.open(io.BytesIO(data))
        img.load()
    except Exception:
        problems.append(f"image {name} can't be decoded (format not supported)")
        return None
    if img.mode not in ("RGB", "RGBA", "L", "LA"):
        img = img.convert("RGBA" if "A" in img.mode or "transparency" in img.info else "RGB")
    return ImageReader(img)
