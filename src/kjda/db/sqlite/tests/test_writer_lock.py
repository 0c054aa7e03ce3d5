"""The SQLite writer queue: writers from many threads and processes all get through, in order,
and a failed or abandoned transaction never leaves the lock held."""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading

import pytest
from django.db import connection, connections, transaction

from kjda.audit.selectors import audit_chain_verify
from kjda.audit.services import audit_log

pytestmark = pytest.mark.skipif(not getattr(connection, "group_commit", False),
                                reason="our SQLite backend's lock (KJDA_SQLITE_BACKEND=group_commit)")


def _write_events(tag: str, n: int) -> None:
    for i in range(n):
        with transaction.atomic():
            audit_log(action="test.write", object_type="writer", object_id=f"{tag}-{i}")
        # and one that opens its own transaction
        audit_log(action="test.own_transaction", object_type="writer", object_id=f"{tag}-{i}")


def _child(tag: str, n: int, failures) -> None:  # runs in a forked process
    try:
        threads = [threading.Thread(target=_thread_body, args=(f"{tag}.{t}", n, failures))
                   for t in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        connections.close_all()


def _thread_body(tag: str, n: int, failures) -> None:
    try:
        _write_events(tag, n)
    except BaseException as exc:  # noqa: BLE001 - counted by the parent
        failures.put(f"{tag}: {exc!r}")
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_writers_in_several_processes_and_threads_all_commit_in_one_unbroken_chain():
    from kjda.audit.models import AuditEvent

    connections.close_all()  # no SQLite handle may cross the fork
    ctx = multiprocessing.get_context("fork")
    failures = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(f"p{p}", 15, failures)) for p in range(3)]
    for p in procs:
        p.start()
    _thread_body("parent", 15, failures)
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    errors = []
    while True:  # Queue.empty() may say True before a child's put has arrived
        try:
            errors.append(failures.get(timeout=0.5))
        except queue.Empty:
            break
    assert errors == []
    # 4 writers × 15 × 2 events, each chained to the one before: none lost, none forked
    assert AuditEvent.objects.filter(action__startswith="test.").count() == 7 * 15 * 2
    result = audit_chain_verify()
    assert result.ok, result.reason


@pytest.mark.django_db(transaction=True)
def test_a_failed_transaction_releases_the_lock_for_the_next_writer():
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_log(action="test.rolled_back")
        raise RuntimeError("boom")
    assert connection._holds_writer_lock is False

    done = threading.Event()

    def other_writer() -> None:
        try:
            with transaction.atomic():
                audit_log(action="test.after_failure")
            done.set()
        finally:
            connection.close()

    t = threading.Thread(target=other_writer)
    t.start()
    t.join(timeout=10)
    assert done.is_set()


@pytest.mark.django_db(transaction=True)
def test_closing_a_connection_mid_transaction_releases_the_lock():
    got_it = threading.Event()

    def abandon() -> None:
        transaction.atomic().__enter__()  # BEGIN IMMEDIATE, never committed
        audit_log(action="test.abandoned")
        connection.close()

    t = threading.Thread(target=abandon)
    t.start()
    t.join(timeout=10)
    with transaction.atomic():
        audit_log(action="test.next")
        got_it.set()
    assert got_it.is_set()
    assert connection._holds_writer_lock is False


@pytest.mark.django_db(transaction=True)
def test_a_write_outside_a_transaction_takes_and_returns_the_lock(monkeypatch):
    from kjda.db.sqlite import base

    calls: list[str] = []
    lock = base._writer_lock(str(connection.settings_dict["NAME"]))
    acquire, release = lock.acquire, lock.release
    monkeypatch.setattr(lock, "acquire", lambda timeout: (calls.append("acquire"), acquire(timeout)))
    monkeypatch.setattr(lock, "release", lambda: (calls.append("release"), release()))
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM audit_auditevent")
        assert calls == []  # reads never queue
        cur.execute("UPDATE audit_auditchainhead SET last_seq = last_seq WHERE id = 0")
    assert calls == ["acquire", "release"]
    assert os.path.exists(str(connection.settings_dict["NAME"]) + "-writer.lock")


@pytest.mark.django_db
def test_commits_are_durable_wal_with_full_sync():
    # a filed record or an acknowledged OA callback must survive a power cut after the answer
    with connection.cursor() as cursor:
        assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cursor.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


@pytest.mark.django_db
def test_placeholders_are_rewritten_once_per_statement_and_as_django_does():
    from django.db.backends.sqlite3.base import SQLiteCursorWrapper

    from kjda.db.sqlite import base

    query = "SELECT %s, '100%%', %s || '%%s'"
    with connection.cursor() as cur:
        cur.execute(query, [1, "a"])
        assert cur.fetchone() == (1, "100%", "a%s")
        assert base._QMARK_QUERIES[query] == SQLiteCursorWrapper.convert_query(None, query)
        cur.execute(query, [2, "b"])  # from the cache: the same statement, new values
        assert cur.fetchone() == (2, "100%", "b%s")
        cur.execute("SELECT %(n)s", {"n": 3})  # named placeholders are not cached
        assert cur.fetchone() == (3,)


@pytest.mark.parametrize("sql", [
    "INSERT INTO t VALUES (1)",
    "  insert or replace into t values (1)",
    "REPLACE INTO t VALUES (1)",
    "INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET v = excluded.v",  # upsert
    "UPDATE t SET v = 1",
    "DELETE FROM t",
    "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x",
    "WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x WHERE n < 3) "
    "UPDATE t SET v = (SELECT max(n) FROM x)",
    "with x as (select ')' as p, \"select\" from y) delete from t where v in (select p from x)",
    "WITH a AS (SELECT 1), b AS (SELECT (SELECT 2)) REPLACE INTO t SELECT * FROM a, b",
    "/* note */ -- a comment\n DELETE FROM t",
    "CREATE INDEX i ON t (v)",
    "DROP TABLE t",
    "ALTER TABLE t ADD COLUMN w",
    "VACUUM",
])
def test_every_writing_statement_takes_the_writer_lock(sql):
    from kjda.db.sqlite.base import statement_writes

    assert statement_writes(sql)


@pytest.mark.parametrize("sql", [
    "SELECT * FROM t",
    "WITH x AS (DELETE FROM t RETURNING 1) SELECT 1",  # not SQLite's grammar: its main verb is read
    "WITH x AS (SELECT 'INSERT') SELECT * FROM x",
    "with x as (select 1) values (1)",
    "PRAGMA journal_mode",
    "EXPLAIN QUERY PLAN SELECT 1",
    "",
])
def test_reads_do_not_queue_for_the_writer_lock(sql):
    from kjda.db.sqlite.base import statement_writes

    assert not statement_writes(sql)


@pytest.mark.django_db(transaction=True)
def test_a_with_insert_outside_a_transaction_takes_the_lock(monkeypatch):
    from kjda.db.sqlite import base

    calls: list[str] = []
    lock = base._writer_lock(str(connection.settings_dict["NAME"]))
    acquire = lock.acquire
    monkeypatch.setattr(lock, "acquire", lambda timeout: (calls.append("acquire"), acquire(timeout)))
    with connection.cursor() as cur:
        cur.execute("WITH x(n) AS (SELECT 0) UPDATE audit_auditchainhead SET last_seq = last_seq "
                    "WHERE id IN (SELECT n FROM x)")
    assert calls == ["acquire"]


def _hold_file_lock(path: str, ready, release) -> None:  # a stuck process: holds the lock
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    ready.set()
    release.wait(60)


@pytest.mark.django_db(transaction=True)
def test_a_writer_behind_a_stuck_process_gives_up_after_the_timeout(monkeypatch):
    import time

    from django.db import OperationalError

    name = str(connection.settings_dict["NAME"])
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_file_lock, args=(name + "-writer.lock", ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.5)
        started = time.monotonic()
        with (pytest.raises(OperationalError, match="database is locked.*数据库被锁定"),
              transaction.atomic()):
            audit_log(action="test.behind_stuck")
        assert 0.4 < time.monotonic() - started < 5
        assert connection._holds_writer_lock is False
        # a second try waits again (for the same helper thread), and gets through once freed
        with pytest.raises(OperationalError):
            audit_log(action="test.behind_stuck_again")
        release.set()
        holder.join(10)
        with transaction.atomic():
            audit_log(action="test.after_stuck")
    finally:
        release.set()
        holder.join(10)
    from kjda.audit.models import AuditEvent

    assert list(AuditEvent.objects.filter(action__startswith="test.").values_list(
        "action", flat=True)) == ["test.after_stuck"]


@pytest.mark.django_db(transaction=True)
def test_a_lock_freed_after_a_writer_gave_up_is_not_kept_by_its_process(monkeypatch):
    import fcntl
    import time

    from django.db import OperationalError

    name = str(connection.settings_dict["NAME"])
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_file_lock, args=(name + "-writer.lock", ready, release))
    holder.start()
    assert ready.wait(10)
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.3)
    with pytest.raises(OperationalError):
        audit_log(action="test.gives_up")
    release.set()
    holder.join(10)
    # the helper thread got the lock with nobody waiting: it let go, another process can take it
    fd = os.open(name + "-writer.lock", os.O_RDWR)
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new open file: as another process
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, "the file lock stayed held"
                time.sleep(0.01)
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
