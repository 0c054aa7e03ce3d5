"""PDF/A-2b output of `make_pdfa2b`, checked by reading the file back with pikepdf."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pikepdf
import pytest
from PIL import ImageCms
from reportlab.pdfgen import canvas

from kjda.formats.fonts import cjk_font
from kjda.formats.pdfa import PRODUCER, PdfAError, make_pdfa2b, pdfa_claim, srgb_icc_profile
from kjda_oasim.testing import SAMPLES

CST = timezone(timedelta(hours=8))
WHEN = datetime(2024, 3, 15, 10, 30, 5, tzinfo=CST)


def reportlab_pdf(lines: list[str], *, font: str | None = None) -> bytes:
    """A reportlab PDF; with the embedded CJK font unless `font` names another."""
    buf = io.BytesIO()
    name = font or cjk_font()
    c = canvas.Canvas(buf, invariant=1, initialFontName=name)
    c.setFont(name, 12)
    for i, line in enumerate(lines):
        c.drawString(50, 780 - 20 * i, line)
    c.showPage()
    c.save()
    return buf.getvalue()


def font_dicts(pdf: pikepdf.Pdf) -> list[pikepdf.Dictionary]:
    """Every font in the resources of the pages and of the form XObjects they use."""
    fonts, stack, seen = [], [p.obj.Resources for p in pdf.pages], set()
    while stack:
        res = stack.pop()
        fonts += list(res.get("/Font", pikepdf.Dictionary()).values())
        for xobj in res.get("/XObject", pikepdf.Dictionary()).values():
            if xobj.get("/Subtype") == "/Form" and "/Resources" in xobj \
                    and xobj.objgen not in seen:
                seen.add(xobj.objgen)
                stack.append(xobj.Resources)
    return fonts


def assert_fonts_embedded(data: bytes) -> None:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        fonts = font_dicts(pdf)
        assert fonts, "the document uses no font at all"
        for font in fonts:
            if font.Subtype == "/Type0":
                font = font.DescendantFonts[0]
            descriptor = font.FontDescriptor
            assert {"/FontFile", "/FontFile2", "/FontFile3"} & set(descriptor.keys()), \
                f"{font.BaseFont} is not embedded"


def assert_pdfa2b_structure(data: bytes) -> None:
    """The file-level requirements of ISO 19005-2 level B that we can read back."""
    assert re.match(rb"%PDF-1\.[4-7]\r?\n%[\x80-\xff]{4}", data), data[:20]
    assert data.rstrip(b"\r\n").endswith(b"%%EOF")
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert not pdf.is_encrypted and "/Encrypt" not in pdf.trailer
        ids = pdf.trailer.ID
        assert len(ids) == 2 and all(len(bytes(i)) == 16 for i in ids)
        root = pdf.Root
        assert "/OpenAction" not in root and "/AA" not in root
        assert "/JavaScript" not in root.get("/Names", {})
        meta = root.Metadata
        assert meta.Type == "/Metadata" and meta.Subtype == "/XML"
        assert "/Filter" not in meta.stream_dict  # XMP readable without a PDF parser
        intents = root.OutputIntents
        assert len(intents) == 1 and intents[0].S == "/GTS_PDFA1"
        assert intents[0].DestOutputProfile.N == 3
        for page in pdf.pages:
            assert "/AA" not in page.obj
        with pdf.open_metadata() as xmp:
            assert xmp["pdfaid:part"] == "2" and xmp["pdfaid:conformance"] == "B"
            info = pdf.docinfo
            assert xmp["pdf:Producer"] == str(info.Producer)
            assert xmp["xmp:CreatorTool"] == str(info.Creator)
            if "/Title" in info:
                assert xmp["dc:title"] == str(info.Title)
            if "/Author" in info:
                assert xmp["dc:creator"] == [str(info.Author)]


def _converted(**kwargs) -> bytes:
    args = {"title": "报销审批单 差旅费", "author": "张三", "subject": "钉钉 报销 PROC-1",
            "keywords": "审批单, 报销", "created": WHEN} | kwargs
    return make_pdfa2b(reportlab_pdf(["报销审批单", "金额 1,280.50"]), **args)


def test_xmp_identifies_pdfa2b_and_matches_the_info_dictionary():
    data = _converted()
    assert pdfa_claim(data) == "2B"
    assert_pdfa2b_structure(data)
    with pikepdf.open(io.BytesIO(data)) as pdf, pdf.open_metadata() as xmp:
        assert xmp["dc:title"] == "报销审批单 差旅费"
        assert xmp["dc:creator"] == ["张三"]
        assert xmp["dc:description"] == "钉钉 报销 PROC-1"
        assert xmp["pdf:Keywords"] == "审批单, 报销"
        assert xmp["pdf:Producer"] == PRODUCER
        assert xmp["xmp:CreateDate"] == "2024-03-15T10:30:05+08:00"
        assert xmp["xmp:ModifyDate"] == "2024-03-15T10:30:05+08:00"
        info = pdf.docinfo
        assert str(info.Title) == "报销审批单 差旅费" and str(info.Author) == "张三"
        assert str(info.Subject) == "钉钉 报销 PROC-1" and str(info.Keywords) == "审批单, 报销"
        assert str(info.CreationDate) == str(info.ModDate) == "D:20240315103005+08'00'"
        assert "/Trapped" not in info  # reportlab's /Trapped has no XMP twin here


def test_output_intent_carries_an_srgb_monitor_profile():
    data = _converted()
    with pikepdf.open(io.BytesIO(data)) as pdf:
        intent = pdf.Root.OutputIntents[0]
        assert intent.Type == "/OutputIntent" and intent.S == "/GTS_PDFA1"
        assert str(intent.OutputConditionIdentifier) == "sRGB IEC61966-2.1"
        icc = intent.DestOutputProfile.read_bytes()
    assert icc == srgb_icc_profile()
    assert icc[36:40] == b"acsp" and icc[12:20] == b"mntrRGB " and icc[8] == 4
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile
    assert profile.device_class == "mntr" and profile.xcolor_space.strip() == "RGB"
    assert profile.version == pytest.approx(4.2)


def test_every_font_is_embedded_and_the_file_is_not_encrypted():
    data = _converted()
    assert_fonts_embedded(data)
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert not pdf.is_encrypted


def test_a_pdf_with_a_font_that_is_not_embedded_is_refused():
    with pytest.raises(PdfAError) as err:
        make_pdfa2b(reportlab_pdf(["plain"], font="Helvetica"), title="t", author="a",
                    created=WHEN)
    assert err.value.code == "pdfa_font_not_embedded"
    assert err.value.detail["fonts"] == ["Helvetica"]


def test_an_encrypted_pdf_is_refused():
    with pikepdf.open(io.BytesIO(reportlab_pdf(["机密"]))) as pdf:
        out = io.BytesIO()
        pdf.save(out, encryption=pikepdf.Encryption(owner="o", user="u"))
    with pytest.raises(PdfAError) as err:
        make_pdfa2b(out.getvalue(), title="t", author="a", created=WHEN)
    assert err.value.code == "pdfa_encrypted"


def test_javascript_actions_and_embedded_files_are_removed():
    with pikepdf.open(io.BytesIO(reportlab_pdf(["脚本"]))) as pdf:
        js = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert(1)"))
        pdf.Root.OpenAction = js
        pdf.Root.AA = pikepdf.Dictionary(WC=js)
        pdf.Root.Names = pikepdf.Dictionary(
            JavaScript=pikepdf.Dictionary(Names=pikepdf.Array([pikepdf.String("x"), js])),
            EmbeddedFiles=pikepdf.Dictionary(Names=pikepdf.Array()))
        page = pdf.pages[0].obj
        page.AA = pikepdf.Dictionary(O=js)
        page.Annots = pdf.make_indirect(pikepdf.Array([pikepdf.Dictionary(
            Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link, Rect=[0, 0, 10, 10], A=js,
            F=2)]))
        buf = io.BytesIO()
        pdf.save(buf)
    data = make_pdfa2b(buf.getvalue(), title="t", author="a", created=WHEN)
    assert b"app.alert" not in data
    assert_pdfa2b_structure(data)
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert "/Names" not in pdf.Root or not set(pdf.Root.Names.keys()) & {
            "/JavaScript", "/EmbeddedFiles"}
        annot = pdf.pages[0].obj.Annots[0]
        assert "/A" not in annot and int(annot.F) & 4 and not int(annot.F) & 2


def test_same_input_same_bytes_and_the_date_is_in_the_file():
    assert _converted() == _converted()
    later = _converted(created=WHEN + timedelta(days=1))
    assert later != _converted()
    with pikepdf.open(io.BytesIO(later)) as pdf, pdf.open_metadata() as xmp:
        assert xmp["xmp:CreateDate"] == "2024-03-16T10:30:05+08:00"


def test_naive_times_are_taken_as_utc_and_empty_fields_are_left_out():
    data = make_pdfa2b(reportlab_pdf(["x"]), title="无作者", author="",
                       created=datetime(2024, 1, 2, 3, 4, 5))
    with pikepdf.open(io.BytesIO(data)) as pdf, pdf.open_metadata() as xmp:
        assert xmp["xmp:CreateDate"] == "2024-01-02T03:04:05+00:00"
        assert "/Author" not in pdf.docinfo and "dc:creator" not in xmp
        assert "/Subject" not in pdf.docinfo and "dc:description" not in xmp
    assert_pdfa2b_structure(data)


def test_created_defaults_to_now():
    data = make_pdfa2b(reportlab_pdf(["x"]), title="t", author="a")
    with pikepdf.open(io.BytesIO(data)) as pdf, pdf.open_metadata() as xmp:
        stamp = datetime.fromisoformat(xmp["xmp:CreateDate"])
    assert abs(stamp - datetime.now(UTC)) < timedelta(minutes=5)


def test_xml_special_characters_in_metadata_stay_well_formed():
    data = _converted(title='A&B <报销> "季度"', keywords="a&b")
    assert pdfa_claim(data) == "2B"
    with pikepdf.open(io.BytesIO(data)) as pdf, pdf.open_metadata() as xmp:
        assert xmp["dc:title"] == 'A&B <报销> "季度"' == str(pdf.docinfo.Title)


def test_pdfa_claim_reads_attribute_form_and_rejects_non_claims():
    assert pdfa_claim(reportlab_pdf(["no xmp"])) is None
    assert pdfa_claim(b"not a pdf") is None
    with pikepdf.open(io.BytesIO(reportlab_pdf(["x"]))) as pdf:
        pdf.Root.Metadata = pdf.make_stream(
            b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
            b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
            b'xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/" pdfaid:part="1" '
            b'pdfaid:conformance="a"/></rdf:RDF></x:xmpmeta>')
        buf = io.BytesIO()
        pdf.save(buf)
    assert pdfa_claim(buf.getvalue()) == "1A"


def _corpus() -> list[Path]:
    return sorted((SAMPLES / "pdfa").glob("*-pass-*.pdf")) if SAMPLES.exists() else []


@pytest.mark.skipif(not _corpus(), reason=f"no veraPDF corpus at {SAMPLES}/pdfa")
@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.name)
def test_pdfa_claim_of_the_verapdf_corpus_files_that_pass(path):
    assert pdfa_claim(path.read_bytes()) == path.name[4:6].upper()


def test_pikepdf_allowlist_validator_approves_the_output():
    """pikepdf.pdfa (with fonttools installed) checks the veraPDF PDF/A-2b rules it knows and
    approves a file only if every construct in it is known to conform."""
    pytest.importorskip("fontTools")
    validator = pytest.importorskip("pikepdf.pdfa")
    report = validator.validate_written(io.BytesIO(_converted()), "2b")
    assert report.passed, [str(f) for f in report.findings]
    unconverted = validator.validate_written(io.BytesIO(reportlab_pdf(["x"])), "2b")
    assert not unconverted.passed
