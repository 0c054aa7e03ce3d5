"""What each person must do next: to-dos on the dashboard, and the same to-dos in their OA.

Each workflow registers a provider (in its AppConfig.ready) that lists, for one user, the batches
waiting on them — usually `Workflow.allowed(state=…, roles=…)` over the open batches in their
scope. The dashboard shows `todos_for(actor)`.

A workflow step that waits on people also tells them in the OA they use: `oa_todo_notify` writes a
to-do into the connectors' outbox (same transaction as the step; sent by the task worker with
retries) for every user who signed in through an OA platform that has a connector.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from allauth.socialaccount.models import SocialAccount
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from kjda.connectors.models import Connector
from kjda.connectors.notices import notice_create


@dataclass(frozen=True)
class Todo:
    workflow: str  # "transfer", "appraisal", "destruction", "volume", "custody", …
    title: str  # what to do, e.g. "签署销毁清册 XH-2055-0001"
    url: str  # the page where it is done
    since: datetime | None = None


Actor = AbstractBaseUser | AnonymousUser
TodoProvider = Callable[[Actor], list[Todo]]
_PROVIDERS: list[TodoProvider] = []


def todo_provider(fn: TodoProvider) -> TodoProvider:
    """Register a provider of to-dos (called from a sub-app's AppConfig.ready)."""
    if fn not in _PROVIDERS:
        _PROVIDERS.append(fn)
    return fn


def todos_for(actor: Actor) -> list[Todo]:
    """Every to-do waiting on `actor`, oldest first."""
    if not getattr(actor, "is_authenticated", False):
        return []
    todos = [t for provider in _PROVIDERS for t in provider(actor)]
    return sorted(todos, key=lambda t: (t.since is None, t.since or datetime.min))


def oa_todo_notify(*, users: Iterable[AbstractBaseUser], title: str, text: str, url: str,
                   dedupe_key: str, reason: str = "lifecycle_todo", todo: bool = True) -> int:
    """Queue an OA to-do for each of `users` linked to an OA platform with an enabled connector
    (one notice per platform, deduplicated on `dedupe_key`); the number of notices queued.
    Users who never signed in through an OA see the to-do on the dashboard only. `todo=False`
    sends a plain notice instead (news that asks nothing of the person: a decision, a reminder)."""
    by_provider: dict[str, list[str]] = {}
    pks = [u.pk for u in users if u is not None and u.pk is not None]
    for provider, uid in SocialAccount.objects.filter(user_id__in=pks).values_list("provider",
                                                                                   "uid"):
        by_provider.setdefault(provider, []).append(uid)
    queued = 0
    for provider, uids in sorted(by_provider.items()):
        connector = Connector.objects.filter(kind=provider, enabled=True).order_by(
            "created_at").first()
        if connector is None:
            continue
        notice = notice_create(connector=connector, user_ids=sorted(uids), reason=reason,
                               title=title, text=text, url=url, todo=todo,
                               dedupe_key=f"{dedupe_key}:{provider}")
        queued += notice is not None
    return queued
