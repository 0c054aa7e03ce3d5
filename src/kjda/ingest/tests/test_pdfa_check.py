"""The PDF/A checker against the veraPDF corpus verdicts, our own renditions, and files broken
on purpose one clause at a time."""

from __future__ import annotations

import io
import re

import pikepdf
import pytest
from pikepdf import Dictionary, Name

from kjda.formats.pdfa_check import pdfa_check
from kjda.ingest.tests.test_pdfa import _converted
from kjda_oasim.testing import SAMPLES

needs_samples = pytest.mark.skipif(not SAMPLES.exists(), reason=f"no sample corpus at {SAMPLES}")
_CORPUS = sorted((SAMPLES / "pdfa").glob("*.pdf")) if SAMPLES.exists() else []
_NAME = re.compile(r"pdfa(\d)([abu])_(\d+(?:-\d+)*)-t\d+-(pass|fail)-\w\.pdf")


def _clauses(data: bytes) -> list[str]:
    return [v.clause for v in pdfa_check(data).violations]


@needs_samples
def test_the_corpus_is_there():
    assert len(_CORPUS) >= 20


@needs_samples
@pytest.mark.parametrize("path", _CORPUS, ids=lambda p: p.name)
def test_verdict_matches_the_verapdf_corpus(path):
    # The corpus names each file after the flavour, the clause it tests, and its verdict.
    part, level, clause, verdict = _NAME.fullmatch(path.name).groups()
    report = pdfa_check(path.read_bytes())
    clauses = [v.clause for v in report.violations]
    if verdict == "pass":
        assert report.compliant, clauses
        assert report.claimed == f"{part}{level.upper()}"
    else:
        assert not report.compliant
        assert clause.replace("-", ".") in clauses, clauses
        assert report.checked_as == f"{part}{level.upper()}"


def test_our_pdfa2b_rendition_passes():
    report = pdfa_check(_converted())
    assert report.claimed == "2B" and report.compliant, report.as_dict()


def _edited(edit) -> bytes:
    with pikepdf.open(io.BytesIO(_converted())) as pdf:
        edit(pdf)
        out = io.BytesIO()
        pdf.save(out, fix_metadata_version=False)
    return out.getvalue()


def test_javascript_and_forbidden_actions_are_reported():
    def add_js(pdf):
        js = pdf.make_indirect(Dictionary(S=Name.JavaScript, JS=pikepdf.String("app.alert(1)")))
        pdf.Root.OpenAction = js
        pdf.Root.AA = Dictionary(WC=js)
    assert {"6.5.1", "6.5.2"} <= set(_clauses(_edited(add_js)))


def test_a_font_that_is_not_embedded_is_reported():
    def helvetica(pdf):
        page = pdf.pages[0].obj
        page.Resources.Font.Helv = Dictionary(Type=Name.Font, Subtype=Name.Type1,
                                              BaseFont=Name.Helvetica)
    assert "6.2.11.4.1" in _clauses(_edited(helvetica))


def test_cmyk_content_against_an_srgb_output_intent_is_reported():
    def cmyk(pdf):
        page = pdf.pages[0]
        page.contents_add(pdf.make_stream(b"0 0 0 1 k 10 10 20 20 re f"), prepend=False)
    assert "6.2.4.3" in _clauses(_edited(cmyk))


def test_data_after_eof_and_a_missing_id_are_reported():
    data = _converted()
    assert "6.1.3" in _clauses(data + b"\n% appended later\n")
    # pikepdf always writes an ID: blank it out in the bytes (same length, offsets stay valid).
    without_id = re.sub(rb"/ID \[<[0-9a-f]+><[0-9a-f]+>\]", lambda m: b" " * len(m.group()), data)
    assert without_id != data and "6.1.3" in _clauses(without_id)


def test_encrypted_pdf_breaks_the_trailer_clause():
    with pikepdf.open(io.BytesIO(_converted())) as pdf:
        out = io.BytesIO()
        pdf.save(out, encryption=pikepdf.Encryption(owner="o", user="u"))
    report = pdfa_check(out.getvalue())
    assert not report.compliant and "6.1.3" in [v.clause for v in report.violations]


def test_embedded_non_pdfa_file_breaks_6_8_in_pdfa2():
    def attach(pdf):
        pdf.attachments["note.txt"] = pikepdf.AttachedFileSpec(pdf, b"hello", mime_type="text/plain")
    assert "6.8" in _clauses(_edited(attach))


def test_a_plain_pdf_claims_nothing_and_is_checked_as_2b():
    from kjda_oasim.factories import pdf_bytes

    report = pdfa_check(pdf_bytes(["发票"]))
    assert report.claimed is None and report.checked_as == "2B" and not report.compliant
    assert "6.6.4" in [v.clause for v in report.violations]


def test_messages_are_in_chinese_and_english():
    report = pdfa_check(_converted() + b"garbage")
    message = report.violations[0].as_dict()["message"]
    assert " / " in message and re.search(r"[\u4e00-\u9fff]", message)


def test_a_malformed_font_is_a_violation_not_a_crash():
    def broken_type0(pdf):
        pdf.pages[0].obj.Resources.Font.Bad = Dictionary(Type=Name.Font, Subtype=Name.Type0,
                                                         BaseFont=Name("/ABCDEF+Broken"))
    report = pdfa_check(_edited(broken_type0))
    assert not report.compliant and "6.2.11.4.1" in [v.clause for v in report.violations]
