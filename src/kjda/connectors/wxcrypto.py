"""The "WXBizMsgCrypt" callback crypto shared by WeCom and DingTalk (oa-protocols.md §0).

key = base64(EncodingAESKey + "="), iv = key[:16], AES-256-CBC without library padding;
plaintext = random16 || uint32_be(len(msg)) || msg || owner_id, PKCS#7-padded to 32 bytes;
signature = sha1 hex of the lexicographically sorted [token, timestamp, nonce, encrypt].
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from kjda.connectors.base import CallbackRejected

BLOCK = 32


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypt])).encode()).hexdigest()  # noqa: S324 - the vendors' algorithm


class WXBizMsgCrypt:
    def __init__(self, *, token: str, encoding_aes_key: str, owner_id: str) -> None:
        try:
            self.key = base64.b64decode(encoding_aes_key + "=")
        except (binascii.Error, ValueError) as exc:
            raise ValueError("EncodingAESKey must be 43 base64 characters") from exc
        if len(self.key) != 32:
            raise ValueError("EncodingAESKey must decode to 32 bytes")
        self.token = token
        self.owner_id = owner_id

    def verify(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        expected = signature(self.token, timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected, (msg_signature or "").lower()):
            raise CallbackRejected("bad_signature", "回调签名校验失败", "callback signature mismatch")

    def decrypt(self, encrypt: str) -> bytes:
        try:
            # The DingTalk Python sample wraps base64 at 76 chars: decode leniently.
            raw = base64.b64decode("".join(encrypt.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise CallbackRejected("bad_ciphertext", "密文不是合法的 base64",
                                   "ciphertext is not valid base64", status=400) from exc
        if not raw or len(raw) % 16:
            raise CallbackRejected("bad_ciphertext", "密文长度不正确", "ciphertext length invalid",
                                   status=400)
        decryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).decryptor()
        plain = decryptor.update(raw) + decryptor.finalize()
        pad = plain[-1]
        if pad < 1 or pad > BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise CallbackRejected("bad_padding", "解密后填充不正确", "bad padding after decryption",
                                   status=400)
        content = plain[16:-pad]
        if len(content) < 4:
            raise CallbackRejected("bad_plaintext", "明文过短", "plaintext too short", status=400)
        (length,) = struct.unpack(">I", content[:4])
        msg, owner = content[4:4 + length], content[4 + length:]
        if len(msg) != length:
            raise CallbackRejected("bad_plaintext", "明文长度字段不符", "plaintext length mismatch",
                                   status=400)
        if not hmac.compare_digest(owner, self.owner_id.encode()):
            raise CallbackRejected("wrong_owner", "回调不属于本企业/应用（owner id 不符）",
                                   "callback is for another corp/app (owner id mismatch)",
                                   status=403)
        return msg

    def verify_and_decrypt(self, msg_signature: str, timestamp: str, nonce: str,
                           encrypt: str) -> bytes:
        self.verify(msg_signature, timestamp, nonce, encrypt)
        return self.decrypt(encrypt)

    def encrypt(self, msg: bytes, *, random16: bytes | None = None) -> str:
        random16 = random16 if random16 is not None else os.urandom(16)
        plain = random16 + struct.pack(">I", len(msg)) + msg + self.owner_id.encode()
        pad = BLOCK - len(plain) % BLOCK
        plain += bytes([pad]) * pad
        encryptor = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    def encrypt_and_sign(self, msg: bytes, *, timestamp: str, nonce: str,
                         random16: bytes | None = None) -> tuple[str, str]:
        encrypt = self.encrypt(msg, random16=random16)
        return encrypt, signature(self.token, timestamp, nonce, encrypt)
