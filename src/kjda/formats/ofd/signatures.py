"""Verifying OFD electronic seals and signatures (GB/T 33190 §18, GB/T 38540, GM/T 0031).

For each entry of Signatures.xml:

1. every `Reference` of Signature.xml: the digest (CheckMethod: SM3, SHA-256, …) of the file it
   names must equal its `CheckValue` — this is what catches a changed page, attachment or image;
2. the `SignedValue` must bind Signature.xml: a GM/T 0031 `SES_Signature` (v1–v3 or v4) carries
   `dataHash` = hash(Signature.xml) in its `TBS_Sign`, a CMS SignedData (Type="Sign") carries it as
   its messageDigest;
3. the signature value over the DER `TBS_Sign` (or the CMS signed attributes) must verify against
   the signer certificate embedded in it: SM2 with SM3 (Z value over the default user id
   "1234567812345678", GM/T 0009), or RSA/ECDSA via `cryptography`.

The result says `valid`, `invalid` with the first reason found, or `unsupported` with why. A valid
result means the file is unchanged since it was signed by the key in the embedded certificate;
whether that certificate chains to a trusted CA (the tax bureau's, a seal platform's) is a
separate question this offline check does not answer, and the report says so.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import posixpath
from dataclasses import asdict, dataclass, field

from asn1crypto import cms

from kjda.formats.ofd.crypto import (
    HASH_OF_SIGALG,
    OID_SM2_SM3,
    OID_SM3,
    Cert,
    DerNode,
    der_int,
    der_items,
    der_oid,
    der_string,
    digest_function,
    load_cert,
    signed_outside_validity,
    stamp,
    verify_value,
)
from kjda.formats.ofd.document import OFDDocument, SignatureRef, el_child, el_children, el_text
from kjda.formats.ofd.model import PartReader
from kjda.formats.ofd.package import OFDError, OFDPackage

VALID, INVALID, UNSUPPORTED = "valid", "invalid", "unsupported"
TRUST_NOTE = "未校验证书链（离线）/ certificate chain not checked (offline)"
_CMS_SIGNED_DATA = {"1.2.840.113549.1.7.2", "1.2.156.10197.6.1.4.2.2"}  # PKCS#7; GB/T 35275 SM2

@dataclass
class SignatureResult:
    id: str
    type: str
    status: str
    reason: str = ""
    signer: str = ""
    seal_name: str = ""
    format: str = ""  # SES v4, SES v1, CMS
    signed_at: str = ""
    references: int = 0
    notes: list[str] = field(default_factory=list)
    kind: str = "ofd-seal"

    def as_dict(self) -> dict:
        return asdict(self)


# --- one signature --------------------------------------------------------------------------------

class _Invalid(Exception):
    pass


class _Unsupported(Exception):
    pass


def _check_references(pkg: PartReader, sig_root, result: SignatureResult) -> None:
    refs = el_child(el_child(sig_root, "SignedInfo"), "References")
    if refs is None:
        raise _Invalid("Signature.xml 无 References（未保护任何文件） / no References: nothing is protected")
    method = refs.get("CheckMethod") or OID_SM3
    digest = digest_function(method)
    if digest is None:
        raise _Unsupported(f"不支持的摘要算法 / unsupported digest algorithm {method}")
    entries = el_children(refs, "Reference")
    if not entries:
        raise _Invalid("References 为空 / References is empty")
    for ref in entries:
        file_ref = ref.get("FileRef", "")
        path = pkg.find(file_ref)
        if path is None:
            raise _Invalid(f"受保护的文件缺失 / protected file missing: {file_ref}")
        try:
            expected = base64.b64decode(el_text(el_child(ref, "CheckValue")), validate=False)
        except (binascii.Error, ValueError) as exc:
            raise _Invalid(f"{file_ref} 的 CheckValue 无法解码 / undecodable CheckValue") from exc
        if not hmac.compare_digest(digest(pkg.read(path)), expected):
            raise _Invalid(f"文件摘要不符（签署后被修改） / digest mismatch, changed after signing: {file_ref}")
    result.references = len(entries)


def _ses(der: bytes, sig_xml: bytes, result: SignatureResult) -> None:
    """GM/T 0031 SES_Signature. v4: SEQUENCE{TBS_Sign, cert OCTET STRING, signatureAlgID, signature
    BIT STRING, [0] timeStamp}. v1–v3: SEQUENCE{TBS_Sign{…, propertyInfo, cert, signatureAlgorithm},
    signature BIT STRING}."""
    top = der_items(der)[0].children
    tbs = top[0]
    fields = tbs.children
    version = der_int(fields[0])
    if len(top) >= 4 and top[1].is_(4):
        result.format = f"SES v{version}"
        cert_der, alg, value = top[1].contents, der_oid(top[2]), top[3].bits()
        time_node, data_hash = fields[2], fields[3].bits()
    elif len(top) >= 2 and top[1].is_(3) and len(fields) >= 7:
        result.format = f"SES v{version}"
        cert_der, alg, value = fields[5].contents, der_oid(fields[6]), top[1].bits()
        time_node, data_hash = fields[2], fields[3].bits()
    else:
        raise _Unsupported("无法识别的 SES_Signature 结构 / unrecognised SES_Signature layout")
    result.signed_at = (time_node.bits() if time_node.is_(3) else time_node.contents).decode("ascii", "replace")
    result.seal_name = _seal_name(fields[1])
    cert = load_cert(cert_der)
    result.signer = cert.subject_cn
    # dataHash uses the hash of the signature algorithm: SM3 for SM2, SHA-x for RSA/ECDSA.
    digest = digest_function(OID_SM3 if alg == OID_SM2_SM3 or cert.is_sm2 else HASH_OF_SIGALG.get(alg, "sha256"))
    if not hmac.compare_digest(digest(sig_xml), data_hash):
        raise _Invalid("Signature.xml 与签章中的 dataHash 不符 / Signature.xml does not match the seal's dataHash")
    ok, why = verify_value(cert, alg, tbs.raw, value)
    if ok is None:
        raise _Unsupported(why)
    if not ok:
        raise _Invalid("签名值验证失败 / signature value does not verify against the signer certificate")
    note = cert.validity_note(result.signed_at)
    if note:
        result.notes.append(note)
    outside = signed_outside_validity(cert, result.signed_at)
    if outside:
        raise _Invalid(outside)
    _check_seal(fields[1], result)


def _check_seal(eseal: DerNode, result: SignatureResult) -> None:
    """The seal itself (SESeal) must be signed by its maker (制章人), and the signature made
    within the seal's validity period. v4: SESeal{eSealInfo, cert, signAlgID, signedValue},
    signed over eSealInfo; v1–v3: SESeal{esealInfo, signInfo{cert, alg, signData}}, signed over
    SEQUENCE{esealInfo, cert, alg}. Both encodings are tried, since producers differ."""
    parts = eseal.children
    info = parts[0]
    if len(parts) >= 4 and parts[1].is_(4):
        cert_node, alg_node, value = parts[1], parts[2], parts[3].bits()
    elif len(parts) >= 2 and len(parts[1].children) >= 3:
        cert_node, alg_node, sig_node = parts[1].children[:3]
        value = sig_node.bits()
    else:
        result.notes.append("印章结构无法识别，未校验制章签名 / seal layout not recognised: maker signature not checked")
        return
    maker = load_cert(cert_node.contents)
    alg = der_oid(alg_node)
    body = info.raw + cert_node.raw + alg_node.raw
    wrapped = b"\x30" + _der_length(len(body)) + body
    outcomes = [verify_value(maker, alg, m, value) for m in (info.raw, wrapped)]
    if any(ok is True for ok, _ in outcomes):
        result.notes.append(f"制章签名有效（{maker.subject_cn}） / seal signed by its maker ({maker.subject_cn})")
    elif all(ok is None for ok, _ in outcomes):
        result.notes.append(f"制章签名未校验 / seal maker signature not checked: {outcomes[0][1]}")
    else:
        raise _Invalid("印章本身的制章签名无效 / the seal is not validly signed by its maker")
    try:
        prop = info.children[2].children
        start, end = (stamp(der_string(n)) for n in prop[-2:])
    except (IndexError, ValueError, TypeError):
        return
    when = stamp(result.signed_at)
    if when and start and end and not start <= when <= end:
        raise _Invalid(f"签章时印章不在有效期内（{start[:8]}–{end[:8]}） / seal used outside its validity "
                       f"period ({start[:8]}–{end[:8]})")


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _seal_name(eseal: DerNode) -> str:
    """SESeal → SES_SealInfo → SES_ESPropertyInfo → name (the same path in v1 and v4)."""
    try:
        prop = eseal.children[0].children[2].children
        return der_string(prop[1])
    except (IndexError, ValueError, TypeError):
        return ""


def cms_signed_data(der: bytes) -> cms.SignedData:
    """SignedData out of a ContentInfo, whatever its content-type OID (asn1crypto only maps the
    PKCS#7 one; GB/T 35275 SM2 uses 1.2.156.10197.6.1.4.2.2)."""
    top = der_items(der)[0].children
    return cms.SignedData.load(top[1].children[0].raw)


def _cms(der: bytes, sig_xml: bytes, result: SignatureResult) -> None:
    """CMS/PKCS#7 SignedData (GB/T 35275 for SM2), detached over Signature.xml."""
    result.format = "CMS"
    signed = cms_signed_data(der)
    infos = signed["signer_infos"]
    if len(infos) == 0:
        raise _Invalid("CMS 中没有签名者 / CMS has no signer")
    si = infos[0]
    certs = [c.chosen for c in signed["certificates"] if c.name == "certificate"] if signed["certificates"] else []
    if not certs:
        raise _Unsupported("CMS 中没有签名证书 / CMS carries no signer certificate")
    sid = si["sid"].chosen
    serial = sid["serial_number"].native if isinstance(sid, cms.IssuerAndSerialNumber) else None
    cert = Cert(next((c for c in certs if c.serial_number == serial), certs[0]))
    result.signer = cert.subject_cn
    digest_oid = si["digest_algorithm"]["algorithm"].dotted
    digest = digest_function(digest_oid)
    if digest is None:
        raise _Unsupported(f"不支持的摘要算法 / unsupported digest algorithm {digest_oid}")
    content = signed["encap_content_info"]["content"]
    signed_content = content.native if content.native is not None else sig_xml
    if content.native is not None and signed_content != sig_xml and signed_content != digest(sig_xml):
        raise _Invalid("CMS 封装内容与被签文件不符 / CMS content does not match the signed file")
    attrs = si["signed_attrs"]
    alg = si["signature_algorithm"]["algorithm"].dotted
    if attrs and len(attrs):
        md = next((a["values"][0].native for a in attrs if a["type"].dotted == "1.2.840.113549.1.9.4"), None)
        if md is None or not hmac.compare_digest(md, digest(sig_xml)):
            raise _Invalid("Signature.xml 与 CMS 的 messageDigest 不符 / Signature.xml does not match the CMS messageDigest")
        message = b"\x31" + attrs.dump()[1:]  # signed over the attributes as a SET, not [0]
        for a in attrs:
            if a["type"].dotted == "1.2.840.113549.1.9.5":
                result.signed_at = str(a["values"][0].native)
    else:
        # Without signed attributes the signature covers the encapsulated content itself (GM/T
        # 0099 signs SM3(OFDEntries.xml) this way), or the detached Signature.xml.
        message = signed_content
    ok, why = verify_value(cert, alg, message, si["signature"].native)
    if ok is None:
        raise _Unsupported(why)
    if not ok:
        raise _Invalid("签名值验证失败 / signature value does not verify against the signer certificate")


def _valid(result: SignatureResult) -> None:
    result.status, result.reason = VALID, ""
    result.notes.append(TRUST_NOTE)


def _not_valid(result: SignatureResult, exc: Exception) -> None:
    """The verdict of a verification that stopped: unsupported, or invalid with the reason."""
    if isinstance(exc, _Unsupported):
        result.status, result.reason = UNSUPPORTED, str(exc)
    else:
        result.status = INVALID
        result.reason = exc.message if isinstance(exc, OFDError) else str(exc)


def verify_signature(pkg: PartReader, ref: SignatureRef) -> SignatureResult:
    result = SignatureResult(id=ref.id, type=ref.type, status=UNSUPPORTED,
                             kind="ofd-seal" if ref.type.lower() == "seal" else "ofd-signature")
    try:
        if ref.path is None:
            raise _Invalid(f"Signature.xml 缺失 / signature file missing: {ref.ref}")
        sig_xml = pkg.read(ref.path)
        root = pkg.xml(ref.path)
        # The file digests are checked first and win as the reason: "which file changed" is what
        # an archivist needs. The signed value is still parsed, for the signer and seal name.
        ref_error: Exception | None = None
        try:
            _check_references(pkg, root, result)
        except (_Invalid, _Unsupported) as exc:
            ref_error = exc
        value_error: Exception | None = None
        try:
            _check_value(pkg, ref.path, root, sig_xml, result)
        except (_Invalid, _Unsupported) as exc:
            value_error = exc
        if isinstance(ref_error, _Unsupported) and value_error is None:
            result.notes.append("签名值有效，但文件摘要未能校验 / the signature value verifies, the file "
                                "digests could not be checked")
        if ref_error or value_error:
            raise ref_error or value_error  # type: ignore[misc]
        _valid(result)
    except (_Invalid, _Unsupported, OFDError) as exc:
        _not_valid(result, exc)
    return result


def _check_value(pkg: PartReader, sig_path: str, root, sig_xml: bytes, result: SignatureResult) -> None:
    value_ref = el_text(el_child(root, "SignedValue"))
    value_path = pkg.find(value_ref, posixpath.dirname(sig_path))
    if value_path is None:
        raise _Invalid(f"签名值文件缺失 / SignedValue file missing: {value_ref}")
    der = pkg.read(value_path)
    if len(der) == 64 or _is_bare_sm2(der):
        # GB/T 38540 allows a bare SM2 value for Type="Sign": no certificate travels with it.
        raise _Unsupported("签名值为裸 SM2 签名，未附签名证书，无法校验 / bare SM2 signature value without a "
                           "certificate: can't be verified from the file alone")
    try:
        first = der_items(der)[0]
        is_cms = first.children[0].is_(6) and der_oid(first.children[0]) in _CMS_SIGNED_DATA
        (_cms if is_cms else _ses)(der, sig_xml, result)
    except (_Invalid, _Unsupported):
        raise
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise _Unsupported("签名值结构无法解析（非 GM/T 0031 / CMS 的厂商格式） / SignedValue structure not "
                           f"understood (not GM/T 0031 or CMS): {type(exc).__name__}") from exc


def _is_bare_sm2(der: bytes) -> bool:
    try:
        (seq,) = der_items(der)
        kids = seq.children
    except (ValueError, TypeError, IndexError):
        return False
    return seq.is_(16) and len(kids) == 2 and all(k.is_(2) for k in kids)


def verify_document(doc: OFDDocument) -> list[SignatureResult]:
    return [verify_signature(doc.package, ref) for ref in doc.signatures()]


def verify_package(pkg: OFDPackage) -> list[SignatureResult]:
    results = [r for doc in pkg.documents() for r in verify_document(doc)]
    integrity = verify_integrity(pkg)
    return results + ([integrity] if integrity else [])


def verify_integrity(pkg: OFDPackage) -> SignatureResult | None:
    """GM/T 0099-2020 §7.4 integrity protection (防夹带): OFDEntries.xml lists every content
    file of the package and is signed (GB/T 35275 SignedData over its SM3 digest). Valid when
    the signature verifies and the package holds no file outside the list; None when absent."""
    entries_path = pkg.find("OFDEntries.xml")
    if entries_path is None:
        return None
    result = SignatureResult(id="OFDEntries", type="Integrity", status=UNSUPPORTED, kind="ofd-integrity")
    try:
        entries = pkg.read(entries_path)
        root = pkg.xml(entries_path)
        value_ref = el_text(el_child(root, "SignedValueLoc"))
        value_path = pkg.find(value_ref, posixpath.dirname(entries_path))
        if value_path is None:
            raise _Invalid(f"完整性保护签名值缺失 / integrity signed value missing: {value_ref}")
        listed: set[str] = set()
        for f in root.iter("File"):
            path = pkg.find(f.get("FileLoc", ""))
            if path is None:
                raise _Invalid(f"清单中的文件缺失 / listed file missing: {f.get('FileLoc', '')}")
            listed.add(path)
        try:
            _cms(pkg.read(value_path), entries, result)
        except (ValueError, TypeError, IndexError, KeyError) as exc:
            raise _Unsupported("完整性保护签名值无法解析 / integrity signed value not understood: "
                               f"{type(exc).__name__}") from exc
        extra = sorted(set(pkg.names()) - listed - {entries_path, value_path})
        if extra:
            shown = ", ".join(extra[:5]) + (" …" if len(extra) > 5 else "")
            raise _Invalid(f"包内有清单之外的文件（夹带） / files outside the integrity list (smuggled): {shown}")
        _valid(result)
    except (_Invalid, _Unsupported, OFDError) as exc:
        _not_valid(result, exc)
    return result


def seal_picture(pkg: PartReader, sig_path: str, root) -> bytes | None:
    """The seal's picture (SES_ESPictrueInfo.data) when it is a raster image or an OFD, for the preview.
    SESeal → SES_SealInfo → picture is at the same place in v1 and v4."""
    value_path = pkg.find(el_text(el_child(root, "SignedValue")), posixpath.dirname(sig_path))
    if value_path is None:
        return None
    try:
        top = der_items(pkg.read(value_path))[0].children
        if top[0].is_(6):  # CMS: no picture inside
            return None
        eseal = top[0].children[1]
        picture = eseal.children[0].children[3].children
        data = picture[1].contents
    except (ValueError, IndexError, TypeError):
        return None
    # Raster pictures (PNG/JPEG/GIF/BMP) and OFD pictures (a zip), told apart by content.
    if data[:8] == b"\x89PNG\r\n\x1a\n" or data[:3] == b"\xff\xd8\xff" or data[:4] in (b"GIF8", b"PK\x03\x04") \
            or data[:2] == b"BM":
        return data
    return None
