"""The private Django APIs in kjda.db.django_private still exist with the signatures we call,
on a Django release they were verified on; and no other module of ours uses them."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import django
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.backends.postgresql.schema import DatabaseSchemaEditor as PgSchemaEditor
from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteWrapper
from django.db.backends.sqlite3.base import SQLiteCursorWrapper
from django.db.models import Model, QuerySet

from kjda.db import django_private

PRIVATE_NAMES = ("_create_index_sql", "_create_like_index_sql", "_prepare_related_fields_for_save",
                 "_start_transaction_under_autocommit", "_prefetched_objects_cache",
                 "_result_cache")


def _params(fn) -> list[tuple[str, object]]:
    return [(p.name, p.kind) for p in inspect.signature(fn).parameters.values()]


def test_this_django_release_is_one_the_private_apis_were_verified_on():
    first, last = django_private.VERIFIED_ON
    assert first <= django.VERSION[:2] <= last, (
        f"Django {django.get_version()} is outside {first}–{last}: read what changed in the APIs "
        "listed in kjda/db/django_private.py, run these tests, then widen VERIFIED_ON")


def test_the_schema_editor_methods_take_what_we_pass():
    kw, pos = inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = dict(_params(BaseDatabaseSchemaEditor._create_index_sql))
    assert params["model"] == pos and params["fields"] == kw
    assert _params(PgSchemaEditor._create_like_index_sql)[:3] == [
        ("self", pos), ("model", pos), ("field", pos)]


def test_prepare_related_fields_for_save_takes_an_operation_name():
    params = dict(_params(Model._prepare_related_fields_for_save))
    assert "operation_name" in params


def test_the_transaction_methods_our_backend_wraps_take_no_arguments_and_are_called():
    for name in ("_start_transaction_under_autocommit", "_commit", "_rollback", "_close"):
        assert _params(getattr(SQLiteWrapper, name)) == [
            ("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)], name
    # and the public methods still go through them
    assert "self._start_transaction_under_autocommit()" in inspect.getsource(
        BaseDatabaseWrapper.set_autocommit)
    for public, private in (("commit", "self._commit()"), ("rollback", "self._rollback()"),
                            ("close", "self._close()")):
        assert private in inspect.getsource(getattr(BaseDatabaseWrapper, public)), public


def test_convert_query_takes_the_query_and_param_names():
    params = dict(_params(SQLiteCursorWrapper.convert_query))
    assert params["param_names"] == inspect.Parameter.KEYWORD_ONLY


def test_querysets_and_models_keep_their_caches_where_we_read_them():
    # the names Django's own code uses (QuerySet._fetch_all, prefetch_related_objects)
    assert "self._result_cache = list(self._iterable_class(self))" in inspect.getsource(
        QuerySet._fetch_all)
    import django.db.models.query as query_module

    assert "_prefetched_objects_cache" in inspect.getsource(query_module.prefetch_one_level)


def test_no_other_module_uses_the_private_apis():
    root = Path(django_private.__file__).resolve().parents[1]  # src/kjda
    pattern = re.compile(r"\.(" + "|".join(PRIVATE_NAMES) + r")\b|\"("
                         + "|".join(PRIVATE_NAMES) + r")\"")
    found = []
    for path in root.rglob("*.py"):
        if path.name == "django_private.py" or "tests" in path.parts:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    assert found == []
