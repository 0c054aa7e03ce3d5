"""Format identification by content, on real files from the shared sample corpus."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pikepdf
import pytest

from kjda.formats import identify, probe_bytes
from kjda_oasim.factories import pdf_bytes, png_bytes
from kjda_oasim.testing import SAMPLES

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
    from kjda.formats import handler_for

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


# --- PRONOM ids, checked against siegfried's PRONOM signatures (pygfried, test-only) ----------

def _png(**info) -> bytes:
    from PIL import Image, PngImagePlugin

    extra = PngImagePlugin.PngInfo()
    for key, value in info.items():
        if key == "itxt":
            extra.add_itxt("Comment", value)
        else:
            extra.add(key.encode(), value)
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(buf, "PNG", pnginfo=extra)
    return buf.getvalue()


def _jpeg(*, jfif: tuple[int, int] | None = (1, 1), exif_version: bytes | None = None) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    exif = Image.Exif()
    if exif_version:
        exif.get_ifd(0x8769)[0x9000] = exif_version
    Image.new("RGB", (16, 16), "blue").save(buf, "JPEG", exif=exif.tobytes())
    data = bytearray(buf.getvalue())
    if jfif is None:  # drop the APP0 (JFIF) segment: an Exif-only or raw JPEG stream
        length = int.from_bytes(data[4:6], "big")
        return bytes(data[:2] + data[4 + length:])
    data[11:13] = bytes(jfif)
    return bytes(data)


def _odt(version: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.text",
                    compress_type=zipfile.ZIP_STORED)
        zf.writestr("META-INF/manifest.xml",
                    '<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:'
                    f'opendocument:xmlns:manifest:1.0" manifest:version="{version}"/>')
        zf.writestr("content.xml", '<?xml version="1.0"?><office:document-content xmlns:office='
                    f'"urn:oasis:names:tc:opendocument:xmlns:office:1.0" office:version="{version}"/>')
    return buf.getvalue()


_GENERATED = {
    "png-1.0": lambda: _png(), "png-1.1-srgb": lambda: _png(sRGB=b"\x00"),
    "png-1.2-itxt": lambda: _png(itxt="说明"),
    "jfif-1.00": lambda: _jpeg(jfif=(1, 0)), "jfif-1.01": lambda: _jpeg(),
    "jfif-1.02": lambda: _jpeg(jfif=(1, 2)), "exif-2.2": lambda: _jpeg(jfif=None, exif_version=b"0220"),
    "exif-2.3": lambda: _jpeg(jfif=None, exif_version=b"0230"), "raw-jpeg": lambda: _jpeg(jfif=None),
    "odt-1.2": lambda: _odt("1.2"), "odt-1.3": lambda: _odt("1.3"),
    "pdf": lambda: pdf_bytes(["凭证"]), "xml": lambda: b'<?xml version="1.0"?><a/>',
}  # (PRONOM knows plain text and JSON by their extension only: not compared here)


@pytest.mark.parametrize("kind", sorted(_GENERATED))
def test_puid_agrees_with_siegfried(kind, tmp_path):
    pygfried = pytest.importorskip("pygfried")
    data = _GENERATED[kind]()
    path = tmp_path / "file.bin"  # no telling extension: both judge by content
    path.write_bytes(data)
    info, probe = probe_bytes(data)
    assert probe.readable, probe.problems
    assert info.puid == pygfried.identify(str(path)), kind


@needs_samples
@pytest.mark.parametrize("path", [p for p in _sample("pdfa") if "pass" in p.name]
                         if SAMPLES.exists() else [], ids=lambda p: p.name)
def test_pdfa_puid_agrees_with_siegfried(path):
    pygfried = pytest.importorskip("pygfried")
    info, _ = probe_bytes(path.read_bytes())
    if info.version == "1B" and not path.read_bytes().startswith(b"%PDF-1."):
        pytest.skip("PRONOM's PDF/A-1 signature needs a PDF 1.x header; the claim decides here")
    assert info.name == "pdfa" and info.puid == pygfried.identify(str(path))


# --- what the content is, and files that must not be filed silently -------------------------

@needs_samples
def test_einvoice_xml_and_mof_xbrl_are_told_apart():
    for path in _sample("invoice_xml"):
        info, probe = probe_bytes(path.read_bytes())
        assert probe.readable
        if "inv_ord_issuer" in path.name:
            assert (info.name, info.profile) == ("xbrl", "mof-evoucher")
        else:
            assert (info.name, info.profile) == ("xml", "einvoice-2019")


def test_digital_einvoice_root_element_is_recognised():
    data = '<?xml version="1.0" encoding="UTF-8"?><EInvoice><Header><EIid>1</EIid></Header></EInvoice>'
    info, _ = probe_bytes(data.encode())
    assert info.profile == "einvoice-digital" and info.puid == "fmt/101"


def test_truncated_pdf_is_unreadable():
    data = pdf_bytes(["记账凭证"] * 50)
    info, probe = probe_bytes(data[: len(data) * 2 // 3])
    assert info.name == "pdf" and not probe.readable
    assert any("%%EOF" in p for p in probe.problems)


def test_truncated_jpeg_and_zip_are_unreadable():
    jpeg = _jpeg()
    assert not probe_bytes(jpeg[:-40])[1].readable
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", "hello" * 1000)
    _, probe = probe_bytes(buf.getvalue()[:-30])
    assert not probe.readable


def test_pdf_probe_carries_the_pdfa_verdict_and_corrects_a_false_claim():
    from kjda.ingest.tests.test_pdfa import _converted

    info, probe = probe_bytes(_converted())
    assert (info.name, info.version, info.puid) == ("pdfa", "2B", "fmt/477")
    assert probe.properties["pdfa"]["compliant"] is True
    # A claim under the wrong namespace is no claim: plain PDF 1.7.
    wrong = _converted().replace(b"http://www.aiim.org/pdfa/ns/id/", b"http://www.aiim.org/pdfa/xx/")
    info, probe = probe_bytes(wrong)
    assert (info.name, info.puid) == ("pdf", "fmt/276")
    assert probe.properties["pdfa"]["claimed"] is None


def test_declared_mime_is_compared_with_the_content():
    from kjda.formats import FormatInfo
    from kjda.ingest.pipeline import mime_agrees

    pdf = FormatInfo("pdf", "application/pdf")
    ofd = FormatInfo("ofd", "application/ofd")
    assert mime_agrees("application/pdf", pdf) and mime_agrees("application/octet-stream", pdf)
    assert mime_agrees("application/x-pdf", pdf) and mime_agrees("application/zip", ofd)
    assert not mime_agrees("image/jpeg", pdf) and not mime_agrees("application/pdf", ofd)
    csv = FormatInfo("txt", "text/plain")
    assert mime_agrees("text/csv", csv) and mime_agrees("application/vnd.ms-excel", csv)
    assert not mime_agrees("application/vnd.ms-excel", pdf)


def test_xlsx_and_a_password_protected_xlsx():
    openpyxl = pytest.importorskip("openpyxl")
    ooxml = pytest.importorskip("msoffcrypto.format.ooxml")
    book = openpyxl.Workbook()
    book.active["A1"] = "报销明细"
    plain = io.BytesIO()
    book.save(plain)
    info, probe = probe_bytes(plain.getvalue())
    assert (info.name, info.puid) == ("xlsx", "fmt/214") and probe.readable
    encrypted = io.BytesIO()
    ooxml.OOXMLFile(io.BytesIO(plain.getvalue())).encrypt("secret", encrypted)
    info, probe = probe_bytes(encrypted.getvalue())
    assert info.name == "ooxml-encrypted" and probe.encrypted and not probe.readable
    assert "password" in probe.problems[0]


def test_pdf_with_a_broken_xref_is_held():
    import re

    data = pdf_bytes(["记账凭证"])
    broken = re.sub(rb"startxref\s+(\d+)",
                    lambda m: b"startxref\n" + str(int(m.group(1)) + 7).encode(), data)
    _, probe = probe_bytes(broken)
    assert not probe.readable and "cross-reference" in probe.problems[0]
    assert probe_bytes(data)[1].readable
