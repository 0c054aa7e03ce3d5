"""Reads of connector configuration and the intake queue, scoped by the acting user (roles
arrive with issue #4: today any active user may read)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.db.models import Count, Q, QuerySet

from kjda.accounts.selectors import Actor
from kjda.connectors.models import (
    Connector,
    InboxEvent,
    InboxStatus,
    Mapping,
    Notice,
    NoticeStatus,
)


def _allowed(actor: Actor) -> bool:
    return bool(actor and actor.is_authenticated and actor.is_active)


def connector_list(*, actor: Actor) -> QuerySet[Connector]:
    return Connector.objects.all() if _allowed(actor) else Connector.objects.none()


def connector_get(*, actor: Actor, connector_id: UUID) -> Connector | None:
    return connector_list(actor=actor).filter(pk=connector_id).first()


def intake_list(*, actor: Actor, status: str | None = None,
                connector_id: UUID | None = None) -> QuerySet[InboxEvent]:
    qs = InboxEvent.objects.select_related("connector") if _allowed(actor) else \
        InboxEvent.objects.none()
    if status:
        qs = qs.filter(status=status)
    if connector_id:
        qs = qs.filter(connector_id=connector_id)
    return qs.order_by("-received_at")


def intake_get(*, actor: Actor, event_pk: int) -> InboxEvent | None:
    return intake_list(actor=actor).filter(pk=event_pk).first()


def connector_list_with_counts(*, actor: Actor) -> QuerySet[Connector]:
    """Connectors with the number of their inbox events waiting (received), archived (done)
    and failed, as `n_received`, `n_done`, `n_failed` (for the web UI's connector list)."""
    def count(status: str) -> Count:
        return Count("events", filter=Q(events__status=status))

    return connector_list(actor=actor).annotate(
        n_received=count("received"), n_done=count("done"), n_failed=count("failed"))


def mapping_list(*, actor: Actor, connector: Connector) -> QuerySet[Mapping]:
    qs = Mapping.objects.filter(connector=connector) if _allowed(actor) else \
        Mapping.objects.none()
    return qs.order_by("process_code")


def notice_list(*, actor: Actor, limit: int = 20) -> QuerySet[Notice]:
    """The latest notices and to-dos sent (or being sent) back to OA users, newest first."""
    qs = Notice.objects.select_related("connector") if _allowed(actor) else Notice.objects.none()
    return qs.order_by("-created_at")[:limit]


def failures_since(*, since: datetime) -> dict[str, int]:
    """System-wide counts for monitoring (no OA content is read): inbox events that failed for
    good and notices that gave up retrying since `since` (a notice's last try is its claim)."""
    return {
        "inbox_failed": InboxEvent.objects.filter(status=InboxStatus.FAILED,
                                                  processed_at__gt=since).count(),
        "notices_failed": Notice.objects.filter(status=NoticeStatus.FAILED,
                                                claimed_at__gt=since).count(),
    }
