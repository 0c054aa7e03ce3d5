"""Tasks of the OA intake (django-tasks, run by the `kjda worker` processes that `kjda serve`
starts), the intake loop that archives received inbox events, and the periodic loop that makes the intake self-healing: events whose task was
lost, whose worker was killed (expired lease) or whose retry is due are processed again;
unsent notices are resent; each platform is swept for approvals whose callback was missed."""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from django_tasks import task

from kjda.archives.postings import postings_refresh, postings_refresh_due
from kjda.audit.checkpoints import audit_checkpoint_due
from kjda.connectors.approvals import approval_send_task, approvals_poll, approvals_send_due
from kjda.connectors.directory import directory_sync, directory_sync_due
from kjda.connectors.models import Connector
from kjda.connectors.notices import notice_send, notice_send_task, notices_due
from kjda.connectors.processing import inbox_due, inbox_process, inbox_process_task
from kjda.connectors.services import (
    callbacks_marker,
    connector_sweep,
    replay_guard_prune,
)
from kjda.storage.services import replica_copy_due, storage_sweep, storage_sweep_due

log = logging.getLogger(__name__)
SWEEP_EVERY = timedelta(minutes=5)
# The tasks are defined beside the work they do (processing, notices); these names stay
# importable here for rows queued under them before.
__all__ = ["approval_send_task", "directory_sync_task", "inbox_process_task",
           "notice_send_task"]


@task()
def directory_sync_task(connector_pk: str) -> dict:
    return directory_sync(connector=Connector.objects.get(pk=connector_pk))


def sweep_connector(*, connector_pk: str, now=None) -> int:
    """The periodic loop's sweep of one connector: `connectors.services.connector_sweep`
    (which writes and audits) acting as the system."""
    connector = Connector.objects.get(pk=connector_pk)
    queued = connector_sweep(connector=connector, now=now)
    # Approvals KJDA started there: ask about each one still outstanding (a missed callback).
    approvals_poll(connector=connector, every=timedelta(0))
    return queued


def periodic_once() -> None:
    for pk in inbox_due():
        inbox_process(event_pk=pk)
    for pk in notices_due():
        notice_send(notice_pk=pk)
    approvals_send_due()  # approvals whose task was lost or whose retry is due
    due = timezone.now() - SWEEP_EVERY
    for connector in Connector.objects.filter(enabled=True):
        if connector.last_sweep_at is None or connector.last_sweep_at < due:
            try:
                sweep_connector(connector_pk=str(connector.pk))
            except Exception:  # a platform being down must not stop the loop
                log.warning("sweep of connector %s failed", connector.pk, exc_info=True)
    try:  # outstanding approvals KJDA started, every POLL_EVERY each
        approvals_poll()
    except Exception:
        log.warning("polling outgoing approvals failed", exc_info=True)
    replay_guard_prune()
    directory_sync_due()  # departments and leavers, every KJDA_DIRECTORY_SYNC_MINUTES
    if postings_refresh_due():  # PostgreSQL: searches then rarely wait for a refresh
        postings_refresh()
    if storage_sweep_due():  # orphaned blobs and temp files, every 6 hours
        try:
            storage_sweep()
        except Exception:  # a full disk or a lost mount must not stop the intake loop
            log.exception("orphan sweep failed")
    try:  # blobs still to copy to the replica (KJDA_REPLICA_URL): backfill and retries
        replica_copy_due()
    except Exception:  # an unreachable replica must not stop the intake loop
        log.exception("replica copy failed")
    # Last, so the checkpoint covers the events the loop itself wrote.
    try:  # a signed checkpoint of the audit chain, every KJDA_AUDIT_CHECKPOINT_MINUTES
        audit_checkpoint_due()
    except Exception:  # a refused (tampered) or unwritable checkpoint is logged; go on
        log.exception("audit checkpoint failed")


def _leader_lock():
    """One process of a machine runs the periodic loop: whoever holds the lock file. When that
    process dies the OS releases the lock and another worker takes over."""
    fh = open(settings.DATA_DIR / "periodic.lock", "a")  # noqa: SIM115 - held for life
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        return None
    return fh


def intake_loop(*, index: int = 0, count: int = 1, idle: float = 0.5,
                stop: threading.Event | None = None) -> None:
    """Claim and process received inbox events until `stop` is set. Callbacks only commit
    their inbox rows; this is what archives them. Workers start at different points of the
    due list, so they rarely race for the same event (a lost race costs one failed claim)."""
    stop = stop or threading.Event()
    while not stop.is_set():
        close_old_connections()
        try:
            due = inbox_due(limit=100)
        except Exception:
            log.exception("intake loop: reading the inbox failed")
            stop.wait(5.0)
            continue
        if not due:
            stop.wait(idle)
            continue
        start = index * len(due) // max(1, count)
        for pk in due[start:] + due[:start]:
            _hold_back_while_callbacks_arrive(stop)
            if stop.is_set():
                return
            try:
                inbox_process(event_pk=pk)
            except Exception:  # inbox_process records failures itself; this is the DB failing
                log.exception("intake loop: processing inbox event %s failed", pk)


def _hold_back_while_callbacks_arrive(stop: threading.Event, *, quiet: float = 0.3,
                                      longest: float = 2.0) -> None:
    """Archiving waits (at most `longest` seconds per event) until no callback has been
    committed on this machine for `quiet` seconds: a burst of callbacks gets the CPU and the
    database first; archiving catches up after it."""
    marker = callbacks_marker()
    deadline = time.time() + longest
    while not stop.is_set() and time.time() < deadline:
        try:
            age = time.time() - marker.stat().st_mtime
        except OSError:
            return
        if age >= quiet or age < -60:  # (a clock step back: don't wait on it)
            return
        stop.wait(min(quiet - age, deadline - time.time()))


def start_intake_threads(*, threads: int, index: int = 0, count: int = 1,
                         stop: threading.Event) -> list[threading.Thread]:
    started = []
    for n in range(threads):
        thread = threading.Thread(target=intake_loop, name=f"kjda-intake-{n}", daemon=True,
                                  kwargs={"index": index * threads + n, "count": count * threads,
                                          "stop": stop})
        thread.start()
        started.append(thread)
    return started


def start_periodic_thread(interval: float = 15.0) -> threading.Thread:
    def loop() -> None:
        lock = None
        while True:
            time.sleep(interval)
            lock = lock or _leader_lock()
            if lock is None:
                continue
            close_old_connections()
            try:
                periodic_once()
            except Exception:
                log.exception("periodic intake maintenance failed")

    thread = threading.Thread(target=loop, name="kjda-periodic", daemon=True)
    thread.start()
    return thread
