"""Every private or undocumented Django API KJDA uses, in one place.

Django may change these in any release without a deprecation period. Each one is used only
through this module, and kjda/db/tests/test_django_private.py checks that each still exists
with the signature we call, on the Django releases in VERIFIED_ON: a Django outside that range
fails the test until someone has read what changed and widened it.

- `BaseDatabaseSchemaEditor._create_index_sql` and the PostgreSQL editor's
  `_create_like_index_sql`: the index `db_index=True` makes, with Django's own name, for
  migrations that add an index back without remaking the table (kjda.db.schema).
- `Model._prepare_related_fields_for_save`: the checks `save()` makes of related objects
  (an unsaved parent raises) before kjda.db.insert writes the row itself.
- `BaseDatabaseWrapper._start_transaction_under_autocommit`, `_commit`, `_rollback`, `_close`:
  where our SQLite backend takes and returns its writer lock (kjda.db.sqlite.base); no public
  hook sees BEGIN. Wrapped by `TransactionHooks` into our own method names.
- `SQLiteCursorWrapper.convert_query(query, *, param_names=None)`: undocumented, overridden to
  cache the %s → ? rewrite.
- `Model._prefetched_objects_cache`: what `prefetch_related` fills; a service that has just
  written a record's rows keeps them on it, so the answer needs no query for them.
- `QuerySet._result_cache`: whether a queryset was already evaluated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Model, QuerySet

# (major, minor) of the Django releases these were read and tested on, first and last.
VERIFIED_ON = ((5, 2), (5, 2))


def index_create_sql(schema_editor: Any, model: type[Model], field: Any) -> Any:
    """The CREATE INDEX statement `db_index=True` on `field` makes, under Django's name for it."""
    return schema_editor._create_index_sql(model, fields=[field])


def like_index_create_sql(schema_editor: Any, model: type[Model], field: Any) -> Any:
    """PostgreSQL: the `varchar_pattern_ops` twin index Django makes for a text column, or None."""
    return schema_editor._create_like_index_sql(model, field)


def related_fields_check(obj: Model, *, operation_name: str) -> None:
    """What `save()` checks of `obj`'s relations first (and the foreign key ids it copies from
    related objects saved since they were assigned)."""
    obj._prepare_related_fields_for_save(  # type: ignore[attr-defined]  # not in django-stubs
        operation_name=operation_name)


def prefetched_set(obj: Model, name: str, rows: Sequence[Model]) -> None:
    """Keep `rows` on `obj` as if `prefetch_related(name)` had read them."""
    cache = obj.__dict__.setdefault("_prefetched_objects_cache", {})
    cache[name] = rows


def prefetched_get(obj: Model, name: str) -> Any:
    """What `prefetch_related(name)` (or `prefetched_set`) left on `obj`, or None."""
    return obj.__dict__.get("_prefetched_objects_cache", {}).get(name)


def queryset_cached_rows(qs: QuerySet) -> list | None:
    """The rows of an already evaluated queryset, or None when it wasn't evaluated."""
    return qs._result_cache


class TransactionHooks:
    """Mixed into a DatabaseWrapper subclass: our names for the moments Django's private
    methods mark. `transaction_begin` runs before BEGIN of a transaction in autocommit mode (and
    `transaction_begin_failed` if BEGIN raised); `transaction_end` after COMMIT, ROLLBACK or the
    connection closing."""

    def transaction_begin(self) -> None:
        pass

    def transaction_begin_failed(self) -> None:
        pass

    def transaction_end(self, *, committed: bool) -> None:
        pass

    def _start_transaction_under_autocommit(self) -> None:
        self.transaction_begin()
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
        except BaseException:
            self.transaction_begin_failed()
            raise

    def _commit(self) -> Any:
        try:
            return super()._commit()  # type: ignore[misc]
        finally:
            self.transaction_end(committed=True)

    def _rollback(self) -> Any:
        try:
            return super()._rollback()  # type: ignore[misc]
        finally:
            self.transaction_end(committed=False)

    def _close(self) -> Any:
        try:
            return super()._close()  # type: ignore[misc]
        finally:
            self.transaction_end(committed=False)
