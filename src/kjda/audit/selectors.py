"""Reading the audit log, and verifying its chain (against the latest signed checkpoint)."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, Q, QuerySet

from kjda.accounts.roles import Perm
from kjda.accounts.selectors import actor_can
from kjda.audit.checkpoints import audit_checkpoint_latest
from kjda.audit.models import Action, AuditChainHead, AuditEvent, Outcome
from kjda.audit.services import ChainVerification, ChainWalker, CheckpointMark, events_after
from kjda.errors import DomainError


def audit_event_list(
    *,
    actor_user: AbstractBaseUser | AnonymousUser,
    user: AbstractBaseUser | int | None = None,
    action: str | None = None,
    outcome: str | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Events newest first, filtered by who did it (`user`, an account or its pk), action,
    outcome, object and time (`since` inclusive, `until` exclusive).

    `actor_user` is the person reading the log: the security auditor (安全审计员) sees every
    event, anyone else at most their own.
    """
    qs = AuditEvent.objects.select_related("actor")
    if not actor_can(actor_user, Perm.AUDIT_READ):
        # Anyone else sees at most their own events.
        qs = qs.filter(actor_id=getattr(actor_user, "pk", None) or -1)
    if user is not None:
        qs = qs.filter(actor_id=user if isinstance(user, int) else user.pk)
    if action:
        qs = qs.filter(action=action)
    if outcome:
        qs = qs.filter(outcome=outcome)
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id is not None and object_id != "":
        qs = qs.filter(object_id=str(object_id))
    if since is not None:
        qs = qs.filter(occurred_at__gte=since)
    if until is not None:
        qs = qs.filter(occurred_at__lt=until)
    return qs.order_by("-seq")


def audit_object_events(*, object_type: str, object_id: str) -> QuerySet[AuditEvent]:
    """The events about one object, oldest first, unscoped: for operators on the server (the
    CLI's `kjda watermark inspect`), never for a web or API reader."""
    return AuditEvent.objects.filter(object_type=object_type,
                                     object_id=str(object_id)).order_by("seq")


def audit_chain_verify(*, batch_size: int = 5000, checkpoint: bool = True) -> ChainVerification:
    """Recompute the whole chain in seq order, `batch_size` events per query (keyed events with
    the audit key they name), compare it with the head and with the latest signed checkpoint in
    the blob store. Stops at the first fault and names it.

    Safe to run while events are being appended: an event is committed together with the head
    update that counts it, so reading the head after the events only ever shows it further on;
    the checkpoint is read first, so it never counts events the walk could miss.
    """
    cp = None
    if checkpoint:
        try:
            cp = audit_checkpoint_latest()
        except DomainError as exc:  # a forged or damaged checkpoint, or the store unreadable
            return ChainVerification(ok=False, checked=0, first_bad_seq=None, reason=exc.message)
    mark = CheckpointMark(cp.seq, cp.hash, cp.legacy_until) if cp is not None else None
    walker = ChainWalker(mark=mark)
    result = _verify_walk(walker, batch_size)
    if not result.ok or cp is None:
        return result
    if walker.last_seq < cp.count:
        first = walker.last_seq + 1
        return walker.fail(
            first,
            f"日志被截断：检查点 #{cp.seq}（{cp.written_at}）之内的事件 #{first}–#{cp.seq} 缺失 / "
            f"truncated below checkpoint {cp.seq}: events #{first}–#{cp.seq} are missing "
            f"(checkpoint of {cp.written_at})",
        )
    if walker.mark_hash != cp.hash:  # (the walk compares it in passing; kept for clarity)
        return walker.fail(cp.seq, f"事件 #{cp.seq} 与检查点不符 / event #{cp.seq} differs from "
                                   f"checkpoint {cp.seq}")
    return walker.result_ok(checkpoint_at=cp.written_at)


def _verify_walk(walker: ChainWalker, batch_size: int) -> ChainVerification:
    fault = walker.walk(events_after(0, batch_size))
    if fault:
        return fault
    head = AuditChainHead.objects.filter(pk=AuditChainHead.SINGLETON_ID).first()
    if head is None:
        if walker.last_seq == 0:
            return walker.result_ok()
        return walker.fail(None, "审计链头缺失 / the audit chain head is missing")
    if head.last_seq < walker.last_seq:
        return walker.fail(
            head.last_seq + 1,
            f"事件 #{head.last_seq + 1} 及其后事件不在链头记录之内（被插入） / event "
            f"#{head.last_seq + 1} onwards lies beyond the chain head (inserted)",
        )
    if head.last_seq > walker.last_seq:
        # Events appended while we walked; check up to the head, then anything missing is gone.
        fault = walker.walk(events_after(walker.last_seq, batch_size, until=head.last_seq))
        if fault:
            return fault
        if walker.last_seq < head.last_seq:
            return walker.fail(
                walker.last_seq + 1,
                f"事件 #{walker.last_seq + 1} 至 #{head.last_seq} 缺失（最新事件被删除） / events "
                f"#{walker.last_seq + 1}–#{head.last_seq} missing (newest events removed)",
            )
    if head.last_hash != walker.prev_hash:
        return walker.fail(
            head.last_seq,
            f"事件 #{head.last_seq} 的哈希与链头记录不符（最新事件被替换） / event "
            f"#{head.last_seq} hash differs from the chain head (newest event replaced)",
        )
    return walker.result_ok()


def audit_refusal_counts(*, since: datetime, at_least: int) -> list[dict[str, object]]:
    """Monitoring: who was refused at least `at_least` times since `since` — access denied
    (`outcome=denied`) and failed sign-ins (`auth.failed`) — per account name and per client
    address, most refused first: [{"by": "user"|"ip", "who": …, "count": n}]."""
    refused = AuditEvent.objects.filter(occurred_at__gte=since).filter(
        Q(outcome=Outcome.DENIED) | Q(action=Action.AUTH_FAILED))
    rows: list[dict[str, object]] = []
    for by, field in (("user", "actor_name"), ("ip", "ip")):
        named = refused.exclude(**{f"{field}__isnull": True})
        if by == "user":  # (an inet column on PostgreSQL takes no "")
            named = named.exclude(actor_name="")
        for row in (named.values(field).annotate(n=Count("seq")).filter(n__gte=at_least)
                    .order_by("-n")[:50]):
            rows.append({"by": by, "who": str(row[field]), "count": row["n"]})
    return rows
