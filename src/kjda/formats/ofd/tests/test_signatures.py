"""OFD seal and signature verification on the signed samples, and on copies changed by one byte."""

from __future__ import annotations

import zipfile

import pytest
from gmssl import sm2

from kjda.formats.ofd import OFDPackage
from kjda.formats.ofd.crypto import sm2_verify, sm3_digest
from kjda.formats.ofd.signatures import INVALID, UNSUPPORTED, VALID, verify_package
from kjda_oasim.testing import SAMPLES

needs_samples = pytest.mark.skipif(not SAMPLES.exists(), reason=f"no sample corpus at {SAMPLES}")
INV = SAMPLES / "ofd_invoices"
GEN = SAMPLES / "ofd_general"
EDGE = SAMPLES / "ofd_edge_cases"

# What each signed sample gives, checked by hand against its parts (see the report for why).
EXPECTED = {
    INV / "ofdrw_sign_v4signed.ofd": [(VALID, "SES v4")],
    INV / "ofdrw_sign_signedFile.ofd": [(VALID, "SES v4")],
    INV / "ofdrw_converter_1.ofd": [(VALID, "SES v4")],
    INV / "ofdrw_converter_999.ofd": [(VALID, "SES v4")],
    INV / "easyofd_增值税电子专票5.ofd": [(VALID, "SES v4")],
    INV / "ofdrw_converter_draw_param_ref.ofd": [(VALID, "SES v4")],
    # The seal picture's scale is off (a display quirk); the cryptography is intact.
    INV / "ofdrw_converter_SignScaleError.ofd": [(VALID, "SES v4")],
    # Document.xml was rewritten after signing (the v4signed copy of the same invoice verifies).
    INV / "ofdrw_converter_发票示例.ofd": [(INVALID, "SES v4")],
    # Signed in 2026 with a test certificate (and seal) valid 2020-04-21 – 2022-04-21.
    GEN / "ofdrw_reader_SESV4SignDoc.ofd": [(INVALID, "SES v4")],
    GEN / "ofdrw_converter_金格信创自动盖章.ofd": [(VALID, "SES v2")],
    # OFD.xml, Document.xml and the page were changed after both signatures were made.
    GEN / "ofdrw_layout_keyword_property_cert_signed.ofd": [(INVALID, "SES v4"), (INVALID, "CMS")],
    # iOFD's CheckMethod 1.2.156.10197.1.401.2 is not SM3 over the file: not guessed at.
    GEN / "ofdrw_converter_n_official_doc_signed.ofd": [(UNSUPPORTED, "SES v1")],
    EDGE / "ofdrw_converter_testImageNotFound.ofd": [(VALID, "CMS"), (VALID, "CMS")],
    EDGE / "ofdrw_converter_不规范资源路径.ofd": [(VALID, "SES v4")],
}


@needs_samples
@pytest.mark.parametrize("path", list(EXPECTED), ids=lambda p: p.name)
def test_signed_samples(path):
    with OFDPackage.open(path) as pkg:
        results = verify_package(pkg)
    assert [(r.status, r.format) for r in results] == EXPECTED[path]
    for r in results:
        assert r.signer, "the signer certificate's subject is reported"
        if r.type == "Seal":
            assert r.seal_name
        if r.status == VALID:
            assert r.reason == "" and r.references > 0
            if r.format.startswith("SES"):  # the seal itself verified against its maker
                assert any("seal signed by its maker" in n for n in r.notes)
        else:
            assert r.reason


@needs_samples
def test_reasons_name_the_changed_file():
    with OFDPackage.open(INV / "ofdrw_converter_发票示例.ofd") as pkg:
        (r,) = verify_package(pkg)
    assert "/Doc_0/Document.xml" in r.reason and "digest mismatch" in r.reason
    with OFDPackage.open(GEN / "ofdrw_converter_n_official_doc_signed.ofd") as pkg:
        (r,) = verify_package(pkg)
    assert "1.2.156.10197.1.401.2" in r.reason
    with OFDPackage.open(GEN / "ofdrw_reader_SESV4SignDoc.ofd") as pkg:
        (r,) = verify_package(pkg)
    assert "signer certificate not valid at signing time" in r.reason and r.signed_at.startswith("2026")


def _rewrite(src, dst, member: str, change) -> None:
    """Copy an OFD, passing one member's bytes through `change`."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == member:
                data = change(data)
            zout.writestr(info, data)


def _flip_digit(data: bytes) -> bytes:
    # One byte of the invoice's visible text: a digit inside a TextCode.
    at = data.index(b"</ofd:TextCode>") - 1
    while not chr(data[at]).isdigit():
        at = data.index(b"</ofd:TextCode>", at + 20) - 1
    return data[:at] + bytes([ord("0") + (data[at] - ord("0") + 1) % 10]) + data[at + 1:]


@needs_samples
@pytest.mark.parametrize("sample", ["ofdrw_sign_v4signed.ofd", "ofdrw_converter_1.ofd"])
def test_one_changed_byte_in_a_protected_page_is_reported_invalid(tmp_path, sample):
    src = INV / sample
    with OFDPackage.open(src) as pkg:
        assert [r.status for r in verify_package(pkg)] == [VALID]
    dst = tmp_path / "changed.ofd"
    _rewrite(src, dst, "Doc_0/Pages/Page_0/Content.xml", _flip_digit)
    with OFDPackage.open(dst) as pkg:
        (r,) = verify_package(pkg)
    assert r.status == INVALID
    assert "/Doc_0/Pages/Page_0/Content.xml" in r.reason
    assert r.signer  # still says whose seal it was


@needs_samples
def test_changed_signature_xml_or_signature_value_is_invalid(tmp_path):
    src = INV / "ofdrw_sign_v4signed.ofd"
    dst = tmp_path / "a.ofd"
    _rewrite(src, dst, "Doc_0/Signs/Sign_0/Signature.xml",
             lambda d: d.replace(b"<ofd:SignatureDateTime>", b"<ofd:SignatureDateTime> ", 1)
             if b"<ofd:SignatureDateTime>" in d else d.replace(b"?>", b"?> ", 1))
    with OFDPackage.open(dst) as pkg:
        (r,) = verify_package(pkg)
    assert r.status == INVALID and "dataHash" in r.reason

    def flip_last_sig_byte(d: bytes) -> bytes:
        return d[:-5] + bytes([d[-5] ^ 0x01]) + d[-4:]

    dst = tmp_path / "b.ofd"
    _rewrite(src, dst, "Doc_0/Signs/Sign_0/SignedValue.dat", flip_last_sig_byte)
    with OFDPackage.open(dst) as pkg:
        (r,) = verify_package(pkg)
    assert r.status == INVALID and "signature value" in r.reason


def test_sm2_verify_uses_the_default_user_id_z_value():
    # gmssl signs SM3(Z‖M) with Z over "1234567812345678"; our verify must accept exactly that,
    # and refuse the same signature for another message or out-of-range r/s.
    priv = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8"
    pub = sm2.CryptSM2(private_key=priv, public_key="")._kg(int(priv, 16), sm2.default_ecc_table["g"])
    signer = sm2.CryptSM2(private_key=priv, public_key=pub, asn1=False)
    sig = bytes.fromhex(signer.sign_with_sm3(b"message digest"))
    key = bytes.fromhex("04" + pub)
    assert sm2_verify(key, b"message digest", sig)
    assert not sm2_verify(key, b"message digesT", sig)
    assert not sm2_verify(key, b"message digest", b"\x00" * 64)
    # A plain e = SM3(M) signature (no Z) must not pass as SM3withSM2.
    plain = bytes.fromhex(signer.sign(sm3_digest(b"message digest"), "11" * 32))
    assert not sm2_verify(key, b"message digest", plain)


def test_sm3_matches_the_standard_vector():
    # GB/T 32905-2016 Appendix A.1
    assert sm3_digest(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


@needs_samples
def test_gmt0099_integrity_list_verifies_and_catches_smuggled_or_changed_entries(tmp_path):
    src = GEN / "ofdrw_crypto_hello-integrity.ofd"
    with OFDPackage.open(src) as pkg:
        (r,) = verify_package(pkg)
    assert (r.kind, r.status, r.format) == ("ofd-integrity", VALID, "CMS") and r.signer
    smuggled = tmp_path / "smuggled.ofd"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(smuggled, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        zout.writestr("Doc_0/Res/extra.bin", b"not referenced by anything")
    with OFDPackage.open(smuggled) as pkg:
        (r,) = verify_package(pkg)
    assert r.status == INVALID and "Doc_0/Res/extra.bin" in r.reason
    changed = tmp_path / "changed.ofd"
    _rewrite(src, changed, "OFDEntries.xml", lambda d: d.replace(b'ID="1"', b'ID="9"', 1))
    with OFDPackage.open(changed) as pkg:
        (r,) = verify_package(pkg)
    assert r.status == INVALID and "does not match" in r.reason


@needs_samples
def test_bare_sm2_signature_value_is_unsupported_with_the_reason(tmp_path):
    dst = tmp_path / "bare.ofd"
    _rewrite(INV / "ofdrw_sign_v4signed.ofd", dst, "Doc_0/Signs/Sign_0/SignedValue.dat",
             lambda d: bytes(range(64)))
    with OFDPackage.open(dst) as pkg:
        (r,) = verify_package(pkg)
    assert r.status == UNSUPPORTED and "bare SM2" in r.reason
