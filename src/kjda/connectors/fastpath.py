"""The lean callback path: `/oa/<connector id>/callback` answered before Django's middleware and
URL stack, with the inbox rows of concurrent callbacks committed together (group commit).

The semantics are those of `services.callback_receive`, which stays the reference: the
callback is verified and decrypted over the exact bytes by the connector's own class (built once
per thread), its replay-guard and inbox rows are committed before the vendor's answer is sent,
and inside that commit the connector's row is compared with the one the callback was verified
with, so a changed or disabled connector applies at once. Only the accepted case is handled
here. Everything else — a refusal (bad signature, stale, wrong owner: audited
4xx), a byte-identical replay (answered as delivered, audited, not archived again), an unknown or disabled connector, an oversized or
unusual request, a database error — is handed to the Django view with the body it had, which
does it all again the slow way.

Group commit: request threads put their rows on one queue per process; a writer thread takes
whatever is queued, writes it in one transaction (`INSERT … ON CONFLICT DO NOTHING` on the
replay key and on (connector, event id)) and commits, then wakes each request, which only then
answers. One commit serves every callback that arrived while the previous one was running.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import queue
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from kjda.connectors.base import CallbackReply, CallbackRequest, OAConnector
from kjda.connectors.models import Connector, InboxEvent, ReplayGuard
from kjda.connectors.services import connector_build, inbox_event_values
from kjda.connectors.views import callback_query
from kjda.errors import DomainError

log = logging.getLogger(__name__)
CALLBACK_PATH = re.compile(r"/oa/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
                           r"/callback")
MAX_BODY = 256 * 1024  # larger deliveries (a Weaver push with big forms) take the Django view
MAX_BATCH = 256
COMMIT_WAIT = 30.0  # seconds a request waits for its commit before answering 503
STATUS_TEXT = {200: "200 OK", 503: "503 Service Unavailable"}


def _held_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass
class _Pending:
    connector_pk: uuid.UUID
    replay_key: str
    rows: list[tuple[str, dict]]  # (event id, inbox_event_values)
    connector_key: tuple = ()  # the connector row the callback was verified with
    # Released by the writer once `result` is set (a bare lock: cheaper than an Event).
    done: threading.Lock = field(default_factory=_held_lock)
    result: str = ""  # committed | replayed | error


class InboxWriter:
    """One per process: commits the queued callbacks of all request threads together."""

    def __init__(self) -> None:
        self._start_lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._pid = 0

    def _ensure_thread(self) -> None:
        if self._pid != os.getpid():
            with self._start_lock:
                if self._pid != os.getpid():  # first use in this process (or after a fork)
                    self._queue = queue.SimpleQueue()
                    threading.Thread(target=self._run, name="kjda-inbox-writer",
                                     daemon=True).start()
                    self._pid = os.getpid()

    def commit(self, item: _Pending, *, timeout: float | None = None) -> str:
        self._ensure_thread()
        self._queue.put(item)
        if not item.done.acquire(timeout=COMMIT_WAIT if timeout is None else timeout):
            return "timeout"
        return item.result

    def release(self) -> None:
        """Close the writer thread's database connection now (it reconnects when needed)."""
        if self._pid == os.getpid():
            self.commit(_Pending(connector_pk=uuid.UUID(int=0), replay_key="", rows=[],
                                 result="release"))

    def _run(self) -> None:
        while True:
            try:
                batch = [self._queue.get(timeout=2.0)]
            except queue.Empty:
                connections.close_all()  # idle: don't hold a connection
                continue
            while len(batch) < MAX_BATCH:  # everything that queued meanwhile: one commit
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            releases = [item for item in batch if item.result == "release"]
            batch = [item for item in batch if item.result != "release"]
            if batch:
                self._commit(batch)
            if releases:
                connections.close_all()
                for item in releases:
                    item.done.release()

    @staticmethod
    def _commit(batch: list[_Pending]) -> None:
        try:
            results = _write(batch)
        except Exception:
            log.exception("inbox group commit of %s callbacks failed", len(batch))
            connections.close_all()
            results = ["error"] * len(batch)
        if "committed" in results:  # before the answers: a worker must hold back already
            callbacks_mark_busy()
        for item, result in zip(batch, results, strict=True):
            item.result = result
            item.done.release()


_last_mark = 0.0


def callbacks_mark_busy() -> None:
    """Tell this machine's task workers that callbacks are arriving (the marker file's mtime,
    touched at most every 0.1 s): their intake loops hold back meanwhile."""
    global _last_mark
    now = time.monotonic()
    if now - _last_mark < 0.1:
        return
    _last_mark = now
    try:
        os.utime(callbacks_marker(), None)
    except FileNotFoundError:
        with contextlib.suppress(OSError):
            callbacks_marker().touch()
    except OSError:
        pass


def callbacks_marker() -> Path:
    from django.conf import settings

    return Path(settings.DATA_DIR) / "callbacks.busy"


def _write(batch: list[_Pending]) -> list[str]:
    """Write one batch in one transaction. Returns each item's result; an item whose replay key
    is already known (now or earlier in the batch) writes nothing. (On SQLite, writers of all
    processes queue on the backend's writer lock: `kjda.db.sqlite`.)"""
    connection = connections["default"]
    now = timezone.now()
    results = ["committed"] * len(batch)
    with transaction.atomic(), connection.cursor() as cursor:
        # Verified with the connector as it is now? (Changed or disabled since: the view
        # handles the callback again with the new row.)
        current = _connector_rows(cursor, connection, {item.connector_pk for item in batch})
        for i, item in enumerate(batch):
            if current.get(item.connector_pk) != item.connector_key:
                results[i] = "stale"
        keyed = [(i, str(item.connector_pk), item.replay_key[:200])
                 for i, item in enumerate(batch) if item.replay_key and results[i] == "committed"]
        if keyed:
            fresh = _insert_replay_keys(cursor, connection, keyed, now)
            seen: set[tuple[str, str]] = set()
            for i, pk, key in keyed:
                if (pk, key) not in fresh or (pk, key) in seen:
                    results[i] = "replayed"
                seen.add((pk, key))
        rows = [(item.connector_pk, event_id, values)
                for item, result in zip(batch, results, strict=True)
                if result == "committed" for event_id, values in item.rows]
        if rows:
            _insert_inbox_rows(cursor, connection, rows, now)
    return results


def _prep(model, name: str, value, connection):
    return model._meta.get_field(name).get_db_prep_save(value, connection)


def _insert_replay_keys(cursor, connection, keyed, now) -> set[tuple[str, str]]:
    table = connection.ops.quote_name(ReplayGuard._meta.db_table)
    values, params = [], []
    seen_at = _prep(ReplayGuard, "seen_at", now, connection)
    for _i, pk, key in keyed:
        values.append("(%s, %s, %s)")
        params += [_prep(ReplayGuard, "connector", uuid.UUID(pk), connection), key, seen_at]
    cursor.execute(f"INSERT INTO {table} (connector_id, key, seen_at) VALUES "  # noqa: S608 - our table
                   f"{', '.join(values)} ON CONFLICT (connector_id, key) DO NOTHING "
                   "RETURNING connector_id, key", params)
    return {(str(uuid.UUID(str(pk))), key) for pk, key in cursor.fetchall()}


INBOX_COLUMNS = ("connector_id", "event_id", "instance_id", "process_code", "action",
                 "event_type", "payload", "status", "attempts", "last_error", "source",
                 "received_at")


def _insert_inbox_rows(cursor, connection, rows, now) -> None:
    table = connection.ops.quote_name(InboxEvent._meta.db_table)
    received_at = _prep(InboxEvent, "received_at", now, connection)
    placeholders = "(" + ", ".join(["%s"] * len(INBOX_COLUMNS)) + ")"
    params: list = []
    for connector_pk, event_id, v in rows:
        params += [_prep(InboxEvent, "connector", connector_pk, connection), event_id[:200],
                   v["instance_id"], v["process_code"], v["action"], v["event_type"],
                   _prep(InboxEvent, "payload", v["payload"], connection), v["status"], 0, "",
                   "callback", received_at]
    cursor.execute(f"INSERT INTO {table} ({', '.join(INBOX_COLUMNS)}) VALUES "  # noqa: S608 - our table
                   f"{', '.join([placeholders] * len(rows))} "
                   "ON CONFLICT (connector_id, event_id) DO NOTHING", params)


WRITER = InboxWriter()


# --- the request side -------------------------------------------------------------------------

def _connector_rows(cursor, connection, pks) -> dict[uuid.UUID, tuple]:
    """(kind, settings, secrets) of the enabled connectors among `pks`."""
    table = connection.ops.quote_name(Connector._meta.db_table)
    pks = list(pks)
    cursor.execute(f"SELECT id, kind, settings, secrets_encrypted FROM {table} "  # noqa: S608 - our table
                   f"WHERE enabled AND id IN ({', '.join(['%s'] * len(pks))})",
                   [_prep(Connector, "id", pk, connection) for pk in pks])
    return {uuid.UUID(str(pk)): (kind, settings if isinstance(settings, str) else
                                 json.dumps(settings, sort_keys=True), secrets or "")
            for pk, kind, settings, secrets in cursor.fetchall()}


_built = threading.local()  # per thread: connector pk → (row, built connector)


def _connector_cached(connector_pk: uuid.UUID) -> tuple[OAConnector, tuple] | None:
    return getattr(_built, "connectors", {}).get(connector_pk)


def _connector_read(connector_pk: uuid.UUID) -> tuple[OAConnector, tuple] | None:
    """The enabled connector as its row is now, built once per thread per row."""
    connection = connections["default"]
    with connection.cursor() as cursor:
        row = _connector_rows(cursor, connection, [connector_pk]).get(connector_pk)
    cache = getattr(_built, "connectors", None)
    if cache is None:
        cache = _built.connectors = {}
    if row is None:
        cache.pop(connector_pk, None)
        return None
    found = cache.get(connector_pk)
    if found is None or found[1] != row:
        kind, settings, secrets = row
        if len(cache) >= 16:
            cache.clear()
        found = cache[connector_pk] = (connector_build(Connector(
            pk=connector_pk, kind=kind, settings=json.loads(settings) if settings else {},
            secrets_encrypted=secrets)), row)
    return found


def _headers(environ: dict) -> dict[str, str]:
    """Lower-case header names, as `HttpRequest.headers` gives them to the Django view."""
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
               if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers


def callback_fast(environ: dict, connector_pk: uuid.UUID, body: bytes) -> CallbackReply | None:
    """The accepted case of a callback, or None: let the Django view answer it."""
    # The connector as this thread last read it; its row is compared again inside the commit.
    found = _connector_cached(connector_pk)
    fresh = found is None
    if found is None:
        try:
            found = _connector_read(connector_pk)
        except DatabaseError:
            connections["default"].close()
            return None
        if found is None:
            return None
    oa, row = found
    raw_query = environ.get("QUERY_STRING", "")
    path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
            ).encode("iso-8859-1").decode("utf-8", "replace")
    request = CallbackRequest(
        method=environ.get("REQUEST_METHOD", "POST"), path=path, query=callback_query(raw_query),
        headers=_headers(environ), body=body, remote_addr=environ.get("REMOTE_ADDR", ""),
        raw_query=raw_query)
    try:
        outcome = oa.handle_callback(request)
    except DomainError:  # refused: the view refuses it again, audits it and answers 4xx
        return None
    if not outcome.replay_key and not outcome.events:  # a handshake: nothing to commit
        try:
            if fresh or _connector_read(connector_pk) == found:
                return outcome.reply
        except DatabaseError:
            connections["default"].close()
        return None
    item = _Pending(connector_pk=connector_pk, replay_key=outcome.replay_key,
                    rows=[(e.event_id, inbox_event_values(e)) for e in outcome.events],
                    connector_key=row)
    result = WRITER.commit(item)
    if result == "committed":
        return outcome.reply
    if result == "timeout":  # perhaps committed later: the OA retries, the inbox dedupes
        return CallbackReply(503, b'{"code":"busy","message":"try again"}')
    # stale (the connector changed: the view uses the new row), replayed (the view answers it as
    # delivered and audits it) or the batch failed (the view does it all again)
    return None


class CallbackApp:
    """WSGI middleware in front of the Django application: callbacks take the lean path."""

    def __init__(self, app) -> None:
        self.app = app

    def __call__(self, environ: dict, start_response):
        match = CALLBACK_PATH.fullmatch(environ.get("PATH_INFO", ""))
        if match is None or environ.get("REQUEST_METHOD") not in ("POST", "GET"):
            return self.app(environ, start_response)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(length) if length else b""
        reply = callback_fast(environ, uuid.UUID(match.group(1)), body)
        if reply is None:
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            return self.app(environ, start_response)
        start_response(STATUS_TEXT.get(reply.status, f"{reply.status} OK"),
                       [("Content-Type", reply.content_type),
                        ("Content-Length", str(len(reply.body)))])
        return [reply.body]
