"""The lean callback path: `/oa/<connector id>/callback` answered before Django's middleware and
URL stack, with the inbox rows of concurrent callbacks committed together (group commit).
On when `KJDA_CALLBACK_FASTPATH=on` (the default; `kjda.wsgi`); off, the Django view answers.

Both paths write through one service, `services.inbox_events_commit` (replay guard, inbox rows,
the audit of a replay, one transaction). This path verifies and decrypts the callback over the
exact bytes with the connector's own class (built once per thread), hands the verified delivery
with the connector row it was verified with to the writer thread, and answers only after the
commit; inside it the row is compared again, so a changed or disabled connector applies at once.
Everything else — a refusal (bad signature, stale, wrong owner: audited 4xx), an unknown or
disabled connector, a stale connector, an oversized or unusual request, a database error — is
handed to the Django view with the body it had, which does it all again the slow way.

Group commit: request threads put their deliveries on one queue per process; a writer thread
takes whatever is queued and commits it with one `inbox_events_commit`, then wakes each request.
One commit serves every callback that arrived while the previous one was running.
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

from django.db import DatabaseError, connections

from kjda.connectors.base import CallbackReply, CallbackRequest, OAConnector
from kjda.connectors.models import Connector
from kjda.connectors.services import (
    InboxDelivery,
    callback_connector_keys,
    connector_build,
    inbox_delivery,
    inbox_events_commit,
)
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
    delivery: InboxDelivery | None  # None: a request to close the writer's connection
    # Released by the writer once `result` is set (a bare lock: cheaper than an Event).
    done: threading.Lock = field(default_factory=_held_lock)
    result: str = ""  # committed | replayed | stale | error | release


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
            self.commit(_Pending(delivery=None, result="release"))

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
            results = _write([item.delivery for item in batch if item.delivery is not None])
        except Exception:
            log.exception("inbox group commit of %s callbacks failed", len(batch))
            connections.close_all()
            results = ["error"] * len(batch)
        for item, result in zip(batch, results, strict=True):
            item.result = result
            item.done.release()


def _write(deliveries: list[InboxDelivery]) -> list[str]:
    return inbox_events_commit(batch=deliveries)


WRITER = InboxWriter()


# --- the request side -------------------------------------------------------------------------

_built = threading.local()  # per thread: connector pk → (row, built connector)


def _connector_cached(connector_pk: uuid.UUID) -> tuple[OAConnector, tuple] | None:
    return getattr(_built, "connectors", {}).get(connector_pk)


def _connector_read(connector_pk: uuid.UUID) -> tuple[OAConnector, tuple] | None:
    """The enabled connector as its row is now, built once per thread per row."""
    row = callback_connector_keys(connector_pks=[connector_pk]).get(connector_pk)
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
    result = WRITER.commit(_Pending(delivery=inbox_delivery(
        connector_pk=connector_pk, kind=oa.kind, outcome=outcome, request=request,
        connector_key=row)))
    if result in ("committed", "replayed"):  # (a replay was audited in the commit)
        return outcome.reply
    if result == "timeout":  # perhaps committed later: the OA retries, the inbox dedupes
        return CallbackReply(503, b'{"code":"busy","message":"try again"}')
    # stale (the connector changed: the view uses the new row) or the batch failed (the view
    # does it all again)
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
