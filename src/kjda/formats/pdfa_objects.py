"""The PDF objects the PDF/A clauses look at (`kjda.formats.pdfa_check`): ICC profiles, device
colour in content streams, fonts, embedded file specifications, outline and chained actions. Each
walk visits an indirect object once and is bounded, so a hostile file can't make it loop."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pikepdf
from pikepdf import Array, Dictionary, Name

from kjda.formats.pdfa import resource_dicts
from kjda.formats.pdfa_claim import read_claim

MAX_CONTENT_SCAN = 4 * 1024 * 1024  # bytes of content streams scanned for device colour
MAX_EMBEDDED_PEEK = 8 * 1024 * 1024


def icc_problem(profile: pikepdf.Stream, part: int) -> tuple[str, str | None]:
    try:
        data = profile.read_bytes()
    except pikepdf.PdfError as exc:
        return f"unreadable ({exc})", None
    if len(data) < 128 or data[36:40] != b"acsp":
        return "not an ICC profile", None
    device, space, major = data[12:16], data[16:20].decode("latin-1"), data[8]
    if device not in (b"prtr", b"mntr") or space not in ("RGB ", "CMYK", "GRAY"):
        return f"class {device.decode('latin-1')}/{space.strip()}", space
    if major >= (3 if part == 1 else 5):
        return f"ICC version {major}", space
    return "", space


_STRINGS = re.compile(rb"\((?:\\.|[^\\()])*\)", re.S)
# Colour operators as whole tokens (strings are removed first, names start with "/"): one pass,
# no backtracking over the operands.
_COLOUR_OP = re.compile(rb"(?:(?<=\s)|^)(rg|RG|k|K|g|G)(?=[\s\[/(<%]|$)")
_OP_SPACE = {b"rg": "RGB", b"RG": "RGB", b"k": "CMYK", b"K": "CMYK", b"g": "Gray", b"G": "Gray"}
_NAMED_SPACES = {b"/DeviceRGB": "RGB", b"/DeviceCMYK": "CMYK", b"/DeviceGray": "Gray"}
_IMAGE_SPACES = {"/DeviceRGB": "RGB", "/DeviceCMYK": "CMYK", "/DeviceGray": "Gray"}


def device_colours(pdf: pikepdf.Pdf, resources: list[Dictionary] | None = None) -> set[str]:
    """The device colour spaces the pages paint with: colour operators and colour-space names
    in content streams, and the colour spaces of image XObjects (bounded scan). `resources`:
    the PDF's resource dictionaries, when the caller has walked them already."""
    used: set[str] = set()
    budget = MAX_CONTENT_SCAN
    streams: list[pikepdf.Object | None] = []
    for page in pdf.pages:
        contents = page.obj.get("/Contents")
        streams.extend(contents if isinstance(contents, Array) else [contents])
    for res in resource_dicts(pdf) if resources is None else resources:
        defaults = res.get("/ColorSpace", Dictionary())
        for xobj in res.get("/XObject", Dictionary()).values():
            if not isinstance(xobj, pikepdf.Stream):
                continue
            if xobj.get("/Subtype") == Name.Form:
                streams.append(xobj)
            elif xobj.get("/Subtype") == Name.Image and not xobj.get("/ImageMask", False):
                space = xobj.get("/ColorSpace")
                if isinstance(space, Array) and len(space) > 1 and space[0] == Name.Indexed:
                    space = space[1]
                kind = _IMAGE_SPACES.get(str(space)) if isinstance(space, Name) else None
                if kind and f"/Default{kind}" not in defaults:
                    used.add(kind)
    seen: set[tuple[int, int]] = set()
    for stream in streams:
        if not isinstance(stream, pikepdf.Stream) or budget <= 0:
            continue
        if stream.is_indirect:
            if stream.objgen in seen:
                continue
            seen.add(stream.objgen)
        try:
            data = stream.read_bytes()[:budget]
        except pikepdf.PdfError:
            continue
        budget -= len(data)
        text = _STRINGS.sub(b"()", data) if b"(" in data else data
        used.update(_OP_SPACE[op] for op in set(_COLOUR_OP.findall(text)))
        used.update(kind for name, kind in _NAMED_SPACES.items() if name in text)
    return used


def font_dicts(pdf: pikepdf.Pdf, resources: list[Dictionary] | None = None) -> Iterator[Dictionary]:
    seen: set[tuple[int, int]] = set()
    for res in resource_dicts(pdf) if resources is None else resources:
        for font in res.get("/Font", Dictionary()).values():
            if not isinstance(font, Dictionary):
                continue
            if font.is_indirect:
                if font.objgen in seen:
                    continue
                seen.add(font.objgen)
            yield font


def _name_tree_values(node: pikepdf.Object | None, depth: int = 0) -> Iterator[pikepdf.Object]:
    if not isinstance(node, Dictionary) or depth > 32:
        return
    pairs = node.get("/Names", Array())
    for i in range(1, len(pairs), 2):
        yield pairs[i]
    for kid in node.get("/Kids", Array()):
        yield from _name_tree_values(kid, depth + 1)


def file_specs(pdf: pikepdf.Pdf) -> Iterator[Dictionary]:
    """File specification dictionaries that embed a file (EF): from the EmbeddedFiles name
    tree, file attachment annotations and AF arrays, each once."""
    seen: set[tuple[int, int]] = set()
    candidates: list[pikepdf.Object] = []
    names = pdf.Root.get("/Names")
    if isinstance(names, Dictionary):
        candidates.extend(_name_tree_values(names.get("/EmbeddedFiles")))
    candidates.extend(pdf.Root.get("/AF", Array()))
    for page in pdf.pages:
        candidates.extend(page.obj.get("/AF", Array()))
        for annot in page.obj.get("/Annots", Array()):
            if isinstance(annot, Dictionary) and "/FS" in annot:
                candidates.append(annot.FS)
    for spec in candidates:
        if not isinstance(spec, Dictionary) or "/EF" not in spec:
            continue
        if spec.is_indirect:
            if spec.objgen in seen:
                continue
            seen.add(spec.objgen)
        yield spec


def af_objgens(pdf: pikepdf.Pdf) -> set[tuple[int, int]]:
    holders: list[pikepdf.Object] = [pdf.Root]
    for page in pdf.pages:
        holders.append(page.obj)
        holders.extend(a for a in page.obj.get("/Annots", Array()) if isinstance(a, Dictionary))
    return {spec.objgen for holder in holders for spec in holder.get("/AF", Array())
            if isinstance(spec, Dictionary) and spec.is_indirect}


def is_pdfa_1_or_2(stream: pikepdf.Object | None) -> bool:
    if not isinstance(stream, pikepdf.Stream):
        return False
    try:
        data = stream.read_bytes()[:MAX_EMBEDDED_PEEK]
    except pikepdf.PdfError:
        return False
    if not data.startswith(b"%PDF-"):
        return False
    try:
        with pikepdf.open(io.BytesIO(data)) as inner:
            claim, _hint, _state = read_claim(inner)
    except (pikepdf.PdfError, pikepdf.PasswordError, ValueError):
        return False
    return claim is not None and claim[:1] in ("1", "2")


def outline_actions(root: pikepdf.Object) -> Iterator[pikepdf.Object]:
    outlines = root.get("/Outlines")
    stack = [outlines.get("/First")] if isinstance(outlines, Dictionary) else []
    seen: set[tuple[int, int]] = set()
    while stack and len(seen) < 10_000:
        item = stack.pop()
        if not isinstance(item, Dictionary) or (item.is_indirect and item.objgen in seen):
            continue
        if item.is_indirect:
            seen.add(item.objgen)
        if isinstance(item.get("/A"), Dictionary):
            yield item.A
        stack.extend([item.get("/Next"), item.get("/First")])


def action_chain(actions: list[pikepdf.Object]) -> Iterator[pikepdf.Object]:
    """Each action and the ones it chains through /Next, once."""
    seen: set[tuple[int, int]] = set()
    stack: list[pikepdf.Object] = list(actions)
    while stack:
        action = stack.pop()
        if isinstance(action, Array):
            stack.extend(action)
            continue
        if not isinstance(action, Dictionary):
            continue
        if action.is_indirect:
            if action.objgen in seen:
                continue
            seen.add(action.objgen)
        yield action
        if "/Next" in action:
            stack.append(action.Next)
