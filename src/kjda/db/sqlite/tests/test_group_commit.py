"""Group commit on SQLite: concurrent write transactions share one COMMIT, and each thread still
gets its own result, its own exception, and nothing of a job that failed."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import IntegrityError, connection

from kjda.audit.models import AuditEvent
from kjda.audit.selectors import audit_chain_verify
from kjda.audit.services import audit_log
from kjda.db.sqlite import group_commit
from kjda.db.sqlite.group_commit import in_transaction

pytestmark = [pytest.mark.skipif(not getattr(connection, "group_commit", False),
                                 reason="SQLite group commit (KJDA_SQLITE_BACKEND=group_commit)"),
              pytest.mark.django_db(transaction=True)]


class _Runner:
    """Jobs started one thread each, with the first held inside its transaction until released,
    so that the later ones are queued behind it and form the next batch."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.results: dict[str, object] = {}
        self.threads: list[threading.Thread] = []

    def start(self, name: str, fn) -> None:
        def body() -> None:
            try:
                self.results[name] = in_transaction(fn)
            except Exception as exc:  # noqa: BLE001 - the test looks at it
                self.results[name] = exc
            finally:
                connection.close()

        thread = threading.Thread(target=body)
        self.threads.append(thread)
        thread.start()

    def hold_first(self, name: str) -> None:
        running = threading.Event()

        def held() -> int:
            event = audit_log(action="test.group", object_type="job", object_id=name)
            running.set()
            self.release.wait(10)
            return event.seq

        self.start(name, held)
        assert running.wait(10)

    def queue(self, name: str, fn) -> None:
        before = len(group_commit._queue("default").jobs)
        self.start(name, fn)
        _wait_for(lambda: len(group_commit._queue("default").jobs) > before)

    def finish(self) -> None:
        self.release.set()
        for t in self.threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in self.threads)


def _wait_for(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _count_transactions(monkeypatch) -> list[int]:
    from kjda.db.sqlite import base

    begun: list[int] = []
    original = base.DatabaseWrapper._start_transaction_under_autocommit

    def counting(self):
        begun.append(1)
        return original(self)

    monkeypatch.setattr(base.DatabaseWrapper, "_start_transaction_under_autocommit", counting)
    return begun


def test_queued_jobs_commit_together_and_each_thread_gets_its_own_result(monkeypatch):
    begun = _count_transactions(monkeypatch)
    runner = _Runner()
    runner.hold_first("first")
    for i in range(6):
        runner.queue(f"job{i}", lambda i=i: audit_log(action="test.group", object_type="job",
                                                      object_id=f"job{i}").seq)
    runner.finish()

    assert len(begun) == 2  # the held job's transaction, then one for the six queued behind it
    seqs = {name: r for name, r in runner.results.items()}
    assert sorted(seqs.values()) == list(range(min(seqs.values()), min(seqs.values()) + 7))
    for name, seq in seqs.items():
        assert AuditEvent.objects.get(seq=seq).object_id == name
    assert audit_chain_verify().ok


def test_a_job_that_raises_loses_only_its_own_writes(monkeypatch):
    class Refused(Exception):
        pass

    def refuses():
        audit_log(action="test.group", object_type="job", object_id="refused")
        raise Refused("no")

    runner = _Runner()
    runner.hold_first("first")
    runner.queue("before", lambda: audit_log(action="test.group", object_id="before").seq)
    runner.queue("refused", refuses)
    runner.queue("after", lambda: audit_log(action="test.group", object_id="after").seq)
    runner.finish()

    assert isinstance(runner.results["refused"], Refused)
    assert not AuditEvent.objects.filter(object_id="refused").exists()
    assert AuditEvent.objects.filter(object_id__in=["first", "before", "after"]).count() == 3
    assert runner.results["after"] == runner.results["before"] + 1  # no gap where it was
    assert audit_chain_verify().ok


def test_a_failed_commit_fails_every_job_of_its_batch_and_writes_none():
    def dangling_reference() -> None:
        # SQLite checks deferred foreign keys at COMMIT: the whole transaction is refused
        with connection.cursor() as cur:
            cur.execute("INSERT INTO archives_businessevent (record_id, status, action, occurred_at,"
                        " mandate, description, agent_name) VALUES (987654, '', 'x', "
                        "'2024-01-01 00:00:00', '', '', '')")

    runner = _Runner()
    runner.hold_first("first")
    runner.queue("good", lambda: audit_log(action="test.group", object_id="good").seq)
    runner.queue("bad", dangling_reference)
    runner.finish()

    assert isinstance(runner.results["good"], IntegrityError)
    assert isinstance(runner.results["bad"], IntegrityError)
    assert not AuditEvent.objects.filter(object_id="good").exists()
    assert AuditEvent.objects.filter(object_id="first").exists()
    # and the queue is free for the next writer
    assert isinstance(in_transaction(lambda: audit_log(action="test.next").seq), int)


def test_inside_an_atomic_block_a_job_runs_at_once_in_the_callers_transaction():
    from django.db import transaction

    with transaction.atomic():
        seq = in_transaction(lambda: audit_log(action="test.nested").seq)
        assert connection.in_atomic_block
    assert AuditEvent.objects.get(seq=seq).action == "test.nested"
    assert not group_commit._queue("default").leading


def test_a_leader_waits_for_an_announced_filing_and_commits_both_at_once(monkeypatch, settings):
    from kjda.db.sqlite.group_commit import expecting

    settings.KJDA_SQLITE_COMMIT_DELAY_MS = 10_000  # never reached: the second job comes first
    begun = _count_transactions(monkeypatch)
    results: dict[str, int] = {}

    def first() -> None:
        try:
            with expecting():
                results["first"] = in_transaction(
                    lambda: audit_log(action="test.delay", object_id="first").seq)
        finally:
            connection.close()

    with expecting():  # this thread will file too: the leader should wait for it
        thread = threading.Thread(target=first)
        thread.start()
        _wait_for(lambda: group_commit._queue("default").leading)
        time.sleep(0.05)
        assert "first" not in results  # still waiting for us
        results["second"] = in_transaction(
            lambda: audit_log(action="test.delay", object_id="second").seq)
    thread.join(timeout=10)
    assert len(begun) == 1
    assert sorted(results.values()) == [results["first"], results["first"] + 1]


def test_a_thread_filing_alone_does_not_wait(settings):
    from kjda.db.sqlite.group_commit import expecting

    settings.KJDA_SQLITE_COMMIT_DELAY_MS = 10_000
    started = time.monotonic()
    with expecting():
        in_transaction(lambda: audit_log(action="test.alone"))
    assert time.monotonic() - started < 5
