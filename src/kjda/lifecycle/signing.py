"""Signatures over a register's digest (79号令 Art.12, 18, 24: the signatories sign the 移交清册 /
销毁清册; DA/T 70 YJ: signatures verified on receipt).

The key is a PEM file named by `KJDA_REGISTER_SIGNING_KEY` (a setting or the environment). An SM2
key (PKCS#8 or SEC1 on the curve 1.2.156.10197.1.301, e.g. `openssl genpkey -algorithm SM2`) signs
SM3withSM2 (GB/T 32918.2, default user id); an RSA key signs RSA-SHA256, i.e. PKCS#1 v1.5 with
SHA-256 (XML-DSig's http://www.w3.org/2001/04/xmldsig-more#rsa-sha256, what receivers' tools
check). Signatures made before with RSA-PSS (RSA-PSS-SHA256) still verify. Without a key the
signatory's name, role and time are still recorded, with no cryptographic signature.

A signature carries its public key, so it can be verified after the key is rotated; the key's
fingerprint (SHA-256 of the public key) says which key it was.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asn1crypto import keys as asn1_keys
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings
from gmssl import sm2

from kjda.errors import DomainError
from kjda.formats.ofd.crypto import sm2_verify

SM2_CURVE_OID = "1.2.156.10197.1.301"
SM2_ALGORITHM = "SM2-SM3"
RSA_ALGORITHM = "RSA-SHA256"
RSA_ALGORITHM_URI = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
RSA_PSS_ALGORITHM = "RSA-PSS-SHA256"  # signed by earlier versions: verified, no longer made
_SM2_N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)


class SigningKeyError(DomainError):
    status = 500


@dataclass(frozen=True)
class SigningKey:
    algorithm: str  # SM2_ALGORITHM | RSA_ALGORITHM
    private: Any  # the SM2 scalar as 64 hex digits, or a cryptography RSAPrivateKey
    public_pem: str  # SM2: "04"‖X‖Y in hex; RSA: the SubjectPublicKeyInfo PEM

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.public_pem.encode()).hexdigest()


def signing_key_path() -> str:
    return str(getattr(settings, "KJDA_REGISTER_SIGNING_KEY", "")
               or os.environ.get("KJDA_REGISTER_SIGNING_KEY", "")).strip()


def signing_key_load(path: str | Path) -> SigningKey:
    """The key in the PEM file at `path`, SM2 or RSA (anything else is refused)."""
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise SigningKeyError("signing_key_unreadable", f"签名密钥文件无法读取：{path}",
                              f"the signing key file cannot be read: {path} ({exc})") from exc
    sm2_scalar = _sm2_scalar(pem)
    if sm2_scalar is not None:
        d = f"{sm2_scalar:064x}"
        public = sm2.CryptSM2(private_key=d, public_key="")._kg(sm2_scalar,
                                                               sm2.default_ecc_table["g"])
        return SigningKey(SM2_ALGORITHM, d, "04" + public)
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SigningKeyError("signing_key_invalid", "签名密钥不是未加密的 SM2 或 RSA 私钥（PEM）",
                              "the signing key is not an unencrypted SM2 or RSA private key (PEM)"
                              ) from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SigningKeyError("signing_key_algorithm", "签名密钥须为 SM2 或 RSA",
                              "the signing key must be SM2 or RSA")
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return SigningKey(RSA_ALGORITHM, key, public_pem)


def _sm2_scalar(pem: bytes) -> int | None:
    """The private scalar of an SM2 key in PKCS#8 ("PRIVATE KEY") or SEC1 ("EC PRIVATE KEY")
    form; None when the PEM holds some other key (cryptography cannot load SM2 keys)."""
    from asn1crypto import pem as asn1_pem

    if not asn1_pem.detect(pem):
        return None
    try:
        kind, _headers, der = asn1_pem.unarmor(pem)
        if kind in ("EC PRIVATE KEY", "SM2 PRIVATE KEY"):
            ec = asn1_keys.ECPrivateKey.load(der)
            curve = ec["parameters"].chosen.native if ec["parameters"].name == "named" else ""
        elif kind == "PRIVATE KEY":
            info = asn1_keys.PrivateKeyInfo.load(der)
            alg = info["private_key_algorithm"]
            if alg["algorithm"].native != "ec":
                return None
            params = alg["parameters"]
            curve = params.chosen.native if params.name == "named" else ""
            ec = info["private_key"].parsed
        else:
            return None
        if curve not in (SM2_CURVE_OID, "sm2"):
            return None
        scalar = int(ec["private_key"].native)
    except (ValueError, TypeError, KeyError):
        return None
    return scalar if 0 < scalar < _SM2_N else None


def configured_key() -> SigningKey | None:
    path = signing_key_path()
    return signing_key_load(path) if path else None


def sign_digest(digest: str, *, key: SigningKey | None = None) -> dict[str, str] | None:
    """A signature over `digest` (the register's hex digest, signed as its ASCII text) with
    `key` or the configured key; None when no key is configured."""
    key = key or configured_key()
    if key is None:
        return None
    message = digest.encode("ascii")
    if key.algorithm == SM2_ALGORITHM:
        signer = sm2.CryptSM2(private_key=key.private, public_key=key.public_pem[2:], asn1=False)
        # gmssl's sign needs a fresh random k per signature
        value = bytes.fromhex(_sm2_sign(signer, message))
    else:
        value = key.private.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return {"algorithm": key.algorithm, "digest": digest,
            "signature": base64.b64encode(value).decode(), "public_key": key.public_pem,
            "key_fingerprint": key.fingerprint}


def _sm2_sign(signer: sm2.CryptSM2, message: bytes) -> str:
    # gmssl's sign_with_sm3 draws k from `random` (not a CSPRNG); sign with a k from `secrets`,
    # over e = SM3(Z‖M) as sign_with_sm3 would.
    from kjda.formats.ofd.crypto import sm2_za, sm3_digest

    pub = signer.public_key
    z = sm2_za(int(pub[:64], 16), int(pub[64:128], 16))
    e = sm3_digest(z + message)
    while True:
        k = f"{secrets.randbelow(_SM2_N - 1) + 1:064x}"
        sig = signer.sign(e, k)
        if sig:
            return str(sig)


def verify_digest(digest: str, signature: dict[str, str]) -> bool:
    """Whether `signature` (as `sign_digest` returned it) is a valid signature over `digest`
    by the public key it names."""
    if not signature or signature.get("digest") not in (None, digest):
        return False
    try:
        value = base64.b64decode(signature["signature"], validate=True)
        algorithm, public = signature["algorithm"], signature["public_key"]
    except (KeyError, ValueError, TypeError):
        return False
    message = digest.encode("ascii")
    if algorithm == SM2_ALGORITHM:
        try:
            return sm2_verify(bytes.fromhex(public), message, value)
        except ValueError:
            return False
    if algorithm in (RSA_ALGORITHM, RSA_PSS_ALGORITHM):
        scheme: padding.AsymmetricPadding = padding.PKCS1v15()
        if algorithm == RSA_PSS_ALGORITHM:
            scheme = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
        try:
            key = serialization.load_pem_public_key(public.encode())
            if not isinstance(key, rsa.RSAPublicKey):
                return False
            key.verify(value, message, scheme, hashes.SHA256())
        except (InvalidSignature, ValueError, UnsupportedAlgorithm):
            return False
        return True
    return False
