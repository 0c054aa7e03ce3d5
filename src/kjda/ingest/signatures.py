"""Electronic signatures in an incoming file (四性 真实性: 固化信息有效性), whatever its format.

`file_signatures(source, format)` returns one dict per signature found:
`{"status": "valid"|"invalid"|"unsupported", "reason", "signer", "kind", ...}`.

- OFD: seals and signatures per GB/T 33190 §18 / GM/T 0031 (`kjda.formats.ofd.signatures`).
- PDF: every signature field, by pyHanko (byte-range digest, signature value, coverage and
  changes after signing). SM2 signatures in PDFs are reported unsupported.
- XML: W3C XML-DSig (`ds:Signature`, e.g. 数电票 XML), by signxml against the certificate in
  the signature; the older e-invoice's `<fp:Signature>` (a detached SM2 CMS without the signer's
  certificate) is reported unsupported, since verifying it needs the tax authority's certificate.

`valid` means: unchanged since signed by the key of the certificate carried in the file. Whether
that certificate chains to a trusted CA is not checked offline, and every valid result says so.
A file with no signatures gives an empty list.
"""

from __future__ import annotations

import base64
import functools
import io
import logging
import os
import re
from typing import Any, BinaryIO

from kjda.formats.ofd.signatures import INVALID, TRUST_NOTE, UNSUPPORTED, VALID

log = logging.getLogger(__name__)
Source = str | os.PathLike | bytes | BinaryIO
MAX_XML_BYTES = 32 * 1024 * 1024


def _bytes(source: Source) -> bytes:
    if isinstance(source, bytes | bytearray):
        return bytes(source)
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fh:
            return fh.read()
    source.seek(0)
    data = source.read()
    source.seek(0)
    return data


def _contains(source: Source, needle: bytes, chunk: int = 1 << 20) -> bool:
    """Whether the bytes hold `needle`, read in chunks: most files carry no signature, and
    ingest should not load each one whole just to find that out."""
    if isinstance(source, bytes | bytearray):
        return needle in source
    fh = open(source, "rb") if isinstance(source, str | os.PathLike) else source  # noqa: SIM115
    try:
        fh.seek(0)
        tail = b""
        keep = len(needle) - 1  # a needle across two blocks starts in the last `keep` bytes
        while block := fh.read(chunk):
            if needle in block or (tail and needle in tail + block[:keep]):
                return True
            tail = block[-keep:] if keep else b""
        return False
    finally:
        if fh is not source:
            fh.close()
        else:
            fh.seek(0)


def _result(status: str, reason: str, *, kind: str, signer: str = "", **extra) -> dict:
    out = {"status": status, "reason": reason, "signer": signer, "kind": kind}
    out.update(extra)
    return out


def file_signatures(source: Source, format: str) -> list[dict]:
    fmt = (format or "").lower()
    if fmt == "ofd":
        return ofd_signatures(source)
    if fmt in ("pdf", "pdfa"):
        return pdf_signatures(source)
    if fmt in ("xml", "xbrl"):
        return xml_signatures(source)
    return []


# --- OFD ------------------------------------------------------------------------------------------

def ofd_signatures(source: Source) -> list[dict]:
    from kjda.formats.ofd import OFDError, OFDPackage
    from kjda.formats.ofd.signatures import verify_package

    if not isinstance(source, bytes | bytearray | str | os.PathLike):
        source.seek(0)
    try:
        with OFDPackage.open(source) as pkg:
            return [r.as_dict() for r in verify_package(pkg)]
    except OFDError:
        return []  # an unreadable package is reported by the readability check, not here
    finally:
        if not isinstance(source, bytes | bytearray | str | os.PathLike):
            source.seek(0)


# --- PDF ------------------------------------------------------------------------------------------

def _cn(cert) -> str:
    try:
        name = cert.subject.native
    except (ValueError, TypeError, AttributeError):
        return ""
    return str(name.get("common_name") or name.get("organization_name") or "")


@functools.cache
def pyhanko_ready() -> None:
    """pyHanko registers extra OIDs into asn1crypto's maps when imported; asn1crypto caches a
    reverse map on first use, so if SignedData was parsed before (OFD signatures do) the new
    names are missing ("invalid literal for int(): 'signing_certificate_v2'"). Rebuild the built
    reverse maps once after pyHanko's import so they hold its names."""
    import pyhanko.sign.general  # noqa: F401 - registers the OIDs
    import pyhanko.sign.validation  # noqa: F401
    from asn1crypto import algos, cms, core, x509

    for module in (algos, cms, x509, core):
        for obj in vars(module).values():
            if not (isinstance(obj, type) and issubclass(obj, core.ObjectIdentifier)):
                continue
            oid_class: Any = obj  # asn1crypto has no type hints for its (private) maps
            if oid_class._map is not None and oid_class._reverse_map is not None:
                oid_class._reverse_map = {name: oid for oid, name in oid_class._map.items()}


def pdf_signatures(source: Source) -> list[dict]:
    pyhanko_ready()
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.general import UnacceptableSignerError
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.status import ModificationLevel, SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    if not _contains(source, b"/ByteRange"):  # no signature dictionary at all
        return []
    data = _bytes(source)
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            return [_result(UNSUPPORTED, "PDF 已加密，无法校验签名 / encrypted PDF: signatures not checked",
                            kind="pdf")]
        embedded = reader.embedded_signatures
    except Exception as exc:  # a PDF pyHanko can't parse is reported by the readability check
        log.info("pdf signatures unreadable: %s", exc)
        return []
    out = []
    for sig in embedded:
        name = sig.field_name or ""
        try:
            # No trust roots and no fetching: the check stays offline and says so.
            status = validate_pdf_signature(sig, ValidationContext(trust_roots=[], allow_fetching=False))
        except (SignatureValidationError, UnacceptableSignerError, NotImplementedError, ValueError) as exc:
            out.append(_result(UNSUPPORTED, f"签名无法校验（算法或结构不受支持） / signature not checkable: {exc}",
                               kind="pdf", field=name))
            continue
        except Exception as exc:
            out.append(_result(UNSUPPORTED, f"签名无法校验 / signature not checkable: {type(exc).__name__}",
                               kind="pdf", field=name))
            continue
        signer = _cn(status.signing_cert) if status.signing_cert is not None else ""
        if not status.intact:
            out.append(_result(INVALID, "签名覆盖的内容已被修改（摘要不符） / signed bytes changed: digest mismatch",
                               kind="pdf", signer=signer, field=name))
        elif not status.valid:
            out.append(_result(INVALID, "签名值验证失败 / signature value does not verify", kind="pdf",
                               signer=signer, field=name))
        elif status.coverage not in (SignatureCoverageLevel.ENTIRE_FILE, SignatureCoverageLevel.ENTIRE_REVISION) or (
                status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
                and status.modification_level not in (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES)):
            out.append(_result(INVALID, f"签名后文件被修改 / file changed after signing ({getattr(status.modification_level, 'name', '?')})",
                               kind="pdf", signer=signer, field=name))
        else:
            out.append(_result(VALID, "", kind="pdf", signer=signer, field=name, notes=[TRUST_NOTE]))
    return out


# --- XML ------------------------------------------------------------------------------------------

_DSIG = "http://www.w3.org/2000/09/xmldsig#"
_FP_SIGNATURE = re.compile(rb"<(?:\w+:)?Signature>\s*([A-Za-z0-9+/=\s]{64,})\s*</(?:\w+:)?Signature>")


def xml_signatures(source: Source) -> list[dict]:
    from lxml import etree

    if not _contains(source, b"Signature"):
        return []
    data = _bytes(source)
    if len(data) > MAX_XML_BYTES:
        return [_result(UNSUPPORTED, "XML 过大，未校验签名 / XML too large: signatures not checked", kind="xml-dsig")]
    if re.search(rb"<!DOCTYPE|<!ENTITY", data, re.IGNORECASE):
        return [_result(UNSUPPORTED, "XML 含 DTD/实体声明，未解析 / XML declares a DTD: not parsed", kind="xml-dsig")]
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError:
        return []
    out = [_verify_dsig(data, sig) for sig in root.iter(f"{{{_DSIG}}}Signature")]
    if not out:
        m = _FP_SIGNATURE.search(data)
        if m:
            out.append(_einvoice_cms(m.group(1)))
    return out


def _verify_dsig(data: bytes, sig) -> dict:
    method = sig.find(f"{{{_DSIG}}}SignedInfo/{{{_DSIG}}}SignatureMethod")
    algorithm = method.get("Algorithm", "") if method is not None else ""
    if "sm2" in algorithm.lower() or "sm3" in algorithm.lower():
        return _result(UNSUPPORTED, f"XML 签名算法 {algorithm} (SM2) 暂不支持 / SM2 XML-DSig not supported",
                       kind="xml-dsig")
    cert_el = sig.find(f".//{{{_DSIG}}}X509Certificate")
    if cert_el is None or not (cert_el.text or "").strip():
        return _result(UNSUPPORTED, "XML 签名未附签名证书 / no signer certificate in the XML signature",
                       kind="xml-dsig")
    b64 = "".join((cert_el.text or "").split())
    pem = "-----BEGIN CERTIFICATE-----\n" + "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64)) \
          + "\n-----END CERTIFICATE-----\n"
    signer = ""
    try:
        from asn1crypto import x509

        signer = _cn(x509.Certificate.load(base64.b64decode(b64)))
    except (ValueError, TypeError):
        pass
    from signxml import InvalidInput, XMLVerifier
    from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidSignature

    try:
        # The certificate from the signature itself: checks the signature, not the trust chain.
        XMLVerifier().verify(data, x509_cert=pem)
    except InvalidDigest:
        return _result(INVALID, "签名覆盖的内容已被修改（摘要不符） / signed content changed: digest mismatch",
                       kind="xml-dsig", signer=signer)
    except InvalidSignature as exc:
        return _result(INVALID, f"签名值验证失败 / signature value does not verify: {exc}", kind="xml-dsig",
                       signer=signer)
    except (InvalidInput, InvalidCertificate, ValueError) as exc:
        return _result(UNSUPPORTED, f"XML 签名无法校验 / XML signature not checkable: {exc}", kind="xml-dsig",
                       signer=signer)
    return _result(VALID, "", kind="xml-dsig", signer=signer, notes=[TRUST_NOTE])


def _einvoice_cms(b64: bytes) -> dict:
    """The pre-数电 e-invoice `<fp:Signature>`: a detached SM2 CMS SignedData."""
    from asn1crypto import cms

    from kjda.formats.ofd.signatures import cms_signed_data

    try:
        signed = cms_signed_data(base64.b64decode(b"".join(b64.split())))
        has_cert = bool(signed["certificates"]) and len(signed["certificates"]) > 0
        sid = signed["signer_infos"][0]["sid"].chosen
        issuer = sid["issuer"].native.get("common_name", "") if isinstance(sid, cms.IssuerAndSerialNumber) else ""
    except Exception:
        return _result(UNSUPPORTED, "发票 XML 的签名值无法解析 / the invoice XML signature can't be parsed",
                       kind="xml-einvoice")
    if not has_cert:
        return _result(UNSUPPORTED, "发票 XML 的 SM2 签名未附签名证书，需税务机关证书方可校验 / the invoice XML's SM2 "
                       "signature carries no certificate: verifying it needs the tax authority's certificate",
                       kind="xml-einvoice", signer="", issuer=issuer)
    return _result(UNSUPPORTED, "发票 XML 的签名覆盖范围未定义，未校验 / the invoice XML signature's signed "
                   "content is not defined here: not checked", kind="xml-einvoice", issuer=issuer)
