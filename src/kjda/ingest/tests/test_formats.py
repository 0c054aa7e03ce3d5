"""Format identification by content, on real files from the shared sample corpus."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pikepdf
import pytest

from kjda.ingest.formats import identify, probe_bytes
from kjda.testing import SAMPLES
from kjda.testing.factories import pdf_bytes, png_bytes

needs_samples = pytest.mark.skipif(not SAMPLES.exists(), reason=f"no sample corpus at {SAMPLES}")


def _sample(folder: str) -> list[Path]:
    return sorted((SAMPLES / folder).glob("*"))


@needs_samples
@pytest.mark.parametrize("path", _sample("ofd_invoices") if SAMPLES.exists() else [],
                         ids=lambda p: p.name[:40])
def test_ofd_invoices_are_identified_as_readable_ofd(path):
    info, probe = probe_bytes(path.read_bytes())
    assert info.name == "ofd" and info.archival
    assert probe.readable and not probe.encrypted


@needs_samples
@pytest.mark.parametrize("path", _sample("invoice_xml") if SAMPLES.exists() else [],
                         ids=lambda p: p.name[:40])
def test_invoice_xml_is_identified_as_xml_or_xbrl(path):
    info, probe = probe_bytes(path.read_bytes())
    assert info.name in {"xml", "xbrl"} and probe.readable
    if "inv_ord_issuer" in path.name:
        assert info.name == "xbrl"


@needs_samples
def test_real_einvoice_pdf_is_readable_with_text():
    from kjda.ingest.formats import handler_for

    path = next((SAMPLES / "einvoice_pdf").glob("*.pdf"))
    info, probe = probe_bytes(path.read_bytes())
    assert info.name == "pdf" and probe.readable and probe.pages >= 1
    text = handler_for("pdf").extract_text(io.BytesIO(path.read_bytes()))
    assert "发票" in text


@needs_samples
def test_pdfa_claim_is_read_from_xmp():
    claimed = [identify(io.BytesIO(p.read_bytes())) for p in _sample("pdfa")
               if "pass" in p.name]
    assert any(i.name == "pdfa" and i.puid.startswith("fmt/") for i in claimed)


def test_identification_ignores_the_file_name():
    assert identify(io.BytesIO(png_bytes())).name == "png"
    assert identify(io.BytesIO(pdf_bytes(["发票"]))).name == "pdf"
    assert identify(io.BytesIO(b"MZ\x90\x00" + b"\x00" * 100)).name == "executable"


def test_encrypted_pdf_is_detected():
    src = pikepdf.open(io.BytesIO(pdf_bytes(["机密凭证"])))
    out = io.BytesIO()
    src.save(out, encryption=pikepdf.Encryption(owner="o", user="secret"))
    info, probe = probe_bytes(out.getvalue())
    assert info.name == "pdf" and probe.encrypted and not probe.readable


def test_truncated_png_is_unreadable():
    data = png_bytes(200, 200)
    info, probe = probe_bytes(data[: len(data) // 2])
    assert info.name == "png" and not probe.readable


def test_encrypted_zip_entries_are_detected():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", "hello")
    raw = bytearray(buf.getvalue())
    # Set the "encrypted" general-purpose flag in the local and central headers.
    raw[6] |= 1
    central = raw.find(b"PK\x01\x02")
    raw[central + 8] |= 1
    info, probe = probe_bytes(bytes(raw))
    assert info.name == "zip" and probe.encrypted


def test_malformed_xml_is_unreadable_and_entities_are_refused():
    _, probe = probe_bytes(b"<?xml version='1.0'?><a><b></a>")
    assert not probe.readable
    bomb = (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'><!ENTITY b '&a;&a;'>]>"
            b"<x>&b;</x>")
    _, probe = probe_bytes(bomb)
    assert not probe.readable
