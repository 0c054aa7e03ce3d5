"""The lean callback path in front of Django (`kjda.wsgi.application`): accepted deliveries are
committed to the inbox before they are answered, with one row per event; everything else is
answered by the Django view exactly as before (refused and audited)."""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from django.db import connections

from kjda.audit.models import AuditEvent
from kjda.connectors import fastpath, services, views
from kjda.connectors.models import Connector, InboxEvent, ReplayGuard
from kjda.connectors.services import connector_create, connector_update_settings
from kjda.connectors.wxcrypto import signature
from kjda_oasim.dingtalk import DingTalkSim

pytestmark = pytest.mark.django_db(transaction=True)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        return


@pytest.fixture
def server():
    from kjda.wsgi import application

    def app(environ, start_response):  # each request thread closes its connection after
        try:
            return list(application(environ, start_response))
        finally:
            connections.close_all()

    httpd = make_server("127.0.0.1", 0, app, server_class=_Server, handler_class=_Quiet)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    fastpath.WRITER.release()


@pytest.fixture
def view_calls(monkeypatch):
    """Callbacks that reached the Django view (the slow path)."""
    calls = []
    real = views.callback_receive

    def counted(**kwargs):
        calls.append(kwargs["connector_id"])
        return real(**kwargs)

    monkeypatch.setattr(views, "callback_receive", counted)
    return calls


@pytest.fixture
def ding(server):
    sim = DingTalkSim()
    connector = connector_create(kind="dingtalk", name="钉钉", settings=sim.connector_settings())
    return sim, connector, f"{server}/oa/{connector.pk}/callback"


def _delivery(sim: DingTalkSim, payload: dict, *, ts: str | None = None) -> dict:
    """One signed, encrypted delivery as DingTalk sends it (kept, so it can be replayed)."""
    plain = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    ts = ts or str(int(time.time() * 1000))
    nonce = secrets.token_hex(8)
    encrypt = sim.crypt.encrypt(plain)
    return {"params": {"signature": signature(sim.token, ts, nonce, encrypt), "timestamp": ts,
                       "nonce": nonce},
            "content": json.dumps({"encrypt": encrypt}),
            "headers": {"Content-Type": "application/json; charset=utf-8"}}


def _post(url: str, delivery: dict) -> httpx.Response:
    return httpx.post(url + "?" + urllib.parse.urlencode(delivery["params"]),
                      content=delivery["content"], headers=delivery["headers"], timeout=30)


def _approved(sim: DingTalkSim, n: int = 1) -> dict:
    return {"EventType": "bpms_instance_change", "processInstanceId": f"PI-{n}",
            "processCode": "PROC-REIMB-001", "type": "finish", "result": "agree",
            "finishTime": 1700000000000 + n, "title": f"报销-{n}"}


def test_accepted_callback_is_committed_before_the_answer_without_django(ding, view_calls,
                                                                         monkeypatch):
    sim, connector, url = ding
    monkeypatch.setattr(services, "_last_mark", 0.0)  # an earlier test's mark may be < 0.1 s old
    services.callbacks_marker().unlink(missing_ok=True)
    resp = _post(url, _delivery(sim, _approved(sim)))
    assert resp.status_code == 200 and sim.acknowledged(resp.content)
    # Visible from this thread's own connection: committed, not merely written.
    event = InboxEvent.objects.get()
    assert (event.connector_id, event.instance_id, event.action, event.status, event.source) == (
        connector.pk, "PI-1", "approved", "received", "callback")
    assert event.process_code == "PROC-REIMB-001" and event.payload["title"] == "报销-1"
    assert event.event_type == "bpms_instance_change" and event.received_at is not None
    assert ReplayGuard.objects.filter(connector=connector).count() == 1
    assert view_calls == []
    assert services.callbacks_marker().exists()  # the task workers hold back meanwhile


def test_the_same_event_delivered_twice_gives_one_inbox_row(ding, view_calls):
    sim, _connector, url = ding
    for _ in range(2):  # the OA retrying: new timestamp, nonce and ciphertext, same event
        resp = _post(url, _delivery(sim, _approved(sim)))
        assert resp.status_code == 200 and sim.acknowledged(resp.content)
    assert InboxEvent.objects.count() == 1
    assert view_calls == []


def test_concurrent_callbacks_share_commits_and_all_land(ding, view_calls):
    sim, _connector, url = ding
    deliveries = [_delivery(sim, _approved(sim, n)) for n in range(40)]
    deliveries += deliveries[:5]  # byte-identical replays racing their originals
    with ThreadPoolExecutor(max_workers=len(deliveries)) as pool:
        replies = list(pool.map(lambda d: _post(url, d), deliveries))
    statuses = sorted(r.status_code for r in replies)
    assert statuses == [200] * 45
    assert all(sim.acknowledged(r.content) for r in replies)
    assert InboxEvent.objects.count() == 40
    assert set(InboxEvent.objects.values_list("instance_id", flat=True)) == {
        f"PI-{n}" for n in range(40)}
    assert AuditEvent.objects.filter(action="oa.callback_replayed").count() == 5


def test_a_byte_identical_redelivery_is_acknowledged_audited_and_not_archived_again(
        ding, view_calls):
    sim, connector, url = ding
    delivery = _delivery(sim, _approved(sim))
    assert _post(url, delivery).status_code == 200
    replay = _post(url, delivery)
    # the platform's retry gets its success answer, or it would retry until it gives up
    assert replay.status_code == 200 and sim.acknowledged(replay.content)
    assert InboxEvent.objects.count() == 1
    audit = AuditEvent.objects.get(action="oa.callback_replayed")
    assert audit.object_id == str(connector.pk) and audit.outcome == "success"
    assert not AuditEvent.objects.filter(action="oa.callback_rejected").exists()


@pytest.mark.parametrize("case", ["forged", "stale", "wrong_owner"])
def test_refusals_are_4xx_audited_and_write_nothing(ding, view_calls, case):
    sim, connector, url = ding
    if case == "forged":
        delivery = _delivery(DingTalkSim(), _approved(sim))  # other keys
    elif case == "stale":
        delivery = _delivery(sim, _approved(sim), ts=str(int((time.time() - 3600) * 1000)))
    else:
        sim.owner_key = "another-corp"
        delivery = _delivery(sim, _approved(sim))
    resp = _post(url, delivery)
    assert 400 <= resp.status_code < 500 and not sim.acknowledged(resp.content)
    assert not InboxEvent.objects.exists() and not ReplayGuard.objects.exists()
    audit = AuditEvent.objects.get(action="oa.callback_rejected")
    assert audit.outcome == "denied" and audit.object_id == str(connector.pk)
    assert view_calls == [connector.pk]


def test_setting_changes_and_disabling_apply_at_once(ding, view_calls):
    sim, connector, url = ding
    assert _post(url, _delivery(sim, _approved(sim, 1))).status_code == 200  # cached now
    old_token = sim.token
    sim.token = "new-token-" + secrets.token_hex(4)
    connector_update_settings(connector=connector, settings={"token": sim.token})
    resp = _post(url, _delivery(sim, _approved(sim, 2)))
    assert resp.status_code == 200 and sim.acknowledged(resp.content)
    sim.token = old_token
    assert _post(url, _delivery(sim, _approved(sim, 3))).status_code == 401
    Connector.objects.filter(pk=connector.pk).update(enabled=False)
    gone = _post(url, _delivery(sim, _approved(sim, 4)))
    assert gone.status_code == 404 and gone.json()["code"] == "connector_not_found"
    assert set(InboxEvent.objects.values_list("instance_id", flat=True)) == {"PI-1", "PI-2"}


def test_handshake_is_answered_and_other_paths_go_to_django(ding, server, view_calls):
    sim, _connector, url = ding
    resp = _post(url, _delivery(sim, {"EventType": "check_url"}))
    assert resp.status_code == 200 and sim.acknowledged(resp.content)
    assert not InboxEvent.objects.exists() and view_calls == []
    unknown = httpx.post(f"{server}/oa/00000000-0000-0000-0000-000000000000/callback",
                         content=b"{}", timeout=30)
    assert unknown.status_code == 404
    assert httpx.get(f"{server}/login/", timeout=30).status_code == 200


def test_a_failed_group_commit_never_answers_success_by_itself(ding, view_calls, monkeypatch):
    sim, connector, url = ding

    def broken(batch):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fastpath, "_write", broken)
    resp = _post(url, _delivery(sim, _approved(sim)))
    # The Django view did it again, the slow way, and committed before answering.
    assert resp.status_code == 200 and sim.acknowledged(resp.content)
    assert view_calls == [connector.pk]
    assert InboxEvent.objects.count() == 1


def test_a_commit_that_takes_too_long_is_answered_503(ding, view_calls, monkeypatch):
    sim, _connector, url = ding
    monkeypatch.setattr(fastpath, "COMMIT_WAIT", 0.2)
    real = fastpath._write

    def slow(batch):
        time.sleep(1.0)
        return real(batch)

    monkeypatch.setattr(fastpath, "_write", slow)
    resp = _post(url, _delivery(sim, _approved(sim)))
    assert resp.status_code == 503 and not sim.acknowledged(resp.content)
    time.sleep(1.5)  # committed after all: the OA's retry finds the event, nothing doubles
    resp = _post(url, _delivery(sim, _approved(sim)))
    assert resp.status_code in (200, 503)
    time.sleep(1.5)
    assert InboxEvent.objects.count() == 1


def test_on_sqlite_a_writer_in_another_process_is_waited_for(ding, view_calls):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's single writer lock")
    import sqlite3

    sim, _connector, url = ding
    other = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # e.g. a task worker filing a record
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(_post, url, _delivery(sim, _approved(sim)))
        time.sleep(0.5)
        assert not pending.done()  # not answered while its row can't be committed
        other.execute("COMMIT")
        resp = pending.result(timeout=30)
    other.close()
    assert resp.status_code == 200 and sim.acknowledged(resp.content)
    assert InboxEvent.objects.count() == 1 and view_calls == []


def _wsgi(url_path: str, delivery: dict) -> tuple[str, bytes]:
    """Call the WSGI application in this thread (so its per-thread connector cache is used)."""
    import io

    from kjda.wsgi import application

    body = delivery["content"].encode()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": url_path, "SCRIPT_NAME": "",
               "QUERY_STRING": urllib.parse.urlencode(delivery["params"]),
               "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
               "wsgi.input": io.BytesIO(body), "REMOTE_ADDR": "127.0.0.1", "SERVER_NAME": "t",
               "SERVER_PORT": "80", "HTTP_HOST": "t", "wsgi.url_scheme": "http",
               "wsgi.errors": io.StringIO()}
    status: list[str] = []
    out = b"".join(application(environ, lambda s, h: status.append(s)))
    return status[0], out


def test_a_connector_changed_after_a_thread_cached_it_is_caught_in_the_commit(ding, view_calls):
    sim, connector, _url = ding
    path = f"/oa/{connector.pk}/callback"
    status, body = _wsgi(path, _delivery(sim, _approved(sim, 1)))
    assert status.startswith("200") and sim.acknowledged(body) and view_calls == []
    old = _delivery(sim, _approved(sim, 2))  # signed with the token the thread has cached
    connector_update_settings(connector=connector, settings={"token": "rotated-token"})
    status, _body = _wsgi(path, old)
    assert status.startswith("401")  # the view, with the new token, refused it
    assert view_calls == [connector.pk]
    sim.token = "rotated-token"
    status, body = _wsgi(path, _delivery(sim, _approved(sim, 3)))
    assert status.startswith("200") and sim.acknowledged(body)
    Connector.objects.filter(pk=connector.pk).update(enabled=False)
    status, _body = _wsgi(path, _delivery(sim, _approved(sim, 4)))
    assert status.startswith("404")
    assert set(InboxEvent.objects.values_list("instance_id", flat=True)) == {"PI-1", "PI-3"}
    assert AuditEvent.objects.filter(action="oa.callback_rejected").count() == 1
