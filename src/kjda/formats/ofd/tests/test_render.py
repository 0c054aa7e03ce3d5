"""Rendering OFD pages: every sample renders, the text drawn is the text in the OFD, images and
seals land on the page, and the rendition is PDF/A-2b with embedded fonts."""

from __future__ import annotations

import io

import pikepdf
import pypdfium2 as pdfium
import pytest
from PIL import Image

from kjda.formats.ofd import OFDPackage
from kjda.formats.ofd.graphics import _arc_to_beziers, deltas
from kjda.formats.ofd.render import render_pdf, render_pdfa, render_png
from kjda.formats.pdfa import fonts_not_embedded, pdfa_claim
from kjda.ingest.renditions import ofd_rendition
from kjda_oasim.testing import SAMPLES

needs_samples = pytest.mark.skipif(not SAMPLES.exists(), reason=f"no sample corpus at {SAMPLES}")
ALL = sorted((SAMPLES / "ofd_general").glob("*.ofd")) + sorted((SAMPLES / "ofd_invoices").glob("*.ofd")) + [
    p for p in sorted((SAMPLES / "ofd_edge_cases").glob("*.ofd"))]


def _pdf_text(pdf: bytes) -> list[str]:
    doc = pdfium.PdfDocument(pdf)
    try:
        return [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
    finally:
        doc.close()


def _squash(s: str) -> str:
    return "".join(s.split())


@needs_samples
@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_sample_renders_one_pdf_page_per_ofd_page(path):
    with OFDPackage.open(path) as pkg:
        doc = pkg.documents()[0]
        result = render_pdf(doc)
        with pikepdf.open(io.BytesIO(result.pdf)) as pdf:
            assert len(pdf.pages) == len(doc.pages)
            # Page size follows the OFD PhysicalBox (mm → pt).
            w_mm = float(pdf.pages[0].mediabox[2]) * 25.4 / 72
            assert abs(w_mm - doc.pages[0].box[2]) < 0.5
        # The text layer of the rendition holds the OFD's text (glyphs drawn one by one, so
        # compare without whitespace).
        drawn = _squash("".join(_pdf_text(result.pdf)))
        items = [i for p in doc.pages for i in p.text_items()]
        for item in items[:40]:
            assert _squash(item.text) in drawn


@needs_samples
def test_invoice_png_is_legible_size_and_shows_the_red_seal():
    with OFDPackage.open(SAMPLES / "ofd_invoices" / "ofdrw_sign_v4signed.ofd") as pkg:
        doc = pkg.documents()[0]
        png = render_png(doc, dpi=144)
    img = Image.open(io.BytesIO(png)).convert("RGB")
    box = doc.pages[0].box
    assert abs(img.width - round(box[2] / 25.4 * 144)) <= 2
    # The seal (an OFD picture inside the SES seal) is drawn in red at its StampAnnot boundary
    # (90, 8, 30×20 mm); nothing on the page itself is that red there.
    k = 144 / 25.4
    region = img.crop((int(90 * k), int(8 * k), int(120 * k), int(28 * k)))
    red = sum(1 for r, g, b in region.get_flattened_data() if r > 180 and g < 90 and b < 90)
    assert red > 200


@needs_samples
def test_images_are_drawn_and_a_missing_image_does_not_stop_the_page():
    with OFDPackage.open(SAMPLES / "ofd_general" / "c5soft_6.1.002 Entry全部压缩.ofd") as pkg:
        doc = pkg.documents()[0]
        pdf = render_pdf(doc).pdf
    with pikepdf.open(io.BytesIO(pdf)) as p:
        images = list(p.pages[0].get_images())
    assert len(images) == 6  # BMP, JPG, PNG, TIF, GIF, bilevel BMP
    with OFDPackage.open(SAMPLES / "ofd_edge_cases" / "ofdrw_converter_testImageNotFound.ofd") as pkg:
        result = render_pdf(pkg.documents()[0])
    assert result.pages == 2
    assert any("missing" in p for p in result.problems)


@needs_samples
def test_rendition_is_pdfa2b_with_embedded_fonts_and_reproducible():
    path = SAMPLES / "ofd_invoices" / "ofdrw_reader_发票示例_数电.ofd"
    first = ofd_rendition(path)
    assert first == ofd_rendition(path.read_bytes())
    assert pdfa_claim(first) == "2B"
    with pikepdf.open(io.BytesIO(first)) as pdf:
        assert fonts_not_embedded(pdf) == []
    with OFDPackage.open(path) as pkg:
        doc = pkg.documents()[0]
        number = doc.custom_data()["发票号码"]
        assert render_pdfa(doc).pdf == first
    assert number in _squash(_pdf_text(first)[0])


def test_delta_shorthand_and_arcs():
    assert deltas("g 3 1.5 2") == [1.5, 1.5, 1.5, 2.0]
    assert deltas("1 2 bad 3") == [1.0, 2.0, 3.0]
    # A half circle of radius 1 from (0,0) to (2,0) ends at (2,0) and passes y = ±1.
    segs = _arc_to_beziers(0, 0, 1, 1, 0, 0, 1, 2, 0)
    assert segs[-1][4:] == pytest.approx((2, 0), abs=1e-9)
    assert max(abs(s[5]) for s in segs) == pytest.approx(1, abs=1e-6)


@needs_samples
def test_jbig2_qr_code_is_carried_into_the_pdf_and_drawn():
    with OFDPackage.open(SAMPLES / "ofd_invoices" / "ofdrw_converter_1.ofd") as pkg:
        doc = pkg.documents()[0]
        result = render_pdfa(doc)
        png = render_png(doc, dpi=144, pdf=result.pdf)
    assert not any("jb2" in p for p in result.problems)
    with pikepdf.open(io.BytesIO(result.pdf)) as pdf:
        filters = [str(x.get("/Filter")) for x in pdf.pages[0].get_images().values()]
    assert "/JBIG2Decode" in filters
    # The QR code sits in the top-left corner: about half its modules are dark.
    img = Image.open(io.BytesIO(png)).convert("L")
    k = 144 / 25.4
    region = img.crop((int(4 * k), int(3 * k), int(22 * k), int(21 * k)))
    dark = sum(1 for v in region.get_flattened_data() if v < 100) / (region.width * region.height)
    assert 0.25 < dark < 0.75


@needs_samples
def test_clip_areas_cut_converter_made_bars_down_to_table_lines():
    # This OFD draws each table border as a 3.8 mm wide bar clipped to a 0.25 mm line.
    with OFDPackage.open(SAMPLES / "ofd_invoices" / "ofdrw_converter_csfapiao1_masked.ofd") as pkg:
        png = render_png(pkg.documents()[0], dpi=144)
    img = Image.open(io.BytesIO(png)).convert("RGB")
    k = 144 / 25.4

    def brown(x0, x1, y0=40, y1=90):
        px = list(img.crop((int(x0 * k), int(y0 * k), int(x1 * k), int(y1 * k))).get_flattened_data())
        return sum(1 for r, g, b in px if r > 120 and g < 110 and b < 80) / len(px)

    assert brown(2.6, 3.8) < 0.05  # left of the line: clipped away
    assert brown(3.9, 4.6) > 0.2  # the line itself is drawn
