"""The audit log's HMAC keys: kept outside the database (settings.KJDA_AUDIT_KEY, from the
environment or KJDA_DATA_DIR/audit_key), so that whoever can write the database cannot compute
a valid chain hash or checkpoint signature.

Each key is known by a key id (16 hex digits derived from the key, safe to store and show), kept
in every event and checkpoint, so that after a rotation the older events are verified with the
key they were written with (settings.KJDA_AUDIT_OLD_KEYS). The chain and the checkpoints use two
keys derived from the one secret (HMAC-SHA256 of a label), so that a value of one kind can never
pass as the other.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass, field

from django.conf import settings


@dataclass(frozen=True)
class AuditKey:
    key_id: str
    chain_key: bytes = field(repr=False)
    checkpoint_key: bytes = field(repr=False)

    def chain_mac(self, payload: bytes) -> str:
        mac = _mac_base(self.chain_key).copy()  # the key's pads are hashed once, not per event
        mac.update(payload)
        return mac.hexdigest()

    def checkpoint_mac(self, payload: bytes) -> str:
        return hmac.new(self.checkpoint_key, payload, hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=16)
def _mac_base(key: bytes) -> hmac.HMAC:
    return hmac.new(key, digestmod=hashlib.sha256)


@functools.lru_cache(maxsize=16)
def _key_from_secret(secret: str) -> AuditKey:
    raw = secret.encode("utf-8")
    key_id = hashlib.sha256(b"kjda-audit-key-id\x00" + raw).hexdigest()[:16]
    return AuditKey(
        key_id=key_id,
        chain_key=hmac.new(raw, b"kjda-audit-chain-v2", hashlib.sha256).digest(),
        checkpoint_key=hmac.new(raw, b"kjda-audit-checkpoint-v1", hashlib.sha256).digest(),
    )


def audit_key_current() -> AuditKey:
    """The key new events and checkpoints are written with."""
    return _key_from_secret(settings.KJDA_AUDIT_KEY)


def audit_key_by_id(key_id: str) -> AuditKey | None:
    """The current or a retired key with this id, or None when it is not configured."""
    current = audit_key_current()
    if current.key_id == key_id:
        return current
    for secret in settings.KJDA_AUDIT_OLD_KEYS:
        key = _key_from_secret(secret)
        if key.key_id == key_id:
            return key
    return None


def audit_key_id(secret: str) -> str:
    """The id a key is known by (shown by `kjda audit rotate-key`, stored with each event)."""
    return _key_from_secret(secret).key_id


def audit_key_known_to_database() -> bool:
    """Whether this process knows the key the newest audit event was written with (True on an
    empty log): a node started with another key would fork the chain (kjda.preservation.cluster)."""
    from kjda.audit.models import AuditEvent

    key_id = (AuditEvent.objects.exclude(key_id=None).order_by("-seq")
              .values_list("key_id", flat=True).first())
    return key_id is None or audit_key_by_id(key_id) is not None
