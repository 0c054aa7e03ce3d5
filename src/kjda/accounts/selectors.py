"""Data scopes. Until roles and scopes arrive (issue #4) every active user reads the whole
archive; every read already goes through `record_scope_q`, so scoping lands in one place."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q


def record_scope_q(*, actor: AbstractBaseUser | AnonymousUser | None) -> Q | None:
    """A filter on `archives.Record` for what `actor` may read; None means nothing."""
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return None
    return Q()
