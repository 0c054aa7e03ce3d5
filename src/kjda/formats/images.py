"""Raster images (JPEG, PNG, TIFF): PRONOM ids by version, completeness by end marker,
decoding with Pillow."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import BinaryIO, ClassVar

from kjda.formats.base import (
    HEAD_BYTES,
    FormatHandler,
    FormatInfo,
    Probe,
    head_tail,
    register,
)


class _ImageHandler(FormatHandler):
    archival = True
    magic: ClassVar[tuple[bytes, ...]]
    puid: ClassVar[str] = ""

    def matches(self, head: bytes, fh: BinaryIO) -> bool:
        return head.startswith(self.magic)

    def info(self, head: bytes, fh: BinaryIO) -> FormatInfo:
        return FormatInfo(self.name, self.mime, self.puid, archival=True)

    def complete(self, fh: BinaryIO) -> bool:
        """Whether the file ends the way the format says it must (not truncated)."""
        return True

    def refined(self, img, info: FormatInfo) -> FormatInfo | None:
        return None

    def probe(self, fh: BinaryIO) -> Probe:
        from PIL import Image, UnidentifiedImageError

        if not self.complete(fh):
            return Probe(readable=False, problems=["图像不完整（缺少结束标记，可能被截断） / image "
                                                   "is truncated (no end marker)"])
        fh.seek(0)
        head = fh.read(HEAD_BYTES)
        try:
            fh.seek(0)
            with Image.open(fh) as img:
                size = img.size
                img.verify()
            fh.seek(0)
            with Image.open(fh) as img:
                img.load()  # verify() misses truncated pixel data
                refined = self.refined(img, self.info(head, fh))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            return Probe(readable=False, problems=[f"图像无法读取 / image unreadable: {exc}"])
        return Probe(readable=True, pages=1, properties={"width": size[0], "height": size[1]},
                     format=refined)


# PRONOM ids of JFIF by its version, and of Exif-only JPEG by its ExifVersion tag (as
# siegfried's PRONOM signatures assign them); neither: "raw JPEG stream" fmt/41.
_JFIF_PUID = {(1, 0): "fmt/42", (1, 1): "fmt/43", (1, 2): "fmt/44"}
_EXIF_PUID = {"0200": "x-fmt/398", "0210": "x-fmt/390", "0220": "x-fmt/391", "0221": "fmt/645",
              "0230": "fmt/1507"}


@register
class JpegHandler(_ImageHandler):
    name, mime, magic, puid = "jpeg", "image/jpeg", (b"\xff\xd8\xff",), "fmt/41"

    def info(self, head: bytes, fh: BinaryIO) -> FormatInfo:
        puid = self.puid
        if head[2:4] == b"\xff\xe0" and head[6:11] == b"JFIF\x00":
            puid = _JFIF_PUID.get((head[11], head[12]), self.puid)
        return FormatInfo(self.name, self.mime, puid, archival=True)

    def complete(self, fh: BinaryIO) -> bool:
        _, tail = head_tail(fh)
        return b"\xff\xd9" in tail  # EOI, possibly followed by padding

    def refined(self, img, info: FormatInfo) -> FormatInfo | None:
        if info.puid != self.puid:
            return None  # JFIF decided it
        version = img.getexif().get_ifd(0x8769).get(0x9000)
        if isinstance(version, bytes):
            version = version.decode("ascii", "replace")
        puid = _EXIF_PUID.get(str(version or ""), "")
        return FormatInfo(self.name, self.mime, puid, archival=True) if puid else None


def _png_chunks(fh: BinaryIO) -> Iterator[bytes]:
    fh.seek(8)
    for _ in range(100_000):
        header = fh.read(8)
        if len(header) < 8:
            return
        length = int.from_bytes(header[:4], "big")
        yield header[4:]
        fh.seek(length + 4, io.SEEK_CUR)


@register
class PngHandler(_ImageHandler):
    name, mime, magic, puid = "png", "image/png", (b"\x89PNG\r\n\x1a\n",), "fmt/11"

    def info(self, head: bytes, fh: BinaryIO) -> FormatInfo:
        # PRONOM tells PNG 1.0/1.1/1.2 apart by the chunks each version introduced.
        chunks = set(_png_chunks(fh))
        fh.seek(0)
        puid = ("fmt/13" if b"iTXt" in chunks else
                "fmt/12" if chunks & {b"iCCP", b"sRGB", b"sPLT"} else "fmt/11")
        return FormatInfo(self.name, self.mime, puid, archival=True)

    def complete(self, fh: BinaryIO) -> bool:
        return b"IEND" in set(_png_chunks(fh))


@register
class TiffHandler(_ImageHandler):
    name, mime, magic, puid = "tiff", "image/tiff", (b"II*\x00", b"MM\x00*"), "fmt/353"
