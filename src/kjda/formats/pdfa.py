"""PDF/A-2b output for the renditions we generate ourselves (forms, approval trails, vouchers).

`make_pdfa2b` takes a PDF whose fonts are all embedded (reportlab with a TrueType font, see
`kjda.ingest.renditions`) and adds what ISO 19005-2 level B asks of the file around the page
content: XMP metadata identifying the part and conformance and matching the Info dictionary, an
sRGB output intent, a trailer /ID, no encryption, no JavaScript or forbidden actions, and a
`%PDF-1.7` header followed by the binary comment line. It refuses (rather than mislabels) a PDF
with a font that is not embedded.

What it does not do: convert arbitrary PDFs (transparency, CMYK content, annotations without
appearance streams, non-embedded fonts are not repaired). Full validation of the result against
the standard is the job of the PDF/A checker of issue #5.

`pdfa_claim` reads the PDF/A level a file claims in its XMP ("2B", "1A", "4", …) without
judging whether the claim is true.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from xml.sax.saxutils import escape

import pikepdf
from defusedxml import ElementTree
from pikepdf import Array, Dictionary, Name

from kjda.errors import DomainError

PRODUCER = "KJDA 电子会计档案 (ReportLab, pikepdf)"
CREATOR_TOOL = "KJDA"
SRGB_IDENTIFIER = "sRGB IEC61966-2.1"
_FORBIDDEN_ACTIONS = {"/Launch", "/Sound", "/Movie", "/ResetForm", "/ImportData", "/Hide",
                      "/SetOCGState", "/Rendition", "/Trans", "/GoTo3DView", "/JavaScript"}
_NS_PDFAID = "http://www.aiim.org/pdfa/ns/id/"
_NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


class PdfAError(DomainError):
    """The PDF cannot be made PDF/A-2b as it stands (e.g. a font is not embedded)."""

    status = 422


# --- the sRGB output profile ---------------------------------------------------------------

@functools.cache
def srgb_icc_profile() -> bytes:
    """An sRGB ICC profile built by littleCMS (through Pillow), nothing read from the network.

    littleCMS stamps the header with the current time and version 4.4; we fix the date so the
    same input gives the same bytes, and label it 4.2 (ICC.1:2004-10, the version ISO 32000-1
    refers to): its tags (mluc, XYZ, sf32, para, chrm) all exist in 4.2. The profile ID is
    zero (not computed), so changing the header keeps the profile valid."""
    from PIL import ImageCms

    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    if data[36:40] != b"acsp" or data[12:20] != b"mntrRGB ":
        raise PdfAError("pdfa_icc_invalid", "生成的 sRGB 色彩配置文件无效",
                        "the generated sRGB ICC profile is not a monitor RGB profile")
    data[8:12] = bytes([4, 0x20, 0, 0])
    data[24:36] = bytes.fromhex("07e8" "0001" "0001" "0000" "0000" "0000")  # 2024-01-01 00:00:00
    data[84:100] = bytes(16)
    return bytes(data)


# --- dates and XMP -------------------------------------------------------------------------

def _aware(value: datetime | None) -> datetime:
    if value is None:
        value = datetime.now(UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # naive times are taken as UTC
    return value.replace(microsecond=0)


def _pdf_date(value: datetime) -> str:
    offset = value.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"D:{value:%Y%m%d%H%M%S}{sign}{hours:02d}'{mins:02d}'"


def _xml_text(text: str) -> str:
    cleaned = "".join(ch for ch in text if ch in "\t\n\r" or ord(ch) >= 0x20)
    return escape(cleaned)


def _xmp(*, title: str, author: str, subject: str, keywords: str, created: datetime) -> bytes:
    stamp = created.isoformat(timespec="seconds")
    parts = []
    if title:
        parts.append('<dc:title><rdf:Alt><rdf:li xml:lang="x-default">'
                     f"{_xml_text(title)}</rdf:li></rdf:Alt></dc:title>")
    if author:
        parts.append(f"<dc:creator><rdf:Seq><rdf:li>{_xml_text(author)}</rdf:li></rdf:Seq>"
                     "</dc:creator>")
    if subject:
        parts.append('<dc:description><rdf:Alt><rdf:li xml:lang="x-default">'
                     f"{_xml_text(subject)}</rdf:li></rdf:Alt></dc:description>")
    parts += ["<dc:format>application/pdf</dc:format>",
              f"<xmp:CreateDate>{stamp}</xmp:CreateDate>",
              f"<xmp:ModifyDate>{stamp}</xmp:ModifyDate>",
              f"<xmp:MetadataDate>{stamp}</xmp:MetadataDate>",
              f"<xmp:CreatorTool>{_xml_text(CREATOR_TOOL)}</xmp:CreatorTool>",
              f"<pdf:Producer>{_xml_text(PRODUCER)}</pdf:Producer>"]
    if keywords:
        parts.append(f"<pdf:Keywords>{_xml_text(keywords)}</pdf:Keywords>")
    parts += ["<pdfaid:part>2</pdfaid:part>", "<pdfaid:conformance>B</pdfaid:conformance>"]
    body = "\n   ".join(parts)
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        f' <rdf:RDF xmlns:rdf="{_NS_RDF}">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/"\n'
        '    xmlns:pdf="http://ns.adobe.com/pdf/1.3/"\n'
        f'    xmlns:pdfaid="{_NS_PDFAID}">\n'
        f"   {body}\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n")
    padding = (" " * 99 + "\n") * 20  # room for in-place edits, as the XMP spec recommends
    return (packet + padding + '<?xpacket end="w"?>').encode("utf-8")


# --- fonts and forbidden content -----------------------------------------------------------

def _page_resources(page: Dictionary) -> pikepdf.Object | None:
    node: pikepdf.Object | None = page
    for _ in range(64):  # /Resources may be inherited from the page tree
        if not isinstance(node, Dictionary):
            return None
        if "/Resources" in node:
            return node.Resources
        node = node.get("/Parent")
    return None


def resource_dicts(pdf: pikepdf.Pdf) -> Iterator[Dictionary]:
    """Every /Resources dictionary reachable from pages, form XObjects, Type 3 fonts, patterns
    and annotation appearance streams (each visited once)."""
    seen: set[tuple[int, int]] = set()
    stack: list[pikepdf.Object] = []
    for page in pdf.pages:
        res = _page_resources(page.obj)
        if res is not None:
            stack.append(Dictionary(Resources=res))
        for annot in page.obj.get("/Annots", Array()):
            appearance = annot.get("/AP") if isinstance(annot, Dictionary) else None
            for state in (appearance.values() if isinstance(appearance, Dictionary) else []):
                stack.extend([state] if isinstance(state, pikepdf.Stream) else
                             [s for s in state.values() if isinstance(s, pikepdf.Stream)]
                             if isinstance(state, Dictionary) else [])
    while stack:
        obj = stack.pop()
        if obj.is_indirect:
            if obj.objgen in seen:
                continue
            seen.add(obj.objgen)
        res = obj.get("/Resources")
        if not isinstance(res, Dictionary):
            continue
        yield res
        for key in ("/XObject", "/Pattern"):
            for child in res.get(key, Dictionary()).values():
                if isinstance(child, pikepdf.Stream):
                    stack.append(child)
        for font in res.get("/Font", Dictionary()).values():
            if isinstance(font, Dictionary) and font.get("/Subtype") == Name.Type3:
                stack.append(font)


def font_embedded(font: pikepdf.Object) -> bool:
    if font.get("/Subtype") == Name.Type3:
        return True  # glyphs are content streams inside the font
    if font.get("/Subtype") == Name.Type0:
        font = font.DescendantFonts[0]
    descriptor = font.get("/FontDescriptor")
    return isinstance(descriptor, Dictionary) and any(
        k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))


def fonts_not_embedded(pdf: pikepdf.Pdf) -> list[str]:
    """BaseFont names of the fonts referenced from the pages that lack an embedded program."""
    missing: set[str] = set()
    for res in resource_dicts(pdf):
        for name, font in res.get("/Font", Dictionary()).items():
            if isinstance(font, Dictionary) and not font_embedded(font):
                missing.add(str(font.get("/BaseFont", name)).lstrip("/"))
    return sorted(missing)


def _strip_actions(pdf: pikepdf.Pdf) -> None:
    root = pdf.Root
    for key in ("/AA", "/Perms"):
        if key in root:
            del root[key]
    if isinstance(root.get("/OpenAction"), Dictionary):  # a destination array is fine
        del root["/OpenAction"]
    names = root.get("/Names")
    if isinstance(names, Dictionary):
        for key in ("/JavaScript", "/EmbeddedFiles"):
            if key in names:
                del names[key]
    form = root.get("/AcroForm")
    if isinstance(form, Dictionary):
        for key in ("/XFA", "/NeedAppearances"):
            if key in form:
                del form[key]
    for page in pdf.pages:
        for key in ("/AA", "/Trans"):
            if key in page.obj:
                del page.obj[key]
        for annot in page.obj.get("/Annots", Array()):
            if not isinstance(annot, Dictionary):
                continue
            if "/AA" in annot:
                del annot["/AA"]
            action = annot.get("/A")
            if isinstance(action, Dictionary) and str(action.get("/S")) in _FORBIDDEN_ACTIONS:
                del annot["/A"]
            # printable; not invisible, hidden, no-view or toggle-no-view
            annot.F = (int(annot.get("/F", 0)) | 4) & ~(1 | 2 | 32 | 256)


# --- the conversion ------------------------------------------------------------------------

def make_pdfa2b(pdf_bytes: bytes, *, title: str, author: str, subject: str = "",
                keywords: str = "", created: datetime | None = None,
                lang: str = "zh-CN") -> bytes:
    """Return `pdf_bytes` as PDF/A-2b. `created` becomes both the creation and modification
    date (now when None; naive means UTC): pass a fixed time for reproducible bytes."""
    try:
        pdf = pikepdf.open(io.BytesIO(pdf_bytes))
    except pikepdf.PasswordError as exc:
        raise PdfAError("pdfa_encrypted", "加密的 PDF 不能转为 PDF/A",
                        "an encrypted PDF cannot become PDF/A") from exc
    except pikepdf.PdfError as exc:
        raise PdfAError("pdfa_unreadable", "PDF 无法读取", f"unreadable PDF: {exc}") from exc
    with pdf:
        if pdf.is_encrypted:
            raise PdfAError("pdfa_encrypted", "加密的 PDF 不能转为 PDF/A",
                            "an encrypted PDF cannot become PDF/A")
        missing = fonts_not_embedded(pdf)
        if missing:
            raise PdfAError("pdfa_font_not_embedded",
                            f"字体未嵌入，不能生成 PDF/A：{', '.join(missing)}",
                            f"fonts not embedded, cannot make PDF/A: {', '.join(missing)}",
                            detail={"fonts": missing})
        _strip_actions(pdf)
        when = _aware(created)
        stamp = _pdf_date(when)
        info = {"/Title": title, "/Author": author, "/Subject": subject, "/Keywords": keywords,
                "/Creator": CREATOR_TOOL, "/Producer": PRODUCER, "/CreationDate": stamp,
                "/ModDate": stamp}
        info = {k: v for k, v in info.items() if v}  # each kept entry has its XMP twin
        pdf.trailer.Info = pdf.make_indirect(
            Dictionary({k: pikepdf.String(v) for k, v in info.items()}))
        metadata = pdf.make_stream(_xmp(title=title, author=author, subject=subject,
                                        keywords=keywords, created=when))
        metadata.Type, metadata.Subtype = Name.Metadata, Name.XML
        pdf.Root.Metadata = metadata
        profile = pdf.make_stream(srgb_icc_profile())
        profile.N = 3
        profile.Alternate = Name.DeviceRGB
        pdf.Root.OutputIntents = Array([pdf.make_indirect(Dictionary(
            Type=Name.OutputIntent, S=Name.GTS_PDFA1,
            OutputConditionIdentifier=pikepdf.String(SRGB_IDENTIFIER),
            Info=pikepdf.String(SRGB_IDENTIFIER),
            RegistryName=pikepdf.String("http://www.color.org"),
            DestOutputProfile=profile))])
        if lang:
            pdf.Root.Lang = pikepdf.String(lang)
        if "/ID" in pdf.trailer:  # reportlab's invariant ID is the same for every document
            del pdf.trailer["/ID"]
        out = io.BytesIO()
        pdf.save(out, min_version="1.7", deterministic_id=True, compress_streams=True,
                 encryption=False, linearize=False, fix_metadata_version=False)
    return out.getvalue()


# --- reading a claim -----------------------------------------------------------------------

def _claim_from_xmp(xmp: bytes) -> str | None:
    try:
        tree = ElementTree.fromstring(xmp)
    except Exception:  # malformed or hostile XML: no claim we can read
        return None
    values: dict[str, str] = {}
    for desc in tree.iter(f"{{{_NS_RDF}}}Description"):
        for key in ("part", "conformance"):
            attr = desc.get(f"{{{_NS_PDFAID}}}{key}")
            elem = desc.find(f"{{{_NS_PDFAID}}}{key}")
            value = attr if attr is not None else (elem.text if elem is not None else None)
            if value and value.strip() and key not in values:
                values[key] = value.strip()
    part = values.get("part", "")
    if not part.isdigit():
        return None
    return part + values.get("conformance", "").upper()


def pdfa_claim(pdf_bytes: bytes) -> str | None:
    """The PDF/A level the file's XMP metadata claims ("2B", "1A", "3U", "4"…), or None when
    it claims none or the file can't be read. A claim is not proof of conformance."""
    try:
        with pikepdf.open(io.BytesIO(pdf_bytes)) as pdf:
            stream = pdf.Root.get("/Metadata")
            if not isinstance(stream, pikepdf.Stream):
                return None
            xmp = stream.read_bytes()
    except (pikepdf.PdfError, pikepdf.PasswordError, ValueError):
        return None
    return _claim_from_xmp(xmp)
