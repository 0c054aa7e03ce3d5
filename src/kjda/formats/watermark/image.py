"""Watermarking an image with Pillow: the mark's lines as a rotated tile blended into the
picture in a grid, and the signed token in the file's own metadata (PNG iTXt, JPEG COM and XMP
APP1, TIFF ImageDescription). JPEG, PNG and TIFF keep their format; anything else becomes PNG.
"""

from __future__ import annotations

import io
from xml.sax.saxutils import quoteattr

from PIL import Image, ImageDraw, ImageFont, PngImagePlugin, UnidentifiedImageError

from kjda.formats.fonts import FONT_PATH
from kjda.formats.watermark.mark import Found, Mark, WatermarkError, token, token_find

PNG_KEY = "KJDA-Watermark"
TIFF_DESCRIPTION = 270
_OPACITY = 0.24
_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "TIFF": "image/tiff"}


def _open(data: bytes) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise WatermarkError("watermark_unsupported", "该文件不是可加水印的 PDF 或图像",
                             "the file is not a PDF or image that can be watermarked") from exc
    return img


def _tile(mark: Mark, size: int) -> Image.Image:
    """The mark's lines, rotated 35°, as an 8-bit mask at the blend opacity."""
    font = ImageFont.truetype(str(FONT_PATH), size, index=0)
    lines = mark.lines()
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    width = max(int(probe.textlength(line, font=font)) for line in lines) + size * 3
    height = int(size * 1.3 * len(lines)) + size * 3
    tile = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(tile)
    for n, line in enumerate(lines):
        draw.text((size, size + n * size * 1.3), line, fill=int(255 * _OPACITY), font=font)
    return tile.rotate(35, expand=True, resample=Image.Resampling.BICUBIC)


def _marked(img: Image.Image, mark: Mark) -> Image.Image:
    if img.mode not in ("RGB", "RGBA", "L", "LA"):
        img = img.convert("RGBA" if "transparency" in img.info or img.mode == "PA" else "RGB")
    tile = _tile(mark, max(14, min(img.size) // 28))
    greys: dict[str, float | tuple[float, ...]] = {
        "RGB": (90, 90, 90), "RGBA": (90, 90, 90, 255), "L": 90, "LA": (90, 255)}
    grey = greys[img.mode]
    ink = Image.new(img.mode, tile.size, grey)
    out = img.copy()
    for row, y in enumerate(range(-tile.height // 2, img.height, tile.height * 3 // 4)):
        shift = tile.width // 2 if row % 2 else 0
        for x in range(-shift, img.width, tile.width):
            out.paste(ink, (x, y), tile)  # blends grey in where the mask is set
    return out


def _xmp(tok: str) -> bytes:
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
            'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:kjdawm="http://ns.kjda.org/watermark/1.0/" '
            f'kjdawm:Token={quoteattr(tok)}/></rdf:RDF></x:xmpmeta>'
            '<?xpacket end="w"?>').encode()


def watermark_image(data: bytes, mark: Mark, *, key: bytes) -> tuple[bytes, str]:
    img = _open(data)
    fmt = img.format if img.format in _FORMATS else "PNG"
    out_img = _marked(img, mark)
    tok = token(mark, key)
    buf = io.BytesIO()
    extra: dict[str, object] = {k: img.info[k] for k in ("icc_profile", "dpi") if k in img.info}
    if fmt == "JPEG":
        if out_img.mode not in ("RGB", "L"):
            out_img = out_img.convert("RGB")
        if "exif" in img.info:
            extra["exif"] = img.info["exif"]  # keeps the orientation the reader sees
        out_img.save(buf, "JPEG", quality=90, comment=tok.encode(), xmp=_xmp(tok), **extra)
    elif fmt == "TIFF":
        out_img.save(buf, "TIFF", compression="tiff_lzw",
                     tiffinfo={TIFF_DESCRIPTION: tok}, **extra)
    else:
        info = PngImagePlugin.PngInfo()
        info.add_itxt(PNG_KEY, tok)
        out_img.save(buf, "PNG", pnginfo=info, **extra)
    return buf.getvalue(), _FORMATS[fmt]


def watermark_image_read(data: bytes, *, key: bytes) -> Found | None:
    try:
        img = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        return None
    candidates: list[tuple[str, object]] = []
    if img.format == "PNG":
        candidates.append(("png-itxt", img.info.get(PNG_KEY)))
    elif img.format == "JPEG":
        candidates += [("jpeg-com", img.info.get("comment")), ("jpeg-xmp", img.info.get("xmp"))]
    elif img.format == "TIFF":
        candidates.append(("tiff", getattr(img, "tag_v2", {}).get(TIFF_DESCRIPTION)))
    for source, value in candidates:
        if isinstance(value, (str, bytes)):
            found = token_find(value, key, source=source)
            if found is not None:
                return found
    return None
