"""Read one model instance by a WHERE clause with the column list and the value converters
worked out once per model, for the lookups every API request makes (token, user, profile).

`Model.objects.raw()` resolves the columns, the model's field order and each column's
converters anew on every query, which cost more than the query itself. Here the SELECT lists
the model's concrete fields in their order, and each value goes through the converters Django
would apply (the backend's, then the field's: JSON, datetimes, booleans on SQLite), so the
instance is the one `Model.objects.get()` would return.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import connections
from django.db.models import Model

M = TypeVar("M", bound=Model)

_PLANS: dict[tuple, tuple[str, list, list[str]]] = {}


def _plan(model: type[Model], conn) -> tuple[str, list, list[str]]:
    key = (model, conn.vendor)
    plan = _PLANS.get(key)
    if plan is None:
        meta = model._meta
        fields = list(meta.concrete_fields)
        columns = ", ".join(conn.ops.quote_name(f.column) for f in fields)
        converters = []
        for i, f in enumerate(fields):
            col = f.get_col(meta.db_table)
            found = conn.ops.get_db_converters(col) + col.get_db_converters(conn)
            if found:
                converters.append((i, found, col))
        sql = f"SELECT {columns} FROM {conn.ops.quote_name(meta.db_table)} WHERE "  # noqa: S608 - names from the model
        plan = _PLANS[key] = (sql, converters, [f.attname for f in fields])
    return plan


def row_get(model: type[M], where: str, params: list[Any], *, using: str = "default") -> M | None:
    """The first row of `model` matching the SQL condition `where` (with %s placeholders)."""
    conn = connections[using]
    sql, converters, attnames = _plan(model, conn)
    with conn.cursor() as cur:
        cur.execute(sql + where + " LIMIT 1", params)
        row = cur.fetchone()
    if row is None:
        return None
    values = list(row)
    for i, functions, col in converters:
        value = values[i]
        for convert in functions:
            value = convert(value, col, conn)
        values[i] = value
    return model.from_db(using, attnames, values)
