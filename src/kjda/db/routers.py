"""The read-only database alias searches run on.

`search` is the same database as `default`, opened read-only (SQLite: `mode=ro` and
`query_only`; PostgreSQL: `default_transaction_read_only`, or a read-only role through
KJDA_SEARCH_DATABASE_URL), so a search can't write, not even by mistake. Writes always go to
`default`, whatever connection an instance was read from, and rows read through either alias
may be related to each other.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connections

SEARCH = "search"
_SAME_DATABASE = frozenset({"default", SEARCH})


def search_alias() -> str:
    """The alias a search reads through: `search`, except inside a transaction on `default`
    (whose uncommitted rows only its own connection sees) or when it isn't configured."""
    if SEARCH not in settings.DATABASES or connections["default"].in_atomic_block:
        return "default"
    return SEARCH


class ReadOnlySearchRouter:
    """Writes go to `default` (an instance read through `search` is saved to `default`); the
    `search` alias is never migrated (it is the same database)."""

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        return None

    def db_for_write(self, model: type, **hints: Any) -> str | None:
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        if obj1._state.db in _SAME_DATABASE and obj2._state.db in _SAME_DATABASE:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db == SEARCH else None
