"""Processing of inbox events: claim with a lease, re-fetch the instance, build the record of its
business scenario, file it through the ingest pipeline, and tell OA users about problems.

Every step is idempotent: a record is keyed by (source_system = connector kind, external_id =
instance id), so a redelivered event, a sweep that finds the same approval, or a worker killed
between filing and marking the event done never produces a second record.
"""

from __future__ import annotations

import logging
import traceback
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from kjda.archives import selectors as archive_selectors
from kjda.archives import services as archive_services
from kjda.connectors.approvals import approval_for_instance, approval_process_event
from kjda.connectors.base import ConnectorError
from kjda.connectors.instances import instance_from_json
from kjda.connectors.models import Connector, InboxEvent, InboxStatus, Mapping
from kjda.connectors.notices import notice_create
from kjda.connectors.scenarios import archive_instance
from kjda.connectors.services import connector_build, connector_persist_updates
from kjda.errors import DomainError

log = logging.getLogger(__name__)
# How long a claimed event stays its worker's (KJDA_INBOX_LEASE_SECONDS): a worker killed
# mid-way holds it this long before another takes it over. Longer than the slowest archiving of
# one event (its attachments' download included); issue 22 adds heartbeats to shorten it.
def inbox_lease() -> timedelta:
    return timedelta(seconds=float(getattr(settings, "KJDA_INBOX_LEASE_SECONDS", 600)))


MAX_ATTEMPTS = 6
BACKOFF = [timedelta(seconds=s) for s in (5, 30, 120, 600, 1800, 7200)]


# --- claiming -------------------------------------------------------------------------------

def _claimable(now: datetime) -> Q:
    return ((Q(status=InboxStatus.RECEIVED)
             & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)))
            | Q(status=InboxStatus.PROCESSING, lease_until__lt=now))


def inbox_claim(*, event_pk: int) -> InboxEvent | None:
    """Take the event for processing, or None if another worker has it or it is finished.
    A worker killed mid-way leaves an expired lease, and the event becomes claimable again."""
    now = timezone.now()
    claimed = InboxEvent.objects.filter(_claimable(now), pk=event_pk).update(
        status=InboxStatus.PROCESSING, lease_until=now + inbox_lease())
    if not claimed:
        return None
    return InboxEvent.objects.select_related("connector").get(pk=event_pk)


def inbox_due(*, limit: int = 200) -> list[int]:
    """Events waiting for (another) attempt: never started, retry due, or lease expired."""
    return list(InboxEvent.objects.filter(_claimable(timezone.now()))
                .order_by("received_at").values_list("pk", flat=True)[:limit])


# --- processing -----------------------------------------------------------------------------

def inbox_process(*, event_pk: int) -> str:
    """Process one inbox event; returns its final status (or "skipped")."""
    event = inbox_claim(event_pk=event_pk)
    if event is None:
        return "skipped"
    try:
        status, record_id, note = _process(event)
    except Exception as exc:  # every failure is recorded on the event; nothing is lost
        return _failed(event, exc)
    InboxEvent.objects.filter(pk=event.pk).update(
        status=status, record_id=record_id, last_error=note, lease_until=None,
        processed_at=timezone.now(), attempts=event.attempts + 1)
    return status


@task()
def inbox_process_task(event_pk: int) -> str:
    """The task form of `inbox_process` (the periodic sweep queues the approvals it finds)."""
    return inbox_process(event_pk=event_pk)


def _failed(event: InboxEvent, exc: BaseException) -> str:
    attempts = event.attempts + 1
    transient = not isinstance(exc, DomainError) or isinstance(exc, ConnectorError) or \
        exc.status >= 500 or exc.retryable
    text = (exc.message if isinstance(exc, DomainError) else
            "".join(traceback.format_exception_only(type(exc), exc)).strip())
    if transient and attempts < MAX_ATTEMPTS:
        InboxEvent.objects.filter(pk=event.pk).update(
            status=InboxStatus.RECEIVED, attempts=attempts, last_error=text[:4000],
            lease_until=None, next_attempt_at=timezone.now() + BACKOFF[attempts - 1])
        log.warning("inbox event %s failed (attempt %s), will retry: %s", event.pk, attempts, text)
        return InboxStatus.RECEIVED
    with transaction.atomic():
        InboxEvent.objects.filter(pk=event.pk).update(
            status=InboxStatus.FAILED, attempts=attempts, last_error=text[:4000],
            lease_until=None, processed_at=timezone.now())
        _notify_failure(event, text)
    log.error("inbox event %s failed for good: %s", event.pk, text)
    return InboxStatus.FAILED


def _notify_failure(event: InboxEvent, text: str) -> None:
    connector = event.connector
    users = list(connector.finance_owner_ids)
    originator = event.payload.get("_originator_id")
    if originator:
        users.append(originator)
    if users:
        notice_create(connector=connector, user_ids=users, reason="archive_failed",
                      title="电子会计档案归档失败",
                      text=f"审批 {event.instance_id} 归档失败：{text[:300]}",
                      url="/intake/", todo=True, inbox_event=event,
                      dedupe_key=f"failed:{event.pk}")


def _mapping_for(connector: Connector, *codes: str) -> Mapping | None:
    for code in codes:
        if code:
            mapping = Mapping.objects.filter(connector=connector, process_code=code).first()
            if mapping:
                return mapping
    return None


def _process(event: InboxEvent) -> tuple[str, int | None, str]:
    connector = event.connector
    # An approval KJDA started (e.g. a loan request): its result goes to the handler of its
    # kind, approved or not, and it is never archived as a record.
    outgoing = approval_for_instance(connector=connector, instance_id=event.instance_id)
    if outgoing is not None:
        return approval_process_event(approval=outgoing, source=event.source)
    if event.action == "finished":
        return (InboxStatus.IGNORED, None,
                "审批未通过即结束，不归档 / the approval ended unapproved: nothing to archive")
    if event.action == "revoked":
        return _revoke(event)
    existing = archive_selectors.record_find_existing(source_system=connector.kind,
                                                      external_id=event.instance_id)
    if existing is not None:
        return InboxStatus.DONE, existing.pk, "已归档（重复事件） / already archived"
    mapping = _mapping_for(connector, event.process_code)
    oa = connector_build(connector)
    if "_instance" in event.payload:
        instance = instance_from_json(event.payload["_instance"])
    else:
        instance = oa.fetch_instance(event.instance_id)  # never trust the event alone
        if not instance.reverts_instance_id and instance.status.lower() != "approved":
            return (InboxStatus.IGNORED, None,
                    f"平台上的审批状态为 {instance.status}，不是已通过 / the platform says "
                    f"{instance.status}, not approved")
    if instance.reverts_instance_id:
        # The approval is itself a reversal (DingTalk REVOKE): revoke what it reverts.
        payload = {**event.payload, "_reason": f"被审批 {instance.instance_id}「{instance.title}」撤销"}
        return _revoke(_as_revocation(event, instance.reverts_instance_id, payload))
    mapping = mapping or _mapping_for(connector, instance.process_code)
    if mapping is None:
        return (InboxStatus.IGNORED, None,
                f"审批模板 {instance.process_code or event.process_code} 未配置归档映射 / "
                "no mapping for this process code")
    try:
        record = archive_instance(connector=connector, oa=oa, mapping=mapping, instance=instance)
    finally:
        connector_persist_updates(connector=connector, oa=oa)
    return InboxStatus.DONE, record.pk, ""


def _as_revocation(event: InboxEvent, instance_id: str, payload: dict) -> InboxEvent:
    return InboxEvent(pk=event.pk, connector=event.connector, event_id=event.event_id,
                      instance_id=instance_id, action="revoked", payload=payload)


def _revoke(event: InboxEvent) -> tuple[str, int | None, str]:
    connector = event.connector
    record = archive_selectors.record_find_existing(source_system=connector.kind,
                                                    external_id=event.instance_id)
    if record is None:
        return InboxStatus.IGNORED, None, "撤销的审批尚未归档 / revoked approval was never archived"
    reason = event.payload.get("_reason") or "审批通过后被撤销 / approval revoked after approval"
    archive_services.record_revoke(
        record=record, reason=f"{connector.get_kind_display()}：{reason}",
        agent_name=f"oa:{connector.kind}",
        detail={"connector": str(connector.pk), "instance": event.instance_id})
    return InboxStatus.DONE, record.pk, ""
