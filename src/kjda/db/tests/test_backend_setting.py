"""KJDA_SQLITE_BACKEND switches between our SQLite backend and Django's stock one, with the same
durability and waiting: IMMEDIATE transactions, WAL, FULL sync and a bounded busy wait."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from kjda import settings as kjda_settings


@pytest.fixture
def sqlite_env(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return monkeypatch


def test_the_default_is_our_group_commit_backend(sqlite_env):
    sqlite_env.delenv("KJDA_SQLITE_BACKEND", raising=False)
    assert kjda_settings._database()["ENGINE"] == "kjda.db.sqlite"


def test_stock_is_djangos_backend_with_immediate_transactions_wal_and_a_busy_timeout(sqlite_env):
    sqlite_env.setenv("KJDA_SQLITE_BACKEND", "stock")
    sqlite_env.setenv("KJDA_SQLITE_TIMEOUT", "7.5")
    db = kjda_settings._database()
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    options = db["OPTIONS"]
    assert options["transaction_mode"] == "IMMEDIATE"
    assert options["timeout"] == 7.5
    assert "PRAGMA journal_mode=WAL" in options["init_command"]
    assert "PRAGMA busy_timeout=7500" in options["init_command"]
    assert "PRAGMA synchronous=FULL" in options["init_command"]


def test_an_unknown_backend_is_refused(sqlite_env):
    sqlite_env.setenv("KJDA_SQLITE_BACKEND", "fast")
    with pytest.raises(ImproperlyConfigured):
        kjda_settings._database()


@pytest.mark.django_db(transaction=True)  # outside an atomic block: batching may apply
def test_group_commit_batches_only_on_our_backend():
    from kjda.db.sqlite.group_commit import _batched

    ours = getattr(connection, "group_commit", False)
    assert ours == (connection.settings_dict["ENGINE"] == "kjda.db.sqlite")
    assert _batched("default") == ours


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite")
def test_the_running_sqlite_database_is_wal_with_a_busy_timeout():
    with connection.cursor() as cur:
        assert cur.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cur.execute("PRAGMA busy_timeout").fetchone()[0] > 0
