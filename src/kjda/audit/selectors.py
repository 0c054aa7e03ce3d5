"""Reading the audit log."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from kjda.audit.models import AuditEvent


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

    `actor_user` is the person reading the log. Who may read which events (the audit
    administrator of 三员分立 sees all, others at most their own) is applied here in the
    permissions issue; until then this returns every matching event, so callers must already
    pass the acting user.
    """
    qs = AuditEvent.objects.select_related("actor")
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
