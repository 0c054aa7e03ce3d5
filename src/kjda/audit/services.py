"""Writing the audit log and verifying its hash chain."""

from __future__ import annotations

import hmac
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from kjda.audit.chain import (
    GENESIS_HASH,
    HASHED_FIELDS,
    detail_normalise,
    event_hash,
    event_mac,
    ip_normalise,
    text_clean,
)
from kjda.audit.keys import audit_key_by_id, audit_key_current
from kjda.audit.models import AuditChainHead, AuditEvent, Outcome
from kjda.db.insert import rows_insert
from kjda.errors import DomainError

_OUTCOMES = frozenset(Outcome.values)  # (Choices.values builds a new list on every access)


class AuditChainHeadMissing(DomainError):
    status = 500

    def __init__(self) -> None:
        super().__init__("audit_head_missing", "审计链头缺失而审计事件存在，审计链已被篡改",
                         "the audit chain head is missing while events exist: tampering")


def audit_log(
    *,
    action: str,
    actor: AbstractBaseUser | AnonymousUser | None = None,
    request: HttpRequest | None = None,
    object_type: str = "",
    object_id: str | int = "",
    outcome: str = Outcome.SUCCESS,
    detail: Mapping[str, Any] | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    actor_name: str | None = None,
) -> AuditEvent:
    """Append one event to the chain and return it.

    `request` supplies the IP (REMOTE_ADDR, or X-Forwarded-For when settings.KJDA_TRUST_PROXY),
    the user agent and, when `actor` is not given, the authenticated request.user; explicit
    `ip`/`user_agent` win. `actor_name` names an actor who has no account row (e.g. the
    username tried in a failed login); with an actor it is ignored in favour of the snapshot.

    Runs in `transaction.atomic()`, so inside a caller's transaction the event commits or rolls
    back with the audited write. Note: an event logged inside a transaction that then rolls back
    is gone as well; log failures and denials outside the failing transaction.
    """
    if outcome not in _OUTCOMES:
        raise ValueError(f"unknown audit outcome: {outcome!r}")
    if request is not None:
        if ip is None:
            ip = _client_ip(request)
        if user_agent is None:
            user_agent = request.META.get("HTTP_USER_AGENT", "")
        if actor is None:
            actor = getattr(request, "user", None)
    user = actor if isinstance(actor, AbstractBaseUser) and actor.is_authenticated else None

    row: dict[str, Any] = {
        "actor_id": user.pk if user is not None else None,
        "actor_name": text_clean(user.get_username() if user is not None else actor_name, 150),
        "action": text_clean(action, 64),
        "object_type": text_clean(object_type, 64),
        "object_id": text_clean(object_id, 255),
        "outcome": str(outcome),
        "ip": ip_normalise(ip),
        "user_agent": text_clean(user_agent, 512),
        "detail": detail_normalise(detail),
    }
    if not row["action"]:
        raise ValueError("audit action is required")

    key = audit_key_current()
    row["key_id"] = key.key_id
    # Inside a caller's transaction no savepoint: a failure here fails the audited write too.
    conn = transaction.get_connection()
    with transaction.atomic(savepoint=not conn.in_atomic_block):
        last_seq, last_hash = _head_for_update()
        row["seq"] = last_seq + 1
        row["prev_hash"] = last_hash
        # Stamped under the lock, so time never runs backwards along the chain.
        row["occurred_at"] = timezone.now()
        digest = event_mac(row, key)
        event = AuditEvent(**row, hash=digest)
        rows_insert([event], using=conn.alias)  # insert-only, its SQL built once
        with conn.cursor() as cur:
            cur.execute("UPDATE audit_auditchainhead SET last_seq = %s, last_hash = %s "
                        "WHERE id = %s", [row["seq"], digest, AuditChainHead.SINGLETON_ID])
    return event


def _client_ip(request: HttpRequest) -> str | None:
    trust = getattr(settings, "KJDA_TRUST_PROXY", False)
    if trust:
        # Each trusted proxy appends the address it saw, and a client can prepend anything, so
        # with n proxies the client is the n-th entry from the right (True means one proxy).
        hops_trusted = int(trust) if str(trust).isdigit() and int(trust) > 0 else 1
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [h for h in hops if h]
        if len(hops) >= hops_trusted and (ip := ip_normalise(hops[-hops_trusted])):
            return ip
    return ip_normalise(request.META.get("REMOTE_ADDR"))


def _head_for_update() -> tuple[int, str]:
    """(last seq, last hash), locked until the transaction ends. Plain SQL: every request that
    writes also writes an audit event. On SQLite, BEGIN IMMEDIATE already holds the lock."""
    conn = transaction.get_connection()
    lock = " FOR UPDATE" if conn.features.has_select_for_update else ""
    with conn.cursor() as cur:
        cur.execute("SELECT last_seq, last_hash FROM audit_auditchainhead WHERE id = %s" + lock,  # noqa: S608 - fixed SQL
                    [AuditChainHead.SINGLETON_ID])
        found = cur.fetchone()
    if found is not None:
        return found[0], found[1]
    # First event ever (or a flushed test database); ON CONFLICT DO NOTHING lets racing first
    # writers both get past this line, and the lock below then orders them.
    AuditChainHead.objects.bulk_create(
        [AuditChainHead(id=AuditChainHead.SINGLETON_ID, last_seq=0, last_hash=GENESIS_HASH)],
        ignore_conflicts=True,
    )
    head = AuditChainHead.objects.select_for_update().get(pk=AuditChainHead.SINGLETON_ID)
    if head.last_seq == 0 and AuditEvent.objects.exists():
        # A deleted head must not restart the chain at #1 over the existing events.
        raise AuditChainHeadMissing
    return head.last_seq, head.last_hash


@dataclass(frozen=True)
class ChainVerification:
    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str
    unkeyed: int = 0  # events written before the chain was keyed (plain SHA-256)
    checkpoint_seq: int | None = None  # the latest signed checkpoint, when there is one
    checkpoint_at: str | None = None
    covered: int = 0  # events the checkpoint vouches for (#1 … #checkpoint_seq)
    after: int = 0  # events after it, which only the keyed chain and the head protect


@dataclass(frozen=True)
class CheckpointMark:
    """What the walk checks against a checkpoint: the event #seq has this hash, and no event
    after #legacy_until is unkeyed."""

    seq: int
    hash: str
    legacy_until: int


_VERIFY_FIELDS = (*HASHED_FIELDS, "key_id", "hash")


def events_after(
    seq: int, batch_size: int, *, until: int | None = None
) -> Iterator[dict[str, Any]]:
    # Keyset pagination on the unique seq index: constant memory, no long-lived cursor.
    while True:
        qs = AuditEvent.objects.filter(seq__gt=seq).order_by("seq")
        if until is not None:
            qs = qs.filter(seq__lte=until)
        batch = list(qs.values(*_VERIFY_FIELDS)[:batch_size])
        yield from batch
        if len(batch) < batch_size:
            return
        seq = batch[-1]["seq"]


class ChainWalker:
    """Checks events in seq order: numbering, each hash (keyed or, before the key, plain), the
    link to the previous event, and the checkpoint `mark` when passing it. It may start after
    a checkpoint (`start`: seq and hash of the event there) to check only what follows."""

    def __init__(self, *, mark: CheckpointMark | None = None,
                 start: tuple[int, str] | None = None) -> None:
        self.last_seq, self.prev_hash = start or (0, GENESIS_HASH)
        self.checked = 0
        self.unkeyed = 0
        self.mark = mark
        self.mark_hash: str | None = None
        # Resuming after a checkpoint: the events there were keyed unless it says otherwise.
        self.keyed_seen = start is not None and (mark is None or mark.legacy_until < start[0])
        self._keys: dict[str, Any] = {}

    def walk(self, rows: Iterator[dict[str, Any]]) -> ChainVerification | None:
        for row in rows:
            seq = row["seq"]
            expected = self.last_seq + 1
            if seq > expected:
                return self.fail(expected, f"事件 #{expected} 缺失（被删除） / event #{expected} "
                                           f"missing (removed)")
            if seq < expected:
                return self.fail(seq, f"事件 #{seq} 重复（被插入） / event #{seq} duplicated "
                                      f"(inserted)")
            fault = self._hash_fault(row)
            if fault:
                return self.fail(seq, fault)
            if row["prev_hash"] != self.prev_hash:
                return self.fail(
                    seq,
                    f"事件 #{seq} 的前序哈希与事件 #{seq - 1} 不符（其前有事件被删除、插入或替换） / "
                    f"event #{seq} prev_hash does not match event #{seq - 1} (an event before it "
                    f"was removed, inserted or replaced)",
                )
            if self.mark is not None and seq == self.mark.seq:
                self.mark_hash = row["hash"]
                if row["hash"] != self.mark.hash:
                    return self.fail(
                        seq, f"事件 #{seq} 的哈希与签名检查点不符（检查点之前的日志被改写） / event "
                             f"#{seq} hash differs from signed checkpoint {seq} (the log up to "
                             f"the checkpoint was rewritten)")
            self.last_seq = seq
            self.prev_hash = row["hash"]
            self.checked += 1
        return None

    def _hash_fault(self, row: dict[str, Any]) -> str | None:
        seq, key_id = row["seq"], row["key_id"]
        if not key_id:
            if self.keyed_seen or (self.mark is not None and seq > self.mark.legacy_until):
                return (f"事件 #{seq} 无密钥哈希，但审计链此前已启用密钥（被降级改写） / event #{seq} "
                        f"has an unkeyed hash where the chain is keyed (rewritten without the key)")
            if event_hash(row) != row["hash"]:
                return f"事件 #{seq} 的哈希不符（内容被修改） / event #{seq} hash mismatch (altered)"
            self.unkeyed += 1
            return None
        self.keyed_seen = True
        if key_id not in self._keys:
            self._keys[key_id] = audit_key_by_id(key_id)
        key = self._keys[key_id]
        if key is None:
            return (f"事件 #{seq} 使用未知的审计密钥 {key_id}（轮换后请在 KJDA_AUDIT_OLD_KEYS 中保留旧"
                    f"密钥） / event #{seq} names audit key {key_id}, which is not configured "
                    f"(keep retired keys in KJDA_AUDIT_OLD_KEYS)")
        if not hmac.compare_digest(event_mac(row, key), row["hash"]):
            return f"事件 #{seq} 的哈希不符（内容被修改） / event #{seq} hash mismatch (altered)"
        return None

    def fail(self, seq: int | None, reason: str) -> ChainVerification:
        return ChainVerification(ok=False, checked=self.checked, first_bad_seq=seq, reason=reason,
                                 unkeyed=self.unkeyed)

    def result_ok(self, *, checkpoint_at: str | None = None) -> ChainVerification:
        text = (f"审计链完整，已校验 {self.checked} 个事件 / audit chain intact, "
                f"{self.checked} events verified")
        if self.unkeyed:
            text += (f"；其中 {self.unkeyed} 个为启用密钥前的事件 / ({self.unkeyed} written before "
                     f"the chain was keyed)")
        mark = self.mark
        if mark is None:
            return ChainVerification(
                ok=True, checked=self.checked, first_bad_seq=None, unkeyed=self.unkeyed,
                reason=text + "；尚无签名检查点 / no signed checkpoint yet")
        after = self.last_seq - mark.seq
        return ChainVerification(
            ok=True, checked=self.checked, first_bad_seq=None, unkeyed=self.unkeyed,
            checkpoint_seq=mark.seq, checkpoint_at=checkpoint_at, covered=mark.seq, after=after,
            reason=text + (f"；签名检查点 #{mark.seq}（{checkpoint_at}）覆盖 {mark.seq} 个，其后 "
                           f"{after} 个 / {mark.seq} covered by signed checkpoint {mark.seq} "
                           f"({checkpoint_at}), {after} after it"),
        )
