"""Schema steps that Django's operations would do the slow way.

On SQLite, Django's schema editor remakes a whole table (copy every row, recreate every index)
to drop a column's `db_index`; these drop or create the index alone. Migrations pair them with
the state operation in `SeparateDatabaseAndState`.
"""

from __future__ import annotations

from kjda.db.django_private import index_create_sql, like_index_create_sql


def _single_column_indexes_drop(schema_editor, table: str, columns: list[str], *,
                                like_only: bool) -> None:
    conn = schema_editor.connection
    with conn.cursor() as cur:
        constraints = conn.introspection.get_constraints(cur, table)
    for name, info in constraints.items():
        if (info["index"] and not info["unique"] and not info["primary_key"]
                and len(info["columns"]) == 1 and info["columns"][0] in columns
                and (not like_only or name.endswith("_like"))):
            schema_editor.execute(schema_editor.sql_delete_index % {
                "table": schema_editor.quote_name(table), "name": schema_editor.quote_name(name)})


def single_column_indexes_drop(schema_editor, table: str, columns: list[str]) -> None:
    """Drop the plain (not unique) indexes on exactly one of `columns`, by whatever names the
    backend gave them (PostgreSQL has a `_like` twin for text columns)."""
    _single_column_indexes_drop(schema_editor, table, columns, like_only=False)


def single_column_indexes_create(schema_editor, model, field_names: list[str]) -> None:
    """The reverse: each field's index as `db_index=True` would have made it."""
    for name in field_names:
        field = model._meta.get_field(name)
        schema_editor.execute(index_create_sql(schema_editor, model, field))
    like_indexes_create(schema_editor, model, field_names)


def like_indexes_drop(schema_editor, table: str, columns: list[str]) -> None:
    """PostgreSQL: drop the `varchar_pattern_ops` index Django keeps beside the index of each
    of these text columns (it serves only LIKE 'prefix%'). Nothing to do elsewhere."""
    if schema_editor.connection.vendor == "postgresql":
        _single_column_indexes_drop(schema_editor, table, columns, like_only=True)


def like_indexes_create(schema_editor, model, field_names: list[str]) -> None:
    """The reverse of like_indexes_drop (Django makes one for text columns only)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in field_names:
        sql = like_index_create_sql(schema_editor, model, model._meta.get_field(name))
        if sql is not None:
            schema_editor.execute(sql)
