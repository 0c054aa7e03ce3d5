"""Seal pictures for the OFD renderer: where each readable seal's picture goes (its StampAnnot
boundaries) and the picture made see-through where it is paper-white."""

from __future__ import annotations

import io

from PIL import Image
from reportlab.lib.utils import ImageReader

from kjda.formats.ofd.document import OFDDocument, el_child, floats


def seal_reader(data: bytes) -> ImageReader | None:
    """A seal picture with its paper-white made transparent: viewers lay seals over the text
    (multiply), and an opaque white square would hide what the seal was stamped on."""
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception:
        return None
    rgba = img.convert("RGBA")
    white = rgba.convert("L").point(lambda v: 0 if v > 235 else 255)
    alpha = Image.composite(rgba.getchannel("A"), white, white)  # keep existing transparency
    rgba.putalpha(alpha)
    return ImageReader(rgba)


def seal_pictures(doc: OFDDocument) -> dict[str, list[tuple[list[float], bytes]]]:
    """Page ID → (StampAnnot boundary, picture bytes) of each seal whose picture we can draw."""
    from kjda.formats.ofd.signatures import seal_picture

    out: dict[str, list[tuple[list[float], bytes]]] = {}
    for ref in doc.signatures():
        if ref.path is None:
            continue
        try:
            root = doc.package.xml(ref.path)
            picture = seal_picture(doc.package, ref.path, root)
        except Exception:  # noqa: S112 - a seal we can't read is reported by verification, not here
            continue
        signed_info = el_child(root, "SignedInfo")
        if picture is None or signed_info is None:
            continue
        for sa in signed_info.iter("StampAnnot"):
            out.setdefault(sa.get("PageRef", ""), []).append((floats(sa.get("Boundary")), picture))
    return out
