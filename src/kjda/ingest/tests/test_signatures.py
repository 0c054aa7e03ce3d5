"""`file_signatures`: OFD, PDF (pyHanko) and XML (XML-DSig, e-invoice CMS) signatures."""

from __future__ import annotations

import datetime
import io

import pytest
from asn1crypto import keys as akeys
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from reportlab.pdfgen import canvas

from kjda.ingest.signatures import file_signatures, pyhanko_ready
from kjda_oasim.testing import SAMPLES

needs_samples = pytest.mark.skipif(not SAMPLES.exists(), reason=f"no sample corpus at {SAMPLES}")


@pytest.fixture(scope="module")
def signer_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "KJDA Test Signer")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def _signed_pdf(key, cert) -> bytes:
    pyhanko_ready()  # asn1crypto maps may have been used (OFD CMS) before pyHanko's import
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pageCompression=0)  # uncompressed, so the test can change one digit
    c.drawString(100, 700, "total 526.00")
    c.save()
    signer = signers.SimpleSigner(
        signing_cert=ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        signing_key=akeys.PrivateKeyInfo.load(key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())),
        cert_registry=None)
    out = signers.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(buf.getvalue())),
                           signers.PdfSignatureMetadata(field_name="Sig1"), signer=signer)
    return out.getvalue()


def test_pdf_signature_valid_then_invalid_after_one_changed_byte(signer_key):
    data = _signed_pdf(*signer_key)
    (r,) = file_signatures(data, "pdf")
    assert r["status"] == "valid" and r["signer"] == "KJDA Test Signer" and r["kind"] == "pdf"
    at = data.index(b"526.00")
    changed = data[:at] + b"926.00" + data[at + 6:]
    (r,) = file_signatures(changed, "pdf")
    assert r["status"] == "invalid" and "digest" in r["reason"]


def test_unsigned_pdf_has_no_signatures():
    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.drawString(100, 700, "x")
    c.save()
    assert file_signatures(buf.getvalue(), "pdf") == []


def test_xml_dsig_valid_then_invalid(signer_key):
    from signxml import XMLSigner

    key, cert = signer_key
    root = etree.fromstring(b"<Invoice><Number>12345678901234567890</Number><Total>526.00</Total></Invoice>")
    signed = XMLSigner(signature_algorithm="rsa-sha256").sign(
        root, key=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()),
        cert=cert.public_bytes(serialization.Encoding.PEM).decode())
    data = etree.tostring(signed)
    (r,) = file_signatures(data, "xml")
    assert r["status"] == "valid" and r["signer"] == "KJDA Test Signer" and r["kind"] == "xml-dsig"
    (r,) = file_signatures(data.replace(b"526.00", b"926.00"), "xml")
    assert r["status"] == "invalid"


@needs_samples
def test_einvoice_xml_cms_without_certificate_is_unsupported_with_the_reason():
    path = SAMPLES / "invoice_xml" / "ofdrw_converter_1__original_invoice.xml"
    (r,) = file_signatures(path, "xml")
    assert r["status"] == "unsupported" and r["kind"] == "xml-einvoice"
    assert "certificate" in r["reason"]


@needs_samples
def test_ofd_through_the_facade():
    (r,) = file_signatures(SAMPLES / "ofd_invoices" / "ofdrw_converter_1.ofd", "ofd")
    assert r["status"] == "valid" and r["signer"] and r["kind"] == "ofd-seal" and r["seal_name"]
    with open(SAMPLES / "ofd_invoices" / "ofdrw_converter_1.ofd", "rb") as fh:
        assert [x["status"] for x in file_signatures(fh, "ofd")] == ["valid"]
        assert fh.tell() == 0
    assert file_signatures(SAMPLES / "ofd_edge_cases" / "ofdrw_reader_zip_boom.zip", "ofd") == []
    assert file_signatures(b"plain", "txt") == []


@pytest.mark.parametrize("at", [0, 5, 6, 7, 10, 93])
def test_a_marker_is_found_wherever_it_falls_against_the_read_blocks(at):
    from kjda.ingest.signatures import _contains

    data = bytearray(b"x" * 100)
    data[at:at + 7] = b"/ByteRa"
    data = bytes(data[:100])
    found = b"/ByteRa" in data
    assert _contains(io.BytesIO(data), b"/ByteRa", chunk=8) is found
    assert _contains(io.BytesIO(data), b"/ByteRa", chunk=1 << 20) is found
    assert _contains(io.BytesIO(data), b"/Sig", chunk=8) is False
