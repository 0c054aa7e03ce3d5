"""A callback sent with chunked transfer encoding (no Content-Length) through the production
server (granian, as `kjda serve` runs it): accepted, answered and queued in the inbox exactly
like the same callback with a Content-Length, on the lean path and on the plain Django view.
(Django reads CONTENT_LENGTH only: before `kjda.wsgi.BufferedBody` the view saw an empty body
and refused the callback as unsigned.)"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import httpx
import pytest
from django.db import connection

import kjda
from kjda.audit.models import AuditEvent
from kjda.connectors.models import InboxEvent, ReplayGuard
from kjda.connectors.services import connector_create
from kjda.connectors.tests.test_fastpath import _approved, _delivery
from kjda_oasim.dingtalk import DingTalkSim

pytestmark = pytest.mark.django_db(transaction=True)


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    user = urllib.parse.quote(db.get("USER") or "postgres")
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


@contextlib.contextmanager
def _granian(fastpath: str):
    """`kjda.wsgi:application` served by granian in a subprocess, on this test's database."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": _database_url(), "KJDA_CALLBACK_FASTPATH": fastpath,
           "PYTHONPATH": str(Path(kjda.__file__).resolve().parents[1]),
           "DJANGO_SETTINGS_MODULE": "kjda.settings"}
    granian = Path(sys.executable).with_name("granian")
    proc = subprocess.Popen([str(granian), "--interface", "wsgi", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "1", "--blocking-threads", "4",
                             "kjda.wsgi:application"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while True:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"granian did not start: {proc.stderr.read()[-2000:]!r}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _post(url: str, delivery: dict, *, chunked: bool) -> httpx.Response:
    body = delivery["content"].encode()
    # An iterator has no length: httpx sends it with Transfer-Encoding: chunked.
    content = iter([body[:7], body[7:]]) if chunked else body
    return httpx.post(url + "?" + urllib.parse.urlencode(delivery["params"]), content=content,
                      headers=delivery["headers"], timeout=60)


def _row(event: InboxEvent) -> tuple:
    return (event.action, event.status, event.source, event.process_code, event.event_type,
            {k: v for k, v in event.payload.items()
             if k not in ("processInstanceId", "finishTime", "title")})


@pytest.mark.parametrize("fastpath", ["on", "off"])
def test_a_chunked_callback_is_accepted_and_queued_like_one_with_a_length(fastpath):
    sim = DingTalkSim()
    connector = connector_create(kind="dingtalk", name="钉钉", settings=sim.connector_settings())
    with _granian(fastpath) as base:
        url = f"{base}/oa/{connector.pk}/callback"
        sized = _post(url, _delivery(sim, _approved(sim, 1)), chunked=False)
        chunked_delivery = _delivery(sim, _approved(sim, 2))
        chunked = _post(url, chunked_delivery, chunked=True)
        assert sized.status_code == 200 and sim.acknowledged(sized.content)
        assert chunked.status_code == 200 and sim.acknowledged(chunked.content), chunked.content
        replay = _post(url, chunked_delivery, chunked=True)  # a chunked byte-identical replay
        assert replay.status_code == 200 and sim.acknowledged(replay.content)
    first, second = (InboxEvent.objects.get(instance_id=f"PI-{n}") for n in (1, 2))
    assert _row(second) == _row(first)
    assert second.status == "received" and second.payload["title"] == "报销-2"
    assert ReplayGuard.objects.filter(connector=connector).count() == 2
    assert InboxEvent.objects.count() == 2
    assert AuditEvent.objects.filter(action="oa.callback_replayed").count() == 1
    assert not AuditEvent.objects.filter(action="oa.callback_rejected").exists()
