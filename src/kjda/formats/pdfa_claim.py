"""The PDF/A claim a PDF makes: the XMP PDF/A identification schema (pdfaid, namespace
http://www.aiim.org/pdfa/ns/id/), read with defusedxml."""

from __future__ import annotations

import pikepdf
from defusedxml import ElementTree

NS_PDFAID = "http://www.aiim.org/pdfa/ns/id/"
_NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def _xmp_values(xmp: bytes) -> tuple[dict[str, str], str | None, str]:
    """pdfaid properties in the right namespace, a part number found under a wrong one (a hint
    of the part meant), and whether the packet is "ok" or "malformed"."""
    try:
        tree = ElementTree.fromstring(xmp)
    except Exception:  # malformed or hostile XML (defusedxml refuses entities)
        return {}, None, "malformed"
    values: dict[str, str] = {}
    hint = None
    for desc in tree.iter(f"{{{_NS_RDF}}}Description"):
        items = [(k, v) for k, v in desc.attrib.items()]
        items += [(child.tag, child.text or "") for child in desc]
        for key, value in items:
            ns, _, local = key[1:].partition("}") if key.startswith("{") else ("", "", key)
            value = value.strip()
            if ns == NS_PDFAID and value and local not in values:
                values[local] = value
            elif "pdfa" in ns and local == "part" and value.isdigit():
                hint = value
    return values, hint, "ok"


def read_claim(pdf: pikepdf.Pdf) -> tuple[str | None, str | None, str]:
    """(claim such as "2B", part hint, XMP state: ok / missing / malformed)."""
    stream = pdf.Root.get("/Metadata")
    if not isinstance(stream, pikepdf.Stream):
        return None, None, "missing"
    try:
        xmp = stream.read_bytes()
    except pikepdf.PdfError:
        return None, None, "malformed"
    values, hint, state = _xmp_values(xmp)
    part = values.get("part", "")
    if not part.isdigit():
        # Conformance without a part is an attempt at a claim; its header tells the part.
        if "conformance" in values and not hint:
            hint = "1" if pdf.pdf_version <= "1.4" else "2"
        return None, hint, state
    return part + values.get("conformance", "").upper(), hint, state
