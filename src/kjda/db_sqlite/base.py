"""SQLite backend whose writers queue on a lock instead of SQLite's sleeping busy handler.

SQLite allows one writer at a time. A writer that finds the database locked waits in SQLite's
busy handler, which polls with growing sleeps (1, 2, 5, 10 … 100 ms): under concurrent ingest
the lock is mostly free while the waiters sleep, and a request can wait hundreds of ms for a
lock that was held for 3 ms. Here every write transaction (and every write statement outside
one) first takes a per-database writer lock: a `threading.Lock` between the threads of a process
and an exclusive `flock` on `<database>-writer.lock` between processes, both of which wake the
next waiter the moment the holder releases. A process that dies releases its `flock` with it.
SQLite's own locking stays underneath, unchanged, as the guarantee; this only orders the queue.
"""

from __future__ import annotations

import fcntl
import os
import threading

from django.db.backends.sqlite3 import base as sqlite3_base
from django.db.utils import OperationalError

_WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")
_registry_lock = threading.Lock()
_locks: dict[str, _WriterLock] = {}


class _WriterLock:
    """One per database file and process (re-made in a forked child: a lock held by a parent
    thread at fork time would otherwise stay held for ever in the child)."""

    def __init__(self, path: str) -> None:
        self.pid = os.getpid()
        self.thread_lock = threading.Lock()
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def acquire(self, timeout: float) -> None:
        if not self.thread_lock.acquire(timeout=timeout):
            raise OperationalError("database is locked (writer queue timed out)")
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except BaseException:
            self.thread_lock.release()
            raise

    def release(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.thread_lock.release()


def _writer_lock(db_path: str) -> _WriterLock:
    lock_path = db_path + "-writer.lock"
    with _registry_lock:
        lock = _locks.get(lock_path)
        if lock is None or lock.pid != os.getpid():
            lock = _locks[lock_path] = _WriterLock(lock_path)
        return lock


def _is_file_database(name: str) -> bool:
    return bool(name) and name != ":memory:" and "mode=memory" not in name


# Django rewrites every query's %s placeholders to ? with a regular expression (behind a lazy
# object); the same few hundred statements run again and again, so each is rewritten once.
_QMARK_QUERIES: dict[str, str] = {}
_QMARK_MAX = 4096


class _LockingCursor(sqlite3_base.SQLiteCursorWrapper):
    wrapper: DatabaseWrapper  # set on the per-connection subclass

    def convert_query(self, query, *, param_names=None):
        if param_names is not None:
            return super().convert_query(query, param_names=param_names)
        converted = _QMARK_QUERIES.get(query)
        if converted is None:
            converted = super().convert_query(query)
            if len(_QMARK_QUERIES) < _QMARK_MAX:
                _QMARK_QUERIES[query] = converted
        return converted

    def execute(self, query, params=None):
        if self.wrapper.needs_statement_lock(query):
            with self.wrapper.statement_lock():
                return super().execute(query, params)
        return super().execute(query, params)

    def executemany(self, query, param_list):
        if self.wrapper.needs_statement_lock(query):
            with self.wrapper.statement_lock():
                return super().executemany(query, param_list)
        return super().executemany(query, param_list)


class DatabaseWrapper(sqlite3_base.DatabaseWrapper):
    _holds_writer_lock = False
    _cursor_class: type | None = None

    def _lock(self) -> _WriterLock | None:
        name = str(self.settings_dict["NAME"])
        return _writer_lock(name) if _is_file_database(name) else None

    def _timeout(self) -> float:
        return float(self.settings_dict.get("OPTIONS", {}).get("timeout", 60))

    def _acquire_writer_lock(self) -> None:
        lock = self._lock()
        if lock is not None and not self._holds_writer_lock:
            lock.acquire(self._timeout())
            self._holds_writer_lock = True

    def _release_writer_lock(self) -> None:
        if self._holds_writer_lock:
            self._holds_writer_lock = False
            lock = self._lock()
            if lock is not None:
                lock.release()

    # A write transaction: from BEGIN IMMEDIATE to COMMIT/ROLLBACK (or the connection closing).
    def _start_transaction_under_autocommit(self):
        self._acquire_writer_lock()
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]  # private Django API, not in django-stubs
        except BaseException:
            self._release_writer_lock()
            raise

    def _commit(self):
        try:
            return super()._commit()  # type: ignore[misc]  # private Django API, not in django-stubs
        finally:
            if self.connection is None or not self.connection.in_transaction:
                self._release_writer_lock()

    def _rollback(self):
        try:
            return super()._rollback()  # type: ignore[misc]  # private Django API, not in django-stubs
        finally:
            self._release_writer_lock()

    def _close(self):
        try:
            return super()._close()  # type: ignore[misc]  # private Django API, not in django-stubs
        finally:
            self._release_writer_lock()

    # A write statement in autocommit mode is a transaction of its own.
    def needs_statement_lock(self, query: str) -> bool:
        return (not self._holds_writer_lock and not self.in_atomic_block
                and query.lstrip()[:7].upper().startswith(_WRITE_VERBS))

    def statement_lock(self) -> _StatementLock:
        return _StatementLock(self)

    def create_cursor(self, name=None):
        if self._cursor_class is None:
            self._cursor_class = type("LockingCursor", (_LockingCursor,), {"wrapper": self})
        return self.connection.cursor(factory=self._cursor_class)


class _StatementLock:
    def __init__(self, wrapper: DatabaseWrapper) -> None:
        self.wrapper = wrapper

    def __enter__(self) -> None:
        self.wrapper._acquire_writer_lock()

    def __exit__(self, *exc) -> None:
        self.wrapper._release_writer_lock()
