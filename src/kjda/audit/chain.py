"""The audit chain's hash: how an event is serialised and hashed, so that anyone can recompute it.

Each event's `hash` is the lowercase hex SHA-256 of the UTF-8 bytes of this JSON object:

    {"action": str, "actor_id": int | null, "actor_name": str, "detail": object,
     "ip": str | null, "object_id": str, "object_type": str, "occurred_at": str,
     "outcome": "success" | "failure" | "denied", "prev_hash": str, "seq": int,
     "user_agent": str}

serialised as Python writes it with
`json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)`:
keys sorted by code point at every level (including inside `detail`), no whitespace, non-ASCII
characters written as themselves (not `\\uXXXX`), control characters, `"` and `\\` escaped as
JSON requires, floats in Python's shortest round-trip form.

- `occurred_at`: UTC, ISO 8601 with microseconds and offset, e.g. `2025-03-01T08:15:02.123456+00:00`.
- `actor_id`: the user's primary key, or null when there is no authenticated actor.
- `ip`: the canonical text of the address (IPv4 dotted quad; IPv6 compressed lowercase as
  RFC 5952; an IPv4-mapped IPv6 address as its IPv4 address), or null.
- `detail`: the stored JSON object exactly as read back from the database.
- `prev_hash`: the previous event's `hash`; the first event (seq 1) uses 64 zeros.

Reproducing it outside KJDA (Python), given one row of `audit_auditevent` as a dict:

    payload = {k: row[k] for k in ("seq", "actor_id", "actor_name", "action", "object_type",
               "object_id", "outcome", "ip", "user_agent", "detail", "prev_hash")}
    payload["occurred_at"] = row["occurred_at"].astimezone(timezone.utc).isoformat(
        timespec="microseconds")
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == row["hash"]

Values are normalised before they are stored (below) so that what is hashed is exactly what both
SQLite and PostgreSQL give back: PostgreSQL rejects NUL in text and rewrites jsonb numbers and
inet addresses in its own canonical form.

Keyed events (chain version 2, every event written since the audit key exists): the row's
`key_id` is not null, the object above has one more member `"key_id": str`, and `hash` is the
lowercase hex HMAC-SHA256 of those bytes under the chain key derived from the audit key with that
id (`keys.py`: HMAC-SHA256(secret, "kjda-audit-chain-v2")). Without the key nobody can compute
a valid hash, so an edited event cannot be hidden by recomputing the chain after it. Events
written before (key_id null) keep their plain SHA-256; a log is an unkeyed prefix followed by a
keyed suffix, never the other way round.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from kjda.audit.keys import AuditKey

GENESIS_HASH = "0" * 64

# Model attnames that enter the hash, in the order the docstring lists them.
HASHED_FIELDS = (
    "seq", "occurred_at", "actor_id", "actor_name", "action", "object_type", "object_id",
    "outcome", "ip", "user_agent", "detail", "prev_hash",
)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def event_payload(row: Mapping[str, Any]) -> bytes:
    """The exact bytes that are hashed for one event (see the module docstring)."""
    payload = {name: row[name] for name in HASHED_FIELDS}
    occurred_at: datetime = row["occurred_at"]
    payload["occurred_at"] = occurred_at.astimezone(UTC).isoformat(timespec="microseconds")
    actor_id = payload["actor_id"]
    if actor_id is not None and not isinstance(actor_id, int):
        payload["actor_id"] = str(actor_id)  # UUID primary keys hash as their text
    payload["ip"] = ip_normalise(payload["ip"])
    if row.get("key_id"):
        payload["key_id"] = row["key_id"]
    return canonical_json(payload).encode("utf-8")


def event_hash(row: Mapping[str, Any]) -> str:
    """The unkeyed hash of an event written before the audit key existed (key_id null)."""
    return hashlib.sha256(event_payload(row)).hexdigest()


def event_mac(row: Mapping[str, Any], key: AuditKey) -> str:
    """The keyed hash of an event whose key_id is `key.key_id`."""
    return key.chain_mac(event_payload(row))


def text_clean(value: object, max_length: int) -> str:
    """Text as every database stores it: no NUL (PostgreSQL refuses it), no lone surrogates
    (not encodable as UTF-8), at most `max_length` characters."""
    text = "" if value is None else str(value)
    text = text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return text[:max_length]


def ip_normalise(value: object) -> str | None:
    """Canonical address text, or None for a missing or malformed address (a bad
    X-Forwarded-For must not break logging)."""
    if value is None or value == "":
        return None
    try:
        address = ipaddress.ip_address(str(value).strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def detail_normalise(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """Plain JSON data that survives a round trip through SQLite JSON text and PostgreSQL jsonb
    unchanged: Decimal, date, UUID become strings (DjangoJSONEncoder), keys become strings."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError("audit detail must be a mapping")
    plain = json.loads(json.dumps(dict(value), cls=DjangoJSONEncoder, allow_nan=False))
    return _json_fix(plain)


def _json_fix(value: Any) -> Any:
    if isinstance(value, str):
        return text_clean(value, len(value))
    if isinstance(value, float):
        # jsonb prints numbers without exponent: 1e16 comes back as the integer 10000000000000000
        # and -0.0 as 0.0; store them in that form so the hash survives the round trip.
        if value == 0:
            return 0.0
        if value.is_integer() and abs(value) >= 1e16:
            return int(value)
        return value
    if isinstance(value, list):
        return [_json_fix(item) for item in value]
    if isinstance(value, dict):
        return {text_clean(k, len(k)): _json_fix(v) for k, v in value.items()}
    return value
