"""The watermark on real PDFs, PDF/As and images from the sample corpus: visible text on every
page, the signed mark in XMP and in the invisible text layer, PDF/A kept, forgery detected."""

from __future__ import annotations

import io
import zipfile

import pikepdf
import pytest
from PIL import Image, ImageChops
from pypdf import PdfReader

from kjda.formats.pdfa_check import pdfa_check
from kjda.formats.watermark import Mark, watermark, watermark_read
from kjda.formats.watermark.mark import token
from kjda.formats.watermark.pdf import NS
from kjda_oasim.testing import SAMPLES

pytestmark = pytest.mark.skipif(not SAMPLES.exists(), reason=f"no sample corpus at {SAMPLES}")
KEY = b"watermark-test-key-0123456789abcdef"
MARK = Mark(mark_id="a1b2c3d4e5f60718", person="李四", department="审计部",
            time="2026-12-07T17:40:00+08:00", loan_no="JY-2026-0042")
PDFA_PASS = sorted((SAMPLES / "pdfa").glob("*-pass-*.pdf")) if SAMPLES.exists() else []


def _einvoice() -> bytes:
    return next((SAMPLES / "einvoice_pdf").glob("*.pdf")).read_bytes()


def _photo() -> bytes:
    """A real camera JPEG (3648×2736) embedded in one of the OFD samples."""
    with zipfile.ZipFile(SAMPLES / "ofd_edge_cases" / "ofdrw_converter_containsJPEG_wps.ofd") as z:
        name = next(n for n in z.namelist() if n.lower().endswith(".jpeg"))
        return z.read(name)


@pytest.mark.parametrize("path", PDFA_PASS, ids=lambda p: p.name)
def test_a_conforming_pdfa_stays_conforming_and_carries_a_verified_mark(path):
    original = path.read_bytes()
    assert pdfa_check(original).compliant
    marked, media_type = watermark(original, MARK, key=KEY)
    assert media_type == "application/pdf"
    report = pdfa_check(marked)
    assert report.compliant, report.violations
    assert report.claimed == pdfa_check(original).claimed
    found = watermark_read(marked, key=KEY)
    assert found is not None and found.verified and found.source == "xmp"
    assert found.mark == MARK
    assert path.read_bytes() == original  # the input is never written to


def test_pdfa1_gets_an_opaque_mark_and_pdfa2_a_transparent_one():
    one = next(p for p in PDFA_PASS if p.name.startswith("pdfa1b"))
    two = next(p for p in PDFA_PASS if p.name.startswith("pdfa2b"))
    for path, transparent in ((one, False), (two, True)):
        with pikepdf.open(io.BytesIO(watermark(path.read_bytes(), MARK, key=KEY)[0])) as pdf:
            alphas = [float(gs.get("/ca", 1)) for page in pdf.pages
                      for xobj in page.Resources.XObject.values()
                      for gs in (xobj.get("/Resources", {}).get("/ExtGState", {}) or {}).values()]
        assert any(a < 1 for a in alphas) is transparent


def test_every_page_shows_the_name_loan_and_notice_and_the_original_content_is_kept():
    original = _einvoice()
    marked, _ = watermark(original, MARK, key=KEY)
    before = [p.extract_text() for p in PdfReader(io.BytesIO(original)).pages]
    after = [p.extract_text() for p in PdfReader(io.BytesIO(marked)).pages]
    assert len(after) == len(before)
    for old, new in zip(before, after, strict=True):
        assert "李四" in new and "审计部" in new and "JY-2026-0042" in new and "仅供查阅" in new
        assert "KJDAWM1." in new  # the invisible layer
        assert all(line in new for line in old.splitlines() if line.strip())
    with pikepdf.open(io.BytesIO(original)) as a, pikepdf.open(io.BytesIO(marked)) as b:
        for pa, pb in zip(a.pages, b.pages, strict=True):
            new_streams = _streams(pb)
            assert all(s in new_streams for s in _streams(pa))  # wrapped, not rewritten
            assert len(new_streams) > len(_streams(pa))


def _streams(page: pikepdf.Page) -> list[bytes]:
    contents = page.obj.Contents
    items = list(contents) if isinstance(contents, pikepdf.Array) else [contents]
    return [c.read_bytes() for c in items]


def test_the_xmp_declares_the_namespace_as_a_pdfa_extension_schema():
    marked, _ = watermark(PDFA_PASS[0].read_bytes(), MARK, key=KEY)
    with pikepdf.open(io.BytesIO(marked)) as pdf:
        xmp = pdf.Root.Metadata.read_bytes().decode()
    assert f"<pdfaSchema:namespaceURI>{NS}</pdfaSchema:namespaceURI>" in xmp
    assert 'kjdawm:LoanNo="JY-2026-0042"' in xmp and 'kjdawm:MarkId="a1b2c3d4e5f60718"' in xmp


def test_a_tampered_xmp_payload_fails_verification():
    marked, _ = watermark(_einvoice(), MARK, key=KEY)
    with pikepdf.open(io.BytesIO(marked)) as pdf:
        xmp = pdf.Root.Metadata.read_bytes().replace(b"JY-2026-0042", b"JY-2026-0099")
        pdf.Root.Metadata.write(xmp)
        out = io.BytesIO()
        pdf.save(out)
    found = watermark_read(out.getvalue(), key=KEY)
    assert found is not None and found.mark.loan_no == "JY-2026-0099" and not found.verified


def test_a_mark_signed_with_another_key_does_not_verify():
    marked, _ = watermark(_einvoice(), MARK, key=b"someone else's key")
    found = watermark_read(marked, key=KEY)
    assert found is not None and not found.verified


def test_the_invisible_text_layer_carries_the_mark_when_the_xmp_is_gone():
    marked, _ = watermark(_einvoice(), MARK, key=KEY)
    with pikepdf.open(io.BytesIO(marked)) as pdf:
        del pdf.Root["/Metadata"]
        out = io.BytesIO()
        pdf.save(out)  # re-saved without the metadata
    found = watermark_read(out.getvalue(), key=KEY)
    assert found is not None and found.source == "text" and found.verified
    assert found.mark == MARK


def test_a_clean_pdf_has_no_mark():
    assert watermark_read(_einvoice(), key=KEY) is None
    assert watermark_read(PDFA_PASS[0].read_bytes(), key=KEY) is None


def test_a_jpeg_keeps_its_size_and_format_and_carries_the_mark_in_com_and_xmp():
    original = _photo()
    marked, media_type = watermark(original, MARK, key=KEY)
    assert media_type == "image/jpeg"
    before, after = Image.open(io.BytesIO(original)), Image.open(io.BytesIO(marked))
    assert after.format == "JPEG" and after.size == before.size
    assert after.info["comment"].decode() == token(MARK, KEY)
    assert token(MARK, KEY).encode() in after.info["xmp"]
    found = watermark_read(marked, key=KEY)
    assert found is not None and found.verified and found.mark == MARK
    # the visible mark changed pixels across the picture, not just in one corner
    diff = ImageChops.difference(before.convert("L"), after.convert("L")).point(
        lambda v: 255 if v > 12 else 0)
    w, h = diff.size
    cells = [diff.crop((x * w // 4, y * h // 4, (x + 1) * w // 4, (y + 1) * h // 4)).getbbox()
             for x in range(4) for y in range(4)]
    assert sum(1 for c in cells if c is not None) >= 12


@pytest.mark.parametrize(("fmt", "media_type", "source"), [
    ("PNG", "image/png", "png-itxt"), ("TIFF", "image/tiff", "tiff"), ("BMP", "image/png",
                                                                      "png-itxt")])
def test_png_tiff_and_other_images(fmt, media_type, source):
    img = Image.open(io.BytesIO(_photo()))
    img.thumbnail((1200, 1200))
    buf = io.BytesIO()
    img.save(buf, fmt)
    marked, got_type = watermark(buf.getvalue(), MARK, key=KEY)
    assert got_type == media_type
    found = watermark_read(marked, key=KEY)
    assert found is not None and found.verified and found.source == source
    assert watermark_read(buf.getvalue(), key=KEY) is None


def test_an_image_token_edited_by_hand_fails_verification():
    marked, _ = watermark(_photo(), MARK, key=KEY)
    img = Image.open(io.BytesIO(marked))
    forged = token(Mark(**{**MARK.__dict__} if hasattr(MARK, "__dict__") else {
        "mark_id": MARK.mark_id, "person": "王五", "department": MARK.department,
        "time": MARK.time, "loan_no": MARK.loan_no}), KEY)
    body, sig = forged.split(".")[1], token(MARK, KEY).split(".")[2]
    buf = io.BytesIO()
    img.save(buf, "JPEG", comment=f"KJDAWM1.{body}.{sig}".encode())
    found = watermark_read(buf.getvalue(), key=KEY)
    assert found is not None and found.mark.person == "王五" and not found.verified
