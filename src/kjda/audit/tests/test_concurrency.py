"""Concurrent writers queue on the chain head: no duplicate seq, no broken chain."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from kjda.audit.models import AuditEvent
from kjda.audit.selectors import audit_chain_verify
from kjda.audit.services import audit_log

THREADS = 8
EVENTS_PER_THREAD = 25


# available_apps: the flush after the test truncates only the audit tables (with CASCADE), which is
# quicker and independent of other apps' raw-SQL tables.
@pytest.mark.django_db(transaction=True, available_apps=["kjda.audit"])
def test_eight_threads_appending_at_once_keep_the_chain_whole():
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            barrier.wait()
            for n in range(EVENTS_PER_THREAD):
                audit_log(action="record.view", object_type="record", object_id=f"{worker}-{n}",
                          detail={"worker": worker, "n": n})
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection; PostgreSQL must drop it

    threads = [threading.Thread(target=append, args=(w,)) for w in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    total = THREADS * EVENTS_PER_THREAD
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == list(
        range(1, total + 1))
    assert AuditEvent.objects.values("object_id").distinct().count() == total
    result = audit_chain_verify(batch_size=37)
    assert result.ok, result.reason
    assert result.checked == total


@pytest.mark.django_db(transaction=True, available_apps=["kjda.audit"])
def test_verifying_while_events_are_appended_reports_no_false_fault():
    done = threading.Event()
    results = []
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for n in range(60):
                audit_log(action="record.view", object_id=str(n))
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()
            connection.close()

    def verify() -> None:
        try:
            while not done.is_set():
                results.append(audit_chain_verify(batch_size=7))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write), threading.Thread(target=verify)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert results and all(r.ok for r in results), [r.reason for r in results if not r.ok]
    assert audit_chain_verify().checked == 60
