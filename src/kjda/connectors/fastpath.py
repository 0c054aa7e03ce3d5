"""The lean callback path: `/oa/<connector id>/callback` answered before Django's middleware and
URL stack, with the inbox rows of concurrent callbacks committed together (group commit).

The semantics are those of `services.callback_receive`, which stays the reference: the
connector row is read on every callback (a changed or disabled connector applies at once), the
callback is verified and decrypted over the exact bytes by the connector's own class, and its
replay-guard and inbox rows are committed before the vendor's answer is sent. Only the accepted
case is handled here. Everything else — a refusal (bad signature, stale, wrong owner: audited
4xx), a byte-identical replay (409, audited), an unknown or disabled connector, an oversized or
unusual request, a database error — is handed to the Django view with the body it had, which
does it all again the slow way.

Group commit: request threads put their rows on one queue per process; a writer thread takes
whatever is queued, writes it in one transaction (`INSERT … ON CONFLICT DO NOTHING` on the
replay key and on (connector, event id)) and commits, then wakes each request, which only then
answers. One commit serves every callback that arrived while the previous one was running.
"""

from __future__ import annotations

import io
import json
import logging
import os
import queue
import re
import threading
import uuid
from dataclasses import dataclass, field

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
        for item, result in zip(batch, results, strict=True):
            item.result = result
            item.done.release()


def _write(batch: list[_Pending]) -> list[str]:
    """Write one batch in one transaction. Returns each item's result; an item whose replay key
    is already known (now or earlier in the batch) writes nothing. (On SQLite, writers of all
    processes queue on the backend's writer lock: `kjda.db_sqlite`.)"""
    connection = connections["default"]
    now = timezone.now()
    keyed = [(i, str(item.connector_pk), item.replay_key[:200])
             for i, item in enumerate(batch) if item.replay_key]
    results = ["committed"] * len(batch)
    with transaction.atomic(), connection.cursor() as cursor:
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

_built = threading.local()


def _connector(connector_pk: uuid.UUID) -> OAConnector | None:
    """The enabled connector, read on every callback (one indexed SELECT), built once per
    thread while its row stays the same: a changed or disabled connector applies at once."""
    connection = connections["default"]
    table = connection.ops.quote_name(Connector._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT kind, settings, secrets_encrypted FROM {table} "  # noqa: S608 - our table
                       "WHERE id = %s AND enabled", [_prep(Connector, "id", connector_pk,
                                                           connection)])
        row = cursor.fetchone()
    if row is None:
        return None
    cache = getattr(_built, "connectors", None)
    if cache is None:
        cache = _built.connectors = {}
    key = (connector_pk, row[0], str(row[1]), row[2])
    oa = cache.get(key)
    if oa is None:
        kind, settings, secrets = row
        if isinstance(settings, str):
            settings = json.loads(settings)
        if len(cache) >= 16:
            cache.clear()
        oa = cache[key] = connector_build(Connector(pk=connector_pk, kind=kind,
                                                    settings=settings or {},
                                                    secrets_encrypted=secrets or ""))
    return oa


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
    try:
        found = _connector(connector_pk)
    except DatabaseError:
        connections["default"].close()
        return None
    if found is None:
        return None
    raw_query = environ.get("QUERY_STRING", "")
    path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
            ).encode("iso-8859-1").decode("utf-8", "replace")
    request = CallbackRequest(
        method=environ.get("REQUEST_METHOD", "POST"), path=path, query=callback_query(raw_query),
        headers=_headers(environ), body=body, remote_addr=environ.get("REMOTE_ADDR", ""),
        raw_query=raw_query)
    try:
        outcome = found.handle_callback(request)
    except DomainError:  # refused: the view refuses it again, audits it and answers 4xx
        return None
    if not outcome.replay_key and not outcome.events:
        return outcome.reply  # a handshake: nothing to commit
    item = _Pending(connector_pk=connector_pk, replay_key=outcome.replay_key,
                    rows=[(e.event_id, inbox_event_values(e)) for e in outcome.events])
    result = WRITER.commit(item)
    if result == "committed":
        return outcome.reply
    if result == "timeout":  # perhaps committed later: the OA retries, the inbox dedupes
        return CallbackReply(503, b'{"code":"busy","message":"try again"}')
    return None  # replayed (the view answers 409 and audits it) or the batch failed


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
