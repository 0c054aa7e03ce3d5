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

    `actor_user` is the person reading the log: the security auditor (安全审计员) sees every
    event, anyone else at most their own.
    """
    from kjda.accounts.roles import Perm
    from kjda.accounts.selectors import actor_can

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
