"""Standard Webhooks signatures (oa-protocols.md §5.2), shared by the generic webhook and the
Weaver e-cology Action push, inbound (verify) and outbound (sign).

    webhook-id:        a message id (the same on every retry of one message)
    webhook-timestamp: unix seconds
    webhook-signature: "v1,<base64(HMAC-SHA256(key, f'{id}.{timestamp}.{body}'))>" [ space "v1,…" ]*

The secret is "whsec_" + base64(key). A secret without that prefix is accepted too: it is tried
as the raw UTF-8 bytes of the text (what a hand-written `javax.crypto.Mac` over
`secret.getBytes(UTF_8)` does) and, when it is valid base64, as its decoded bytes (what the
`standardwebhooks` libraries do with an unprefixed secret). During a rotation the setting may
hold two secrets separated by a space or a comma; a signature by either is accepted.

Verification runs over the exact bytes received, before anything is parsed; digests are
compared in constant time; |now - timestamp| > 300 s is refused as stale.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets as _secrets
import time

from kjda.connectors.base import CallbackRejected

PREFIX = "whsec_"
TOLERANCE = 300  # seconds, either way


def _now() -> float:  # patched by tests that pin the clock
    return time.time()


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def split_secrets(value: str) -> list[str]:
    """One secret, or two during a rotation ("whsec_a whsec_b" or "whsec_a,whsec_b")."""
    return [s for s in re.split(r"[\s,]+", value or "") if s]


def verification_keys(secret: str) -> list[bytes]:
    """The HMAC keys a secret stands for (see the module doc)."""
    if secret.startswith(PREFIX):
        key = _b64(secret[len(PREFIX):])
        return [key] if key else [secret.encode()]
    keys = [secret.encode()]
    decoded = _b64(secret)
    if decoded and decoded not in keys:
        keys.append(decoded)
    return keys


def signing_key(secret: str) -> bytes:
    """The key we sign with: the decoded "whsec_" key, else the raw UTF-8 text."""
    secret = split_secrets(secret)[0]
    if secret.startswith(PREFIX):
        key = _b64(secret[len(PREFIX):])
        if key:
            return key
    return secret.encode()


def _digest(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    return hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def sign(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The `webhook-signature` value ("v1,<base64>") for one message."""
    digest = _digest(signing_key(secret), msg_id, str(timestamp), body)
    return "v1," + base64.b64encode(digest).decode()


def new_message_id() -> str:
    return "msg_" + _secrets.token_urlsafe(18)


def signed_headers(secret: str, body: bytes, *, msg_id: str | None = None,
                   timestamp: int | None = None) -> dict[str, str]:
    msg_id = msg_id or new_message_id()
    timestamp = int(_now()) if timestamp is None else timestamp
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, msg_id, timestamp, body)}


def _malformed(zh: str, en: str) -> CallbackRejected:
    return CallbackRejected("malformed", zh, en, status=400)


def _parse_signatures(header: str) -> list[bytes]:
    """The v1 signatures of the header; other versions (e.g. v1a) are skipped."""
    parsed = [token.split(",", 1) for token in header.split() if "," in token]
    if not parsed:
        raise _malformed("webhook-signature 格式不正确", "webhook-signature is malformed")
    return [sig for version, value in parsed if version == "v1" and (sig := _b64(value))]


def verify(secret_setting: str, headers: dict[str, str], body: bytes, *,
           now: float | None = None, tolerance: int = TOLERANCE) -> str:
    """Verify one delivery; return its webhook-id (the replay key). `headers` has lower-case
    names. Missing or malformed headers → 400; stale → 401 "stale"; no match → 401."""
    msg_id = headers.get("webhook-id", "").strip()
    timestamp = headers.get("webhook-timestamp", "").strip()
    header = headers.get("webhook-signature", "").strip()
    if not (msg_id and timestamp and header):
        raise _malformed("缺少 webhook-id / webhook-timestamp / webhook-signature 头",
                         "missing webhook-id / webhook-timestamp / webhook-signature header")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise _malformed("webhook-timestamp 不是 Unix 秒", "webhook-timestamp is not unix seconds")
    offered = _parse_signatures(header)
    current = _now() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        raise CallbackRejected("stale", "回调时间戳超出允许范围（±5 分钟）",
                               "callback timestamp outside the ±5 minute window", status=401)
    matched = False
    for secret in split_secrets(secret_setting):
        for key in verification_keys(secret):
            expected = _digest(key, msg_id, timestamp, body)
            for sig in offered:
                # no early exit: every candidate is compared, each in constant time
                matched |= hmac.compare_digest(expected, sig)
    if not matched:
        raise CallbackRejected("bad_signature", "回调签名校验失败", "callback signature mismatch",
                               status=401)
    return msg_id
