"""Signed checkpoints of the audit chain, kept outside the database in the write-once blob store.

A checkpoint says "the audit log had `count` events, the newest #`seq` with chain hash `hash`";
it is signed with an HMAC-SHA256 under the checkpoint key derived from the audit key (`keys.py`)
and stored once under `checkpoints/audit-<seq>.json` (local folder: read-only file created with
link(2), never replaced; S3: a conditional PUT, under Object Lock where the bucket has it).
`audit_chain_verify` checks the chain against the latest one, so removing the newest events
together with the chain head, or rewriting the log before the checkpoint, is detected.

Why an HMAC and not a public-key signature: the threat is someone who can write the database
but not read the server's key file or environment; the verifier runs on the server with the
audit key anyway (the chain itself is keyed), so a key pair would add a second secret to keep
and rotate without making either harder to forge for that attacker.

Written by the periodic loop every KJDA_AUDIT_CHECKPOINT_MINUTES when there are new events, at
`kjda serve` start and shutdown, and by `kjda audit checkpoint`. Before writing, the events since
the previous checkpoint are verified from it: a log that was cut and then grew again past the
old checkpoint is refused (and the refusal logged and audited), not blessed.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import asdict, dataclass

from django.conf import settings
from django.utils import timezone

from kjda.audit.chain import canonical_json
from kjda.audit.keys import audit_key_by_id, audit_key_current
from kjda.audit.models import AuditChainHead, AuditEvent, Outcome
from kjda.audit.services import ChainWalker, CheckpointMark, audit_log, events_after
from kjda.errors import DomainError
from kjda.storage.services import checkpoint_get, checkpoint_put, checkpoints_list

log = logging.getLogger(__name__)

FORMAT = "kjda-audit-checkpoint/1"
_PREFIX = "audit-"
_NAME = re.compile(r"^audit-(\d{15})\.json$")


class CheckpointInvalid(DomainError):
    status = 500

    def __init__(self, name: str, why_zh: str, why_en: str) -> None:
        super().__init__("audit_checkpoint_invalid",
                         f"审计检查点 {name} 无效（{why_zh}），检查点或日志已被篡改",
                         f"audit checkpoint {name} is invalid ({why_en}): tampering")


class AuditTampered(DomainError):
    status = 500

    def __init__(self, reason: str) -> None:
        super().__init__("audit_tampered", f"审计日志已被篡改，不写检查点：{reason}",
                         f"the audit log was tampered with, no checkpoint written: {reason}")


@dataclass(frozen=True)
class Checkpoint:
    seq: int  # the newest event covered
    hash: str  # its chain hash
    count: int  # events covered (#1 … #seq: the numbering has no gaps)
    key_id: str  # the audit key it is signed with
    legacy_until: int  # the last event written before the chain was keyed (0: none)
    written_at: str

    @property
    def name(self) -> str:
        return f"{_PREFIX}{self.seq:015d}.json"


def _signed(cp: Checkpoint) -> bytes:
    key = audit_key_by_id(cp.key_id)
    assert key is not None
    body = {"format": FORMAT, **asdict(cp)}
    body["signature"] = key.checkpoint_mac(canonical_json(body).encode("utf-8"))
    return (canonical_json(body) + "\n").encode("utf-8")


def checkpoint_parse(name: str, data: bytes) -> Checkpoint:
    """The checkpoint in `data`, its signature checked; CheckpointInvalid otherwise."""
    try:
        body = json.loads(data)
        signature = body.pop("signature")
        if body.pop("format") != FORMAT:
            raise ValueError
        cp = Checkpoint(**body)
    except (ValueError, TypeError, KeyError, AttributeError):
        raise CheckpointInvalid(name, "格式不符", "malformed") from None
    key = audit_key_by_id(cp.key_id)
    if key is None:
        raise CheckpointInvalid(name, f"未知的审计密钥 {cp.key_id}",
                                f"signed with unknown audit key {cp.key_id}")
    expected = key.checkpoint_mac(canonical_json({"format": FORMAT, **asdict(cp)}).encode())
    if not isinstance(signature, str) or not _same(signature, expected):
        raise CheckpointInvalid(name, "签名不符", "bad signature")
    if cp.name != name or cp.count != cp.seq:
        raise CheckpointInvalid(name, "名称或计数与内容不符", "name or count does not match")
    return cp


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


def audit_checkpoint_latest() -> Checkpoint | None:
    """The newest checkpoint in the store (highest seq), verified; None when there is none."""
    names = [n for n in checkpoints_list(prefix=_PREFIX) if _NAME.match(n)]
    if not names:
        return None
    name = max(names)
    return checkpoint_parse(name, checkpoint_get(name=name))


def audit_checkpoint_write(*, only_if_new: bool = True) -> Checkpoint | None:
    """Sign the chain head into a new checkpoint, after verifying the events since the previous
    one. Returns the newest checkpoint (the previous one when nothing new was logged and
    `only_if_new`), or None while the log is empty. AuditTampered when the log no longer
    continues the previous checkpoint."""
    head = AuditChainHead.objects.filter(pk=AuditChainHead.SINGLETON_ID).values_list(
        "last_seq", "last_hash").first()
    previous = audit_checkpoint_latest()
    if head is None or head[0] == 0:
        if previous is not None:
            _refuse(f"the log is empty below checkpoint {previous.seq}")
        return None
    last_seq, last_hash = head
    if previous is not None:
        if last_seq < previous.seq:
            _refuse(f"chain head #{last_seq} is below checkpoint {previous.seq} (truncated)")
        at_mark = AuditEvent.objects.filter(seq=previous.seq).values_list("hash", flat=True)
        if list(at_mark) != [previous.hash]:
            _refuse(f"event #{previous.seq} differs from checkpoint {previous.seq}")
        if last_seq == previous.seq and only_if_new:
            return previous
        # Verify what was logged since: a log cut below the checkpoint and grown again, or an
        # event edited since, must not be signed.
        mark = CheckpointMark(previous.seq, previous.hash, previous.legacy_until)
        walker = ChainWalker(mark=mark, start=(previous.seq, previous.hash))
        fault = walker.walk(events_after(previous.seq, 5000, until=last_seq))
        if fault is not None:
            _refuse(fault.reason)
        if walker.last_seq != last_seq or walker.prev_hash != last_hash:
            _refuse(f"events up to the chain head #{last_seq} are missing or differ")
        legacy_until = previous.legacy_until
    else:
        # The first checkpoint: everything before the first keyed event was written unkeyed.
        newest = AuditEvent.objects.filter(seq=last_seq).values_list("hash", flat=True)
        if list(newest) != [last_hash]:
            _refuse(f"event #{last_seq} differs from the chain head")
        first_keyed = (AuditEvent.objects.filter(key_id__isnull=False).order_by("seq")
                       .values_list("seq", flat=True).first())
        legacy_until = last_seq if first_keyed is None else first_keyed - 1
    cp = Checkpoint(seq=last_seq, hash=last_hash, count=last_seq,
                    key_id=audit_key_current().key_id, legacy_until=legacy_until,
                    written_at=timezone.now().isoformat(timespec="seconds"))
    if not checkpoint_put(name=cp.name, data=_signed(cp)):
        # Written a moment ago by another process (same seq): the stored one stands.
        return checkpoint_parse(cp.name, checkpoint_get(name=cp.name))
    log.info("audit checkpoint %s written", cp.name)
    return cp


_refused_reasons: set[str] = set()


def _refuse(reason: str) -> None:
    log.error("audit log tampered with, checkpoint refused: %s", reason)
    if reason not in _refused_reasons:  # one alarm per fault and process, not one per interval
        _refused_reasons.add(reason)
        audit_log(action="audit.checkpoint_refused", outcome=Outcome.FAILURE,
                  object_type="audit", detail={"reason": reason[:500]})
    raise AuditTampered(reason)


_due_lock = threading.Lock()
_last_try = 0.0


def audit_checkpoint_due() -> Checkpoint | None:
    """For the periodic loop: a checkpoint every KJDA_AUDIT_CHECKPOINT_MINUTES when new events
    exist. The clock is this process's own (not a database row someone could hold back)."""
    global _last_try
    every = settings.KJDA_AUDIT_CHECKPOINT_MINUTES * 60
    if every <= 0:
        return None
    with _due_lock:
        now = time.monotonic()
        if _last_try and now - _last_try < every:
            return None
        _last_try = now
    return audit_checkpoint_write(only_if_new=True)
