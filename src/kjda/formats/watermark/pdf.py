"""Watermarking a PDF: a reportlab overlay (visible diagonal text plus the signed token in
invisible text, render mode 3) laid over every page with pikepdf, and the mark in the XMP
metadata under our own namespace, declared as a PDF/A extension schema.

The original pages' content streams are not edited: pikepdf wraps them and appends the overlay
as a Form XObject. A PDF/A-1 input gets an opaque light grey mark, because part 1 forbids
transparency; parts 2 and 3 get a semi-transparent one. The overlay embeds its (subset) CJK font
and uses DeviceRGB, which a PDF/A's output intent covers.
"""

from __future__ import annotations

import io
import math
import warnings

import pikepdf
from lxml import etree
from reportlab.pdfgen import canvas

from kjda.formats.fonts import cjk_font
from kjda.formats.pdfa import SRGB_IDENTIFIER, pdfa_claim, srgb_icc_profile
from kjda.formats.watermark.mark import (
    Found,
    Mark,
    WatermarkError,
    mark_from_fields,
    signature,
    token,
    token_find,
    verify,
)

NS = "http://ns.kjda.org/watermark/1.0/"
PREFIX = "kjdawm"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_X = "adobe:ns:meta/"
_EXT = "http://www.aiim.org/pdfa/ns/extension/"
_SCHEMA = "http://www.aiim.org/pdfa/ns/schema#"
_PROP = "http://www.aiim.org/pdfa/ns/property#"
# XMP property → Mark field (Signature is the HMAC over the canonical payload).
FIELDS = {"MarkId": "mark_id", "LoanNo": "loan_no", "Person": "person",
          "Department": "department", "Time": "time", "Notice": "notice"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=False)


def watermark_pdf(data: bytes, mark: Mark, *, key: bytes) -> bytes:
    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError as exc:
        raise WatermarkError("watermark_encrypted", "加密的 PDF 无法加水印",
                             "an encrypted PDF cannot be watermarked") from exc
    except pikepdf.PdfError as exc:
        raise WatermarkError("watermark_unreadable", "PDF 无法读取，无法加水印",
                             f"unreadable PDF, cannot watermark: {exc}") from exc
    claim = pdfa_claim(data) or ""
    opaque = claim.startswith("1")  # PDF/A-1: no transparency
    with pdf:
        channels = _intent_channels(pdf, add=bool(claim))
        sizes: dict[tuple[float, float], int] = {}
        boxes = []
        for page in pdf.pages:
            box = pikepdf.Rectangle(page.cropbox)
            boxes.append(box)
            sizes.setdefault((round(box.width, 2), round(box.height, 2)), len(sizes))
        overlay = pikepdf.open(io.BytesIO(_overlay(list(sizes), mark, token(mark, key), opaque,
                                                  channels)))
        forms = [pdf.copy_foreign(p.as_form_xobject()) for p in overlay.pages]
        for page, box in zip(pdf.pages, boxes, strict=True):
            _overlay_add(pdf, page, forms[sizes[(round(box.width, 2), round(box.height, 2))]],
                         box)
        pdf.Root.Metadata = _metadata(pdf, mark, signature(mark, key))
        out = io.BytesIO()
        with warnings.catch_warnings():  # about the input's own widgets, not something we did
            warnings.simplefilter("ignore", pikepdf.PageCopyWarning)
            pdf.save(out, compress_streams=True, encryption=False, linearize=False,
                     fix_metadata_version=False)
        overlay.close()
    return out.getvalue()


def _overlay_add(pdf: pikepdf.Pdf, page: pikepdf.Page, form: pikepdf.Object,
                 box: pikepdf.Rectangle) -> None:
    """Draw `form` over the page, adding content streams around the page's own ones, which stay
    byte for byte (pikepdf's add_overlay would merge them into one rewritten stream)."""
    name = page.add_resource(form, pikepdf.Name.XObject, prefix="KjdaWm")
    page.contents_add(pdf.make_stream(b"q\n"), prepend=True)
    place = f"1 0 0 1 {box.llx:.4f} {box.lly:.4f} cm"
    page.contents_add(pdf.make_stream(f"Q\nq\n{place}\n{name} Do\nQ\n".encode()),
                      prepend=False)


def _intent_channels(pdf: pikepdf.Pdf, *, add: bool) -> int:
    """The colour channels of the PDF/A output intent, so the mark's device colour matches it
    (1 grey, 3 RGB, 4 CMYK). A PDF/A without one gets the sRGB intent our renditions carry."""
    for intent in pdf.Root.get("/OutputIntents", pikepdf.Array()):
        profile = intent.get("/DestOutputProfile") if isinstance(intent, pikepdf.Dictionary) \
            else None
        if profile is not None and int(profile.get("/N", 3)) in (1, 3, 4):
            return int(profile.N)
    if add:
        profile = pdf.make_stream(srgb_icc_profile())
        profile.N = 3
        profile.Alternate = pikepdf.Name.DeviceRGB
        pdf.Root.OutputIntents = pikepdf.Array([pdf.make_indirect(pikepdf.Dictionary(
            Type=pikepdf.Name.OutputIntent, S=pikepdf.Name.GTS_PDFA1,
            OutputConditionIdentifier=pikepdf.String(SRGB_IDENTIFIER),
            Info=pikepdf.String(SRGB_IDENTIFIER),
            RegistryName=pikepdf.String("http://www.color.org"), DestOutputProfile=profile))])
    return 3


def _ink(c: canvas.Canvas, *, channels: int, opaque: bool) -> None:
    level, alpha = (0.20, None) if opaque else (0.55, 0.22)  # how much ink: 0 none, 1 black
    if channels == 4:
        c.setFillColorCMYK(0, 0, 0, level, alpha=alpha)
    elif channels == 1:
        c.setFillGray(1 - level, alpha=alpha)
    else:
        c.setFillColorRGB(1 - level, 1 - level, 1 - level, alpha=alpha)


def _overlay(sizes: list[tuple[float, float]], mark: Mark, tok: str, opaque: bool,
             channels: int) -> bytes:
    """One page per distinct page size: the repeated diagonal mark and the invisible token."""
    font = cjk_font()
    buf = io.BytesIO()
    c = canvas.Canvas(buf, invariant=True, initialFontName=font)  # no stray Helvetica
    lines = mark.lines()
    for width, height in sizes:
        c.setPageSize((width, height))
        size = max(7.0, min(width, height) / 30)
        c.saveState()
        _ink(c, channels=channels, opaque=opaque)
        c.setFont(font, size)
        step_x = max(c.stringWidth(line, font, size) for line in lines) + size * 3
        step_y = size * (len(lines) + 3)
        diag = math.hypot(width, height)
        c.translate(width / 2, height / 2)
        c.rotate(35)
        y = -diag / 2
        row = 0
        while y < diag / 2:
            x = -diag / 2 - (step_x / 2 if row % 2 else 0)
            while x < diag / 2:
                for n, line in enumerate(lines):
                    c.drawString(x, y - n * size * 1.25, line)
                x += step_x
            y += step_y
            row += 1
        c.restoreState()
        text = c.beginText(2, 2)
        text.setTextRenderMode(3)  # invisible: only for copy, paste and extraction
        text.setFont(font, 2)
        text.textLine(tok)
        c.drawText(text)
        c.showPage()
    c.save()
    return buf.getvalue()


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _metadata(pdf: pikepdf.Pdf, mark: Mark, sig: str) -> pikepdf.Stream:
    """The document's XMP with our properties added (and declared for PDF/A validators)."""
    root = None
    if "/Metadata" in pdf.Root:
        try:
            root = etree.fromstring(pdf.Root.Metadata.read_bytes(), _PARSER)
        except (etree.XMLSyntaxError, pikepdf.PdfError):
            root = None
    if root is None:
        root = etree.Element(_q(_X, "xmpmeta"), nsmap={"x": _X})
        etree.SubElement(root, _q(_RDF, "RDF"), nsmap={"rdf": _RDF})
    rdf = root if root.tag == _q(_RDF, "RDF") else root.find(_q(_RDF, "RDF"))
    if rdf is None:
        rdf = etree.SubElement(root, _q(_RDF, "RDF"), nsmap={"rdf": _RDF})
    for old in rdf.findall(f"{_q(_RDF, 'Description')}[@{_q(NS, 'MarkId')}]"):
        rdf.remove(old)  # a copy of a copy carries the newest mark only
    desc = etree.SubElement(rdf, _q(_RDF, "Description"), nsmap={PREFIX: NS})
    desc.set(_q(_RDF, "about"), "")
    values = {"MarkId": mark.mark_id, "LoanNo": mark.loan_no, "Person": mark.person,
              "Department": mark.department, "Time": mark.time, "Notice": mark.notice,
              "Signature": sig}
    for name, value in values.items():
        desc.set(_q(NS, name), value)
    _declare_schema(rdf)
    body = etree.tostring(root, encoding="utf-8")
    packet = (b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n' + body
              + b'\n<?xpacket end="w"?>')
    stream = pdf.make_stream(packet)
    stream.Type, stream.Subtype = pikepdf.Name.Metadata, pikepdf.Name.XML
    return stream


def _declare_schema(rdf: etree._Element) -> None:
    """Our namespace in the PDF/A extension schema container (ISO 19005-1 6.7.8)."""
    bag = rdf.find(f"{_q(_RDF, 'Description')}/{_q(_EXT, 'schemas')}/{_q(_RDF, 'Bag')}")
    if bag is None:
        desc = etree.SubElement(rdf, _q(_RDF, "Description"),
                                nsmap={"pdfaExtension": _EXT, "pdfaSchema": _SCHEMA,
                                       "pdfaProperty": _PROP})
        desc.set(_q(_RDF, "about"), "")
        bag = etree.SubElement(etree.SubElement(desc, _q(_EXT, "schemas")), _q(_RDF, "Bag"))
    for li in bag:
        uri = li.find(_q(_SCHEMA, "namespaceURI"))
        if uri is not None and uri.text == NS:
            return
    li = etree.SubElement(bag, _q(_RDF, "li"), nsmap={"pdfaSchema": _SCHEMA,
                                                      "pdfaProperty": _PROP})
    li.set(_q(_RDF, "parseType"), "Resource")
    for name, text in (("schema", "KJDA watermark (借阅水印)"), ("namespaceURI", NS),
                       ("prefix", PREFIX)):
        etree.SubElement(li, _q(_SCHEMA, name)).text = text
    seq = etree.SubElement(etree.SubElement(li, _q(_SCHEMA, "property")), _q(_RDF, "Seq"))
    for name in [*FIELDS, "Signature"]:
        prop = etree.SubElement(seq, _q(_RDF, "li"))
        prop.set(_q(_RDF, "parseType"), "Resource")
        for key, text in (("name", name), ("valueType", "Text"), ("category", "external"),
                          ("description", f"watermark {name}")):
            etree.SubElement(prop, _q(_PROP, key)).text = text


def watermark_pdf_read(data: bytes, *, key: bytes) -> Found | None:
    """The mark from the XMP, else from the invisible text layer (a re-saved or printed-to-PDF
    copy may have lost its metadata but kept its text)."""
    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PdfError:
        return None
    with pdf:
        found = _from_xmp(pdf, key)
    return found if found is not None else _from_text(data, key)


def _from_xmp(pdf: pikepdf.Pdf, key: bytes) -> Found | None:
    if "/Metadata" not in pdf.Root:
        return None
    try:
        root = etree.fromstring(pdf.Root.Metadata.read_bytes(), _PARSER)
    except (etree.XMLSyntaxError, pikepdf.PdfError):
        return None
    for desc in root.iter(_q(_RDF, "Description")):
        if desc.get(_q(NS, "MarkId")) is None:
            continue
        fields = {field: desc.get(_q(NS, name), "") for name, field in FIELDS.items()}
        mark = mark_from_fields(fields)
        if mark is not None:
            sig = desc.get(_q(NS, "Signature"), "")
            return Found(mark=mark, verified=verify(mark, sig, key), source="xmp")
    return None


def _from_text(data: bytes, key: bytes) -> Found | None:
    """The token in the pages' text. Our font is a subset with a ToUnicode map, so a text
    extractor (not the raw content stream) is what reads it back."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        for page in PdfReader(io.BytesIO(data)).pages:
            found = token_find(page.extract_text() or "", key, source="text")
            if found is not None:
                return found
    except (PyPdfError, ValueError, KeyError):
        return None
    return None
