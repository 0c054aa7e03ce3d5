"""Signatures over a register's digest with an SM2 or an RSA key (KJDA_REGISTER_SIGNING_KEY)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kjda.errors import DomainError
from kjda.lifecycle.signing import (
    RSA_ALGORITHM,
    SM2_ALGORITHM,
    configured_key,
    sign_digest,
    signing_key_load,
    verify_digest,
)

DIGEST = "3f" * 32


def _sm2_pem(tmp_path: Path) -> Path:
    path = tmp_path / "sm2.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "SM2", "-out", str(path)], check=True,
                   capture_output=True)
    return path


def _rsa_pem(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "rsa.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


@pytest.mark.parametrize(("make", "algorithm"), [(_sm2_pem, SM2_ALGORITHM),
                                                 (_rsa_pem, RSA_ALGORITHM)])
def test_a_signature_verifies_and_a_tampered_digest_or_signature_does_not(tmp_path, make,
                                                                          algorithm):
    key = signing_key_load(make(tmp_path))
    assert key.algorithm == algorithm
    sig = sign_digest(DIGEST, key=key)
    assert sig is not None and sig["algorithm"] == algorithm and sig["key_fingerprint"]
    assert verify_digest(DIGEST, sig)
    tampered = "40" + DIGEST[2:]
    assert not verify_digest(tampered, sig)
    assert not verify_digest(tampered, {**sig, "digest": tampered})  # the value itself fails
    raw = bytearray(__import__("base64").b64decode(sig["signature"]))
    raw[-1] ^= 1
    forged = {**sig, "signature": __import__("base64").b64encode(bytes(raw)).decode()}
    assert not verify_digest(DIGEST, forged)


def test_an_sm2_key_in_sec1_form_is_recognised(tmp_path):
    pkcs8 = _sm2_pem(tmp_path)
    sec1 = tmp_path / "sec1.pem"
    subprocess.run(["openssl", "ec", "-in", str(pkcs8), "-out", str(sec1)], check=True,
                   capture_output=True)
    a, b = signing_key_load(pkcs8), signing_key_load(sec1)
    assert a.algorithm == b.algorithm == SM2_ALGORITHM and a.public_pem == b.public_pem
    assert verify_digest(DIGEST, sign_digest(DIGEST, key=b))


def test_the_configured_key_signs_and_no_key_means_no_signature(tmp_path, settings):
    settings.KJDA_REGISTER_SIGNING_KEY = ""
    assert configured_key() is None and sign_digest(DIGEST) is None
    settings.KJDA_REGISTER_SIGNING_KEY = str(_rsa_pem(tmp_path))
    assert verify_digest(DIGEST, sign_digest(DIGEST))


def test_other_keys_are_refused(tmp_path):
    p256 = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "p256.pem"
    path.write_bytes(p256.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
    with pytest.raises(DomainError) as exc:
        signing_key_load(path)
    assert exc.value.code == "signing_key_algorithm"
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(DomainError):
        signing_key_load(tmp_path / "junk.pem")
    with pytest.raises(DomainError):
        signing_key_load(tmp_path / "missing.pem")


def test_an_rsa_signature_is_pkcs1_v15_and_an_earlier_rsa_pss_one_still_verifies(tmp_path):
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    key = signing_key_load(_rsa_pem(tmp_path))
    sig = sign_digest(DIGEST, key=key)
    assert sig is not None and sig["algorithm"] == "RSA-SHA256"
    key.private.public_key().verify(base64.b64decode(sig["signature"]), DIGEST.encode("ascii"),
                                    padding.PKCS1v15(), hashes.SHA256())
    pss = key.private.sign(DIGEST.encode("ascii"),
                           padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                       salt_length=padding.PSS.MAX_LENGTH), hashes.SHA256())
    old = {**sig, "algorithm": "RSA-PSS-SHA256", "signature": base64.b64encode(pss).decode()}
    assert verify_digest(DIGEST, old)
    assert not verify_digest(DIGEST, {**old, "algorithm": "RSA-SHA256"})
