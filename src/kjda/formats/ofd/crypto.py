"""Cryptographic building blocks for OFD signature checks: SM3 and the other digests, a
positional DER reader (every SES version and vendor variant parses), SM2-with-SM3 verification
(GB/T 32918.2, Z over the default user id of GM/T 0009), certificates, and RSA/ECDSA through
`cryptography`."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

from asn1crypto import x509
from asn1crypto.parser import parse as asn1_parse
from gmssl import sm2, sm3

OID_SM3 = "1.2.156.10197.1.401"
OID_SM2_SM3 = "1.2.156.10197.1.501"
OID_SM2_CURVE = "1.2.156.10197.1.301"


def _sm3_openssl(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


def _sm3_gmssl(data: bytes) -> bytes:
    return bytes.fromhex(sm3.sm3_hash(list(data)))


# OpenSSL's SM3 is ~1000× faster than gmssl's pure-Python one (seconds for a scanned page);
# gmssl stays as the fallback for an OpenSSL built without SM3.
sm3_digest = _sm3_openssl if "sm3" in hashlib.algorithms_available else _sm3_gmssl


# CheckMethod / digest algorithm names and OIDs seen in OFDs, mapped to a digest function.
_DIGESTS = {
    "sm3": sm3_digest, OID_SM3: sm3_digest,
    "sha1": lambda d: hashlib.sha1(d, usedforsecurity=False).digest(), "1.3.14.3.2.26": None,
    "sha256": lambda d: hashlib.sha256(d).digest(), "2.16.840.1.101.3.4.2.1": None,
    "sha384": lambda d: hashlib.sha384(d).digest(), "2.16.840.1.101.3.4.2.2": None,
    "sha512": lambda d: hashlib.sha512(d).digest(), "2.16.840.1.101.3.4.2.3": None,
    "md5": lambda d: hashlib.md5(d, usedforsecurity=False).digest(), "1.2.840.113549.2.5": None,
}
for _alg_oid, _name in (("1.3.14.3.2.26", "sha1"), ("2.16.840.1.101.3.4.2.1", "sha256"),
                        ("2.16.840.1.101.3.4.2.2", "sha384"),
                        ("2.16.840.1.101.3.4.2.3", "sha512"), ("1.2.840.113549.2.5", "md5")):
    _DIGESTS[_alg_oid] = _DIGESTS[_name]


def digest_function(method: str):
    m = (method or "").strip()
    key = m.lower().replace("-", "").replace("_", "")
    if key in _DIGESTS:
        return _DIGESTS[key]
    if m in _DIGESTS:
        return _DIGESTS[m]
    # Anything else (iOFD writes the non-standard 1.2.156.10197.1.401.2, which is not plain
    # SM3 over the file) is reported unsupported, never guessed at.
    return None


# --- DER helpers (positional, so every SES version and vendor variant parses) ----------------------

@dataclass
class DerNode:
    cls: int
    constructed: bool
    tag: int
    raw: bytes
    contents: bytes

    @property
    def children(self) -> list[DerNode]:
        return der_items(self.contents)

    def is_(self, tag: int, cls: int = 0) -> bool:
        return self.tag == tag and self.cls == cls

    def bits(self) -> bytes:  # BIT STRING payload without the unused-bits octet
        return self.contents[1:]


def der_items(data: bytes) -> list[DerNode]:
    out, pos = [], 0
    while pos < len(data):
        cls, method, tag, header, contents, trailer = asn1_parse(data[pos:])
        n = len(header) + len(contents) + len(trailer)
        out.append(DerNode(cls, bool(method), tag, data[pos:pos + n], contents))
        pos += n
    return out


def der_int(node: DerNode) -> int:
    return int.from_bytes(node.contents, "big", signed=True)


def der_oid(node: DerNode) -> str:
    from asn1crypto.core import ObjectIdentifier

    return ObjectIdentifier.load(node.raw).dotted


def der_string(node: DerNode) -> str:
    for enc in ("utf-8", "gb18030", "latin-1"):
        try:
            return node.contents.decode(enc)
        except UnicodeDecodeError:
            continue
    return ""


# --- signature value ------------------------------------------------------------------------------

_SM2 = {k: int(v, 16) for k, v in sm2.default_ecc_table.items()}  # GB/T 32918.5 curve parameters
_SM2_N = _SM2["n"]
_DEFAULT_ID = b"1234567812345678"  # GM/T 0009 §10: the default user id when none is agreed


def _rs(sig: bytes) -> tuple[int, int] | None:
    """(r, s) from a DER SEQUENCE{INTEGER, INTEGER} or a raw 64-byte r‖s (both occur)."""
    if len(sig) == 64:
        return int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    try:
        (seq,) = der_items(sig)
        r, s = seq.children
        return der_int(r), der_int(s)
    except (ValueError, TypeError):
        return None


@functools.cache
def _sm2_curve():
    from ecdsa.ellipticcurve import CurveFp, PointJacobi

    curve = CurveFp(_SM2["p"], _SM2["a"], _SM2["b"], 1)
    g = _SM2["g"]
    gx, gy = g >> 256, g & ((1 << 256) - 1)
    return curve, PointJacobi(curve, gx, gy, 1, _SM2_N, generator=True)


def sm2_za(x: int, y: int, user_id: bytes = _DEFAULT_ID) -> bytes:
    """Z_A = SM3(ENTL_A ‖ ID_A ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A) (GB/T 32918.2 §5.5)."""
    g = _SM2["g"]
    parts = [(len(user_id) * 8).to_bytes(2, "big"), user_id]
    parts += [v.to_bytes(32, "big") for v in (_SM2["a"], _SM2["b"], g >> 256, g & ((1 << 256) - 1), x, y)]
    return sm3_digest(b"".join(parts))


def sm2_verify(public_key: bytes, message: bytes, signature: bytes, user_id: bytes = _DEFAULT_ID) -> bool:
    """SM3withSM2 verification (GB/T 32918.2 §7): e = SM3(Z_A ‖ M); (x1, y1) = s·G + t·P_A with
    t = r + s; valid iff r = e + x1 (mod n). Point arithmetic by python-ecdsa (gmssl's own fails
    on some valid inputs). `public_key` is 04‖X‖Y or X‖Y."""
    from ecdsa.ellipticcurve import PointJacobi

    if len(public_key) == 65 and public_key[0] == 4:
        public_key = public_key[1:]
    if len(public_key) != 64:
        return False
    rs = _rs(signature)
    if rs is None:
        return False
    r, s = rs
    if not (1 <= r < _SM2_N and 1 <= s < _SM2_N):
        return False
    t = (r + s) % _SM2_N
    if t == 0:
        return False
    curve, g = _sm2_curve()
    x, y = int.from_bytes(public_key[:32], "big"), int.from_bytes(public_key[32:], "big")
    if not curve.contains_point(x, y):
        return False
    e = int.from_bytes(sm3_digest(sm2_za(x, y, user_id) + message), "big")
    point = g.mul_add(s, PointJacobi(curve, x, y, 1, _SM2_N), t)
    if point == 0 or point.x() is None:  # the point at infinity
        return False
    return (e + point.x()) % _SM2_N == r


@dataclass
class Cert:
    cert: x509.Certificate

    @property
    def subject_cn(self) -> str:
        try:
            name = self.cert.subject.native
        except (ValueError, TypeError):
            return ""
        return str(name.get("common_name") or name.get("organization_name") or "")

    @property
    def spki(self):
        return self.cert["tbs_certificate"]["subject_public_key_info"]

    @property
    def is_sm2(self) -> bool:
        alg = self.spki["algorithm"]
        params = alg["parameters"]
        try:
            curve = params.chosen.dotted if hasattr(params, "chosen") and params.chosen is not None else ""
        except (AttributeError, ValueError):
            curve = ""
        if not curve:
            raw = params.dump() if params is not None else b""
            curve = OID_SM2_CURVE if bytes.fromhex("06082a811ccf5501822d") in raw else ""
        return alg["algorithm"].dotted == OID_SM2_CURVE or curve == OID_SM2_CURVE

    @property
    def public_point(self) -> bytes:
        return self.spki["public_key"].contents[1:]

    def validity_note(self, when: str) -> str:
        try:
            start = self.cert["tbs_certificate"]["validity"]["not_before"].native
            end = self.cert["tbs_certificate"]["validity"]["not_after"].native
        except (ValueError, TypeError):
            return ""
        return f"证书有效期 / certificate valid {start:%Y-%m-%d} – {end:%Y-%m-%d}" + (f"; 签署于 / signed {when}" if when else "")


def stamp(text: str) -> str:
    """YYYYMMDDHHMMSS from GeneralizedTime, UTCTime or the free-form times v1 seals carry."""
    digits = re.sub(r"\D", "", text)
    if len(digits) == 12 or (len(digits) < 14 and len(digits) % 2 == 0 and not digits.startswith(("19", "20"))):
        digits = "20" + digits  # UTCTime YYMMDD…
    return (digits + "000000")[:14] if len(digits) >= 8 else ""


def signed_outside_validity(cert: Cert, signed_at: str) -> str:
    """GB/T 38540 verification: the signing time must fall inside the signer certificate's
    validity. The reason when it does not, else ""."""
    when = stamp(signed_at)
    try:
        validity = cert.cert["tbs_certificate"]["validity"]
        start = validity["not_before"].native.strftime("%Y%m%d%H%M%S")
        end = validity["not_after"].native.strftime("%Y%m%d%H%M%S")
    except (ValueError, TypeError, AttributeError):
        return ""
    if when and not start <= when <= end:
        return (f"签章时签名证书不在有效期内（{start[:8]}–{end[:8]}） / signer certificate not valid at "
                f"signing time ({start[:8]}–{end[:8]})")
    return ""


def load_cert(der: bytes) -> Cert:
    cert = x509.Certificate.load(der)
    cert["tbs_certificate"]["subject_public_key_info"]  # noqa: B018 - parse now, fail here
    return Cert(cert)


HASH_OF_SIGALG = {"1.2.840.113549.1.1.5": "sha1", "1.2.840.113549.1.1.11": "sha256",
                   "1.2.840.113549.1.1.12": "sha384", "1.2.840.113549.1.1.13": "sha512",
                   "1.2.840.10045.4.1": "sha1", "1.2.840.10045.4.3.2": "sha256",
                   "1.2.840.10045.4.3.3": "sha384", "1.2.840.10045.4.3.4": "sha512"}


def verify_value(cert: Cert, alg_oid: str, message: bytes, signature: bytes) -> tuple[bool | None, str]:
    """(True/False, "") when checked, (None, why) when the algorithm is not supported."""
    if cert.is_sm2 or alg_oid == OID_SM2_SM3:
        return sm2_verify(cert.public_point, message, signature), ""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.x509 import load_der_x509_certificate

    name = HASH_OF_SIGALG.get(alg_oid)
    # SHA-1 only to verify signatures made with it years ago, never to make new ones.
    algo = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256(), "sha384": hashes.SHA384(),  # noqa: S303
            "sha512": hashes.SHA512()}.get(name or "")
    if algo is None:
        return None, f"不支持的签名算法 / unsupported signature algorithm {alg_oid}"
    try:
        key = load_der_x509_certificate(cert.cert.dump()).public_key()
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), algo)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(algo))
        else:
            return None, "不支持的公钥类型 / unsupported public key type"
    except InvalidSignature:
        return False, ""
    except ValueError as exc:
        return None, f"证书无法解析 / certificate unreadable: {exc}"
    return True, ""
