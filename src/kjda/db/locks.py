"""Transaction-scoped locks on names, for checks that must see what a concurrent transaction
is about to commit (one invoice claimed twice, one voucher number filed twice)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection


def xact_locks(names: Iterable[str]) -> None:
    """Hold a lock on each name until the current transaction ends, so that transactions
    naming the same thing take turns from here to their COMMIT and the later one sees the
    earlier (read committed). PostgreSQL: an advisory lock per name, taken in sorted order so
    two callers never wait on each other crosswise. SQLite: nothing to do, its write
    transactions already run one at a time."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cur:
        for name in sorted(set(names)):
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [name])
