"""Reads of connector configuration and the intake queue, scoped by the acting user (roles
arrive with issue #4: today any active user may read)."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from kjda.connectors.models import Connector, InboxEvent


def _allowed(actor) -> bool:
    return bool(actor and actor.is_authenticated and actor.is_active)


def connector_list(*, actor) -> QuerySet[Connector]:
    return Connector.objects.all() if _allowed(actor) else Connector.objects.none()


def connector_get(*, actor, connector_id: UUID) -> Connector | None:
    return connector_list(actor=actor).filter(pk=connector_id).first()


def intake_list(*, actor, status: str | None = None,
                connector_id: UUID | None = None) -> QuerySet[InboxEvent]:
    qs = InboxEvent.objects.select_related("connector") if _allowed(actor) else \
        InboxEvent.objects.none()
    if status:
        qs = qs.filter(status=status)
    if connector_id:
        qs = qs.filter(connector_id=connector_id)
    return qs.order_by("-received_at")


def intake_get(*, actor, event_pk: int) -> InboxEvent | None:
    return intake_list(actor=actor).filter(pk=event_pk).first()
