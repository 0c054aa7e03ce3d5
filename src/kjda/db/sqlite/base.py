"""SQLite backend whose writers queue on a lock instead of SQLite's sleeping busy handler.

SQLite allows one writer at a time. A writer that finds the database locked waits in SQLite's
busy handler, which polls with growing sleeps (1, 2, 5, 10 … 100 ms): under concurrent ingest
the lock is mostly free while the waiters sleep, and a request can wait hundreds of ms for a
lock that was held for 3 ms. Here every write transaction (and every write statement outside
one) first takes a per-database writer lock: a `threading.Lock` between the threads of a process
and an exclusive `flock` on `<database>-writer.lock` between processes, both of which wake the
next waiter the moment the holder releases. A process that dies releases its `flock` with it.
SQLite's own locking stays underneath, unchanged, as the guarantee; this only orders the queue.

The wait is bounded: after OPTIONS["timeout"] seconds (the busy timeout SQLite itself would have
waited; KJDA_SQLITE_TIMEOUT) the writer gets an OperationalError "database is locked", as from
stock SQLite, instead of waiting for ever behind a stuck process. `flock` itself has no timeout,
so a process's wait for the file lock is made by one helper thread (see `_FileLock`).
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
import time

from django.db.backends.sqlite3 import base as sqlite3_base
from django.db.utils import OperationalError

from kjda.db.django_private import TransactionHooks

# Statements that write to the database file (SQLite's grammar; ANALYZE writes sqlite_stat1).
_WRITE_VERBS = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER",
                          "VACUUM", "REINDEX", "ANALYZE"})
# Leading whitespace and comments, then the first word.
_FIRST_WORD = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*([A-Za-z]+)", re.S)
# In a WITH statement: string literals, quoted names and comments (skipped), parentheses
# (nesting) and words; the first main verb outside every parenthesis is the statement's.
_WITH_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]"
                          r"|--[^\n]*|/\*.*?\*/|([()])|([A-Za-z_]+)", re.S)
_MAIN_VERBS = _WRITE_VERBS | {"SELECT", "VALUES"}
_writes_cache: dict[str, bool] = {}
_WRITES_CACHE_MAX = 4096


def statement_writes(query: str) -> bool:
    """Whether the SQL statement writes to the database: INSERT, UPDATE, DELETE, REPLACE (and
    INSERT OR REPLACE, INSERT … ON CONFLICT DO UPDATE), DDL, and a WITH … whose main statement
    is one of these. Cached per statement text (the same few hundred run again and again)."""
    found = _writes_cache.get(query)
    if found is None:
        found = _statement_writes(query)
        if len(_writes_cache) < _WRITES_CACHE_MAX:
            _writes_cache[query] = found
    return found


def _statement_writes(query: str) -> bool:
    match = _FIRST_WORD.match(query)
    if match is None:
        return False
    verb = match.group(1).upper()
    if verb != "WITH":
        return verb in _WRITE_VERBS
    depth = 0
    for token in _WITH_TOKENS.finditer(query, match.end()):
        paren, word = token.group(1), token.group(2)
        if paren:
            depth += 1 if paren == "(" else -1
        elif word and depth == 0 and word.upper() in _MAIN_VERBS:
            return word.upper() in _WRITE_VERBS
    return False


_registry_lock = threading.Lock()
_locks: dict[str, _WriterLock] = {}


def _locked_error(timeout: float) -> OperationalError:
    # Where a user sees it (an error page, an API answer), both languages.
    return OperationalError(
        f"database is locked: no write lock within {timeout:g} s, another process holds it "
        f"(数据库被锁定：{timeout:g} 秒内未获得写锁，另一进程正持有)")


class _FileLock:
    """An exclusive `flock` with a timeout. `flock` can't time out, so a blocking wait runs in a
    helper thread while the caller waits on a condition with its timeout; a caller that gives
    up leaves the helper waiting, the next caller of this process waits for that same helper
    (at most one per lock file), and a lock the helper gets with nobody waiting is released at
    once, so no process holds the file lock for nobody. Used by one thread at a time (the
    holder of the process's thread lock)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.state = threading.Condition(threading.Lock())
        self.helper_running = False
        self.waiting = False
        self.granted = False

    def acquire(self, timeout: float, reported: float) -> None:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        with self.state:
            self.waiting = True
            if not self.helper_running:
                self.helper_running = True
                threading.Thread(target=self._wait, name="kjda-sqlite-flock", daemon=True).start()
            got = self.state.wait_for(lambda: self.granted, timeout)
            self.waiting = False
            if not got:
                raise _locked_error(reported)
            self.granted = False

    def _wait(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        with self.state:
            self.helper_running = False
            if self.waiting:
                self.granted = True
                self.state.notify_all()
                return
        fcntl.flock(self.fd, fcntl.LOCK_UN)  # the caller gave up meanwhile

    def release(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)


class _WriterLock:
    """One per database file and process (re-made in a forked child: a lock held by a parent
    thread at fork time would otherwise stay held for ever in the child)."""

    def __init__(self, path: str) -> None:
        self.pid = os.getpid()
        self.thread_lock = threading.Lock()
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.file_lock = _FileLock(self.fd)

    def acquire(self, timeout: float) -> None:
        started = time.monotonic()
        if not self.thread_lock.acquire(timeout=timeout):
            raise _locked_error(timeout)
        try:
            self.file_lock.acquire(max(0.0, timeout - (time.monotonic() - started)), timeout)
        except BaseException:
            self.thread_lock.release()
            raise

    def release(self) -> None:
        self.file_lock.release()
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

    # convert_query is undocumented: kjda.db.django_private lists it, its test checks it
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


class DatabaseWrapper(TransactionHooks, sqlite3_base.DatabaseWrapper):
    group_commit = True  # kjda.db.sqlite.group_commit batches this backend's transactions
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
    def transaction_begin(self) -> None:
        self._acquire_writer_lock()

    def transaction_begin_failed(self) -> None:
        self._release_writer_lock()

    def transaction_end(self, *, committed: bool) -> None:
        # a COMMIT that failed leaves the transaction open: the lock stays with it
        if not committed or self.connection is None or not self.connection.in_transaction:
            self._release_writer_lock()

    # A write statement in autocommit mode is a transaction of its own.
    def needs_statement_lock(self, query: str) -> bool:
        return (not self._holds_writer_lock and not self.in_atomic_block
                and statement_writes(query))

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
