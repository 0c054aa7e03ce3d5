"""INSERT model instances with SQL built once per model, for the rows every filing writes.

`Model.save()` and `bulk_create()` compile their INSERT anew on every call, quoting and
preparing each column through the SQL compiler: for a Record's ~100 columns that was the largest
single cost of filing one (bench/profile_ingest.py). Here the statement text is cached per
(model, column set, row count) and each value goes through the same field methods Django uses
(`pre_save` for auto_now/auto_now_add, `get_db_prep_save` for the database's types), so the
stored values are those `save()` would store. Like `bulk_create`, no signals are sent; the
models inserted this way have no receivers.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections, models
from django.db.models import Model

_SQL: dict[tuple, tuple[str, list]] = {}
_MISSING = object()
# Fields (of exactly these classes) whose value of exactly this type is stored as it is: their
# pre_save reads the attribute and get_db_prep_save returns str/int/bool unchanged (str() or int()
# of itself) on every backend. Most of a Record's ~100 columns are such; each skips ~6 calls.
_AS_IS = {models.CharField: str, models.TextField: str, models.IntegerField: int,
          models.PositiveIntegerField: int, models.PositiveSmallIntegerField: int,
          models.SmallIntegerField: int, models.BigIntegerField: int, models.BooleanField: bool,
          models.ForeignKey: int}


def _statement(model: type[Model], vendor: str, quote, with_pk: bool, rows: int) -> tuple[str, list]:
    key = (model, vendor, with_pk, rows)
    cached = _SQL.get(key)
    if cached is None:
        meta = model._meta
        fields = [f for f in meta.concrete_fields
                  if not getattr(f, "generated", False) and (with_pk or f is not meta.pk)]
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        columns = ", ".join(quote(f.column) for f in fields)
        values = ", ".join([row] * rows)
        sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES {values}"  # noqa: S608 - names from the model
        if not with_pk:
            sql += f" RETURNING {quote(meta.pk.column)}"
        plans = [(f, f.attname, _AS_IS.get(type(f)) if f is not meta.pk else None) for f in fields]
        cached = _SQL[key] = (sql, plans)
    return cached


def rows_insert(objs: Sequence[Model], *, using: str = "default") -> None:
    """Insert unsaved instances of one model in one statement; auto primary keys are read back
    (RETURNING) onto the instances, which are then marked saved."""
    if not objs:
        return
    model = type(objs[0])
    conn = connections[using]
    with_pk = objs[0].pk is not None
    if any(type(o) is not model or (o.pk is not None) != with_pk for o in objs):
        raise ValueError("rows_insert: one model, and either every primary key set or none")
    sql, plans = _statement(model, conn.vendor, conn.ops.quote_name, with_pk, len(objs))
    params: list = []
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="rows_insert")  # type: ignore[attr-defined]  # private Django API
        values = obj.__dict__
        for f, attname, as_is in plans:
            value = values.get(attname, _MISSING)
            if as_is is not None and (value is None or type(value) is as_is):
                params.append(value)
            else:
                params.append(f.get_db_prep_save(f.pre_save(obj, True), connection=conn))
    with conn.cursor() as cur:
        cur.execute(sql, params)
        if not with_pk:
            pk_attname = model._meta.pk.attname
            # Keys are allocated in VALUES order; RETURNING's row order is not promised (SQLite).
            for obj, pk in zip(objs, sorted(r[0] for r in cur.fetchall()), strict=True):
                setattr(obj, pk_attname, pk)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = using
