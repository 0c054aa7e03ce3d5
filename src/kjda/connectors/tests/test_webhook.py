"""Standard Webhooks verification (oa-protocols.md §5.2, with the spec vector) and the generic
signed-webhook connector, against the `standardwebhooks` library as an independent peer."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from kjda.connectors import signing
from kjda.connectors.base import CallbackRejected, CallbackRequest, ConnectorError
from kjda.connectors.webhook import WebhookConnector

SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID, SPEC_TS = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
SPEC_HEADERS = {"webhook-id": SPEC_ID, "webhook-timestamp": str(SPEC_TS),
                "webhook-signature": SPEC_SIG}
PDF = "%PDF-1.4 发票 ".encode() * 5000


@pytest.fixture
def pinned(monkeypatch):
    """Pin the verifier's clock to the spec vector's timestamp."""
    monkeypatch.setattr(signing, "_now", lambda: float(SPEC_TS))


def request(body: bytes, headers: dict[str, str]) -> CallbackRequest:
    return CallbackRequest("POST", "/oa/x/callback", {}, {k.lower(): v for k, v in headers.items()},
                           body)


def connector(secret: str = SPEC_SECRET, **extra) -> WebhookConnector:
    oa = WebhookConnector({"signing_secret": secret, **extra})
    oa.backoff = 0.01
    return oa


def approved_body(**over) -> bytes:
    data = {"type": "approval.approved", "id": "evt-1001", "instance": {
        "instance_id": "BX-2024-001", "process_code": "PROC-REIMB-001", "title": "差旅费报销-张三",
        "status": "approved", "result": "agree",
        "originator": {"id": "zhangsan", "name": "张三", "department": "销售部"},
        "created_at": "2024-03-15T09:00:00+08:00", "finished_at": "2024-03-16 10:30:00",
        "form": [{"id": "reason", "name": "报销事由", "value": "上海出差", "kind": "text"},
                 {"id": "amount", "name": "报销金额", "value": "1,280.50", "kind": "money"},
                 {"id": "invoices", "name": "发票", "value": ["f1"], "kind": "attachment"},
                 {"id": "items", "name": "明细", "kind": "table", "value": [
                     [{"id": "item", "name": "项目", "value": "住宿"},
                      {"id": "fee", "name": "金额", "value": "800", "kind": "money"}]]}],
        "attachments": [{"file_id": "f1", "filename": "发票.pdf", "size": len(PDF),
                         "content_base64": base64.b64encode(PDF).decode(),
                         "sha256": hashlib.sha256(PDF).hexdigest()},
                        {"file_id": "f2", "filename": "行程单.jpg", "field": "报销事由",
                         "url": "https://erp.example.com/files/f2"}],
        "trail": [{"actor_id": "lisi", "actor_name": "李四", "action": "审批", "result": "agree",
                   "time": "2024-03-16T10:30:00+08:00", "remark": "同意"}]}}
    data.update(over)
    return json.dumps(data, ensure_ascii=False).encode()


def deliver(oa: WebhookConnector, body: bytes, **sign_kw):
    return oa.handle_callback(request(body, signing.signed_headers(oa.settings["signing_secret"],
                                                                   body, **sign_kw)))


# --- the signature scheme ----------------------------------------------------------------------

def test_spec_vector_signs():
    assert signing.sign(SPEC_SECRET, SPEC_ID, SPEC_TS, SPEC_BODY) == SPEC_SIG


def test_spec_vector_verifies_with_pinned_clock(pinned):
    assert signing.verify(SPEC_SECRET, SPEC_HEADERS, SPEC_BODY) == SPEC_ID
    outcome = connector().handle_callback(request(SPEC_BODY, SPEC_HEADERS))
    assert outcome.reply.status == 200 and outcome.replay_key == SPEC_ID
    assert [e.action for e in outcome.events] == ["ignored"]


@pytest.mark.parametrize("skew", [-301, 301, 10_000])
def test_spec_vector_stale(skew):
    with pytest.raises(CallbackRejected) as exc:
        signing.verify(SPEC_SECRET, SPEC_HEADERS, SPEC_BODY, now=SPEC_TS + skew)
    assert (exc.value.code, exc.value.status) == ("stale", 401)


@pytest.mark.parametrize("skew", [-300, 299])
def test_spec_vector_inside_tolerance(skew):
    assert signing.verify(SPEC_SECRET, SPEC_HEADERS, SPEC_BODY, now=SPEC_TS + skew) == SPEC_ID


@pytest.mark.parametrize("body, headers", [
    (b'{"test": 2432232315}', SPEC_HEADERS),  # tampered body
    (SPEC_BODY + b" ", SPEC_HEADERS),  # one byte more
    (SPEC_BODY, {**SPEC_HEADERS, "webhook-id": "msg_other"}),
    (SPEC_BODY, {**SPEC_HEADERS, "webhook-signature": "v1,AAAA" + SPEC_SIG[7:]}),
    (SPEC_BODY, {**SPEC_HEADERS, "webhook-signature": "v2," + SPEC_SIG[3:]}),  # wrong version
    (SPEC_BODY, {**SPEC_HEADERS, "webhook-signature": "v1,not*base64"}),
])
def test_bad_signature_401(pinned, body, headers):
    with pytest.raises(CallbackRejected) as exc:
        connector().handle_callback(request(body, headers))
    assert (exc.value.code, exc.value.status) == ("bad_signature", 401)


def test_wrong_secret_401(pinned):
    with pytest.raises(CallbackRejected) as exc:
        connector("whsec_" + base64.b64encode(b"another key").decode()).handle_callback(
            request(SPEC_BODY, SPEC_HEADERS))
    assert exc.value.status == 401


@pytest.mark.parametrize("headers", [
    {k: v for k, v in SPEC_HEADERS.items() if k != "webhook-signature"},
    {k: v for k, v in SPEC_HEADERS.items() if k != "webhook-id"},
    {k: v for k, v in SPEC_HEADERS.items() if k != "webhook-timestamp"},
    {**SPEC_HEADERS, "webhook-timestamp": "2021-02-25T15:02:10Z"},
    {**SPEC_HEADERS, "webhook-timestamp": "1614265330.5"},
    {**SPEC_HEADERS, "webhook-signature": "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
])
def test_malformed_headers_400(pinned, headers):
    with pytest.raises(CallbackRejected) as exc:
        connector().handle_callback(request(SPEC_BODY, headers))
    assert (exc.value.code, exc.value.status) == ("malformed", 400)


def test_any_matching_signature_of_a_list(pinned):
    headers = {**SPEC_HEADERS, "webhook-signature": f"v1a,xyz v1,AAAA {SPEC_SIG}"}
    assert signing.verify(SPEC_SECRET, headers, SPEC_BODY) == SPEC_ID


@pytest.mark.parametrize("setting", [f"whsec_b2xk {SPEC_SECRET}", f"{SPEC_SECRET},whsec_b2xk",
                                     f" whsec_b2xk ,  {SPEC_SECRET} "])
def test_rotation_two_secrets(pinned, setting):
    assert signing.verify(setting, SPEC_HEADERS, SPEC_BODY) == SPEC_ID


def test_raw_secret_without_prefix():
    body, raw = approved_body(), "my-plain-shared-secret"
    # what a hand-written javax.crypto.Mac over secret.getBytes(UTF_8) sends
    outcome = deliver(connector(raw), body)
    assert outcome.events[0].action == "approved"
    standardwebhooks = pytest.importorskip("standardwebhooks")
    # the library's reading of an unprefixed secret: base64 of the key
    b64_secret = base64.b64encode(b"library key bytes").decode()
    now = datetime.now(tz=UTC)
    sig = standardwebhooks.Webhook(b64_secret).sign("msg_lib", now, body.decode())
    headers = {"webhook-id": "msg_lib", "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": sig}
    assert connector(b64_secret).handle_callback(request(body, headers)).replay_key == "msg_lib"


def test_peer_library_signs_and_verifies_ours():
    standardwebhooks = pytest.importorskip("standardwebhooks")
    peer = standardwebhooks.Webhook(SPEC_SECRET)
    body = approved_body()
    now = datetime.now(tz=UTC)
    headers = {"webhook-id": "msg_peer", "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": peer.sign("msg_peer", now, body.decode())}
    assert connector().handle_callback(request(body, headers)).events[0].action == "approved"
    ours = signing.signed_headers(SPEC_SECRET, body)
    assert peer.verify(body, ours)["id"] == "evt-1001"


# --- events ---------------------------------------------------------------------------------------

def test_approved_event_carries_the_instance():
    outcome = deliver(connector(), approved_body())
    (event,) = outcome.events
    assert (event.action, event.event_id, event.instance_id) == ("approved", "evt-1001",
                                                                 "BX-2024-001")
    inst = event.instance
    assert inst.title == "差旅费报销-张三" and inst.department == "销售部"
    assert inst.field_value("报销金额") == Decimal("1280.50") == inst.amount("amount")
    table = inst.field_value("明细")
    assert table[0][1] == {"id": "fee", "name": "金额", "value": Decimal("800"), "kind": "money"}
    first, second = inst.attachments
    assert (first.field_name, first.size, second.field_id) == ("发票", len(PDF), "reason")
    assert inst.trail[0].remark == "同意" and inst.trail[0].time.utcoffset().seconds == 8 * 3600
    assert inst.finished_at == datetime.fromisoformat("2024-03-16T10:30:00+08:00")
    assert "content_base64" not in json.dumps(event.payload)  # the inbox row stays lean
    assert event.payload["_originator_id"] == "zhangsan"


def test_event_id_stable_across_redeliveries():
    oa, body = connector(), approved_body()
    first, again = deliver(oa, body), deliver(oa, body)
    assert first.events[0].event_id == again.events[0].event_id == "evt-1001"
    assert first.replay_key != again.replay_key  # each delivery has its own webhook-id
    other = deliver(oa, approved_body(id="evt-1002"))
    assert other.events[0].event_id == "evt-1002"


def test_revoked_and_other_types():
    revoked = deliver(connector(), approved_body(type="approval.revoked", id="evt-r",
                                                 reason="发票作废，审批撤销")).events[0]
    assert (revoked.action, revoked.reason, revoked.instance_id) == (
        "revoked", "发票作废，审批撤销", "BX-2024-001")
    other = deliver(connector(), json.dumps({"type": "approval.started", "id": "e3"}).encode())
    assert other.events[0].action == "ignored" and other.events[0].event_id == "e3"


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", "{\"type\": \"审批\"".encode(),
                                  json.dumps({"type": "approval.approved", "id": "x"}).encode(),
                                  json.dumps({"type": "approval.approved",
                                              "instance": {"title": "无编号"}}).encode()])
def test_malformed_body_400_after_valid_signature(body):
    with pytest.raises(CallbackRejected) as exc:
        deliver(connector(), body)
    assert exc.value.status == 400


def test_fetch_instance_not_supported():
    with pytest.raises(ConnectorError) as exc:
        connector().fetch_instance("BX-2024-001")
    assert exc.value.code == "not_supported"


# --- attachments ------------------------------------------------------------------------------

def test_download_inline_base64_verified():
    inst = deliver(connector(), approved_body()).events[0].instance
    dest = io.BytesIO()
    assert connector().download_attachment(inst, inst.attachments[0], dest) == "发票.pdf"
    assert dest.getvalue() == PDF
    bad = approved_body()
    bad = bad.replace(hashlib.sha256(PDF).hexdigest().encode(), b"0" * 64)
    inst = deliver(connector(), bad).events[0].instance
    with pytest.raises(ConnectorError) as exc:
        connector().download_attachment(inst, inst.attachments[0], io.BytesIO())
    assert exc.value.code == "attachment_digest_mismatch"


def test_download_by_url_with_retry_after_500():
    calls = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(str(req.url))
        return httpx.Response(500) if len(calls) == 1 else httpx.Response(200, content=PDF)

    oa = connector()
    oa.transport = httpx.MockTransport(handler)
    inst = deliver(oa, approved_body()).events[0].instance
    dest = io.BytesIO()
    assert oa.download_attachment(inst, inst.attachments[1], dest) == "行程单.jpg"
    assert dest.getvalue() == PDF and calls == ["https://erp.example.com/files/f2"] * 2


def test_a_download_broken_mid_body_is_retried_without_the_broken_bytes():
    from kjda.connectors.webhook import CHUNK

    class BrokenStream(httpx.SyncByteStream):
        def __iter__(self):
            yield b"%" * CHUNK  # a whole chunk arrives and is written, then the line drops
            raise httpx.ReadError("connection reset by peer")

    calls = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(str(req.url))
        if len(calls) == 1:
            return httpx.Response(200, stream=BrokenStream())
        return httpx.Response(200, content=PDF)

    oa = connector()
    oa.transport = httpx.MockTransport(handler)
    inst = deliver(oa, approved_body()).events[0].instance
    dest = io.BytesIO(b"kept")  # what was there before the download stays
    dest.seek(0, io.SEEK_END)
    oa.download_attachment(inst, inst.attachments[1], dest)
    assert dest.getvalue() == b"kept" + PDF and len(calls) == 2


def test_download_refuses_other_schemes():
    body = approved_body()
    body = body.replace(b"https://erp.example.com/files/f2", b"file:///etc/passwd")
    inst = deliver(connector(), body).events[0].instance
    with pytest.raises(ConnectorError):
        connector().download_attachment(inst, inst.attachments[1], io.BytesIO())


# --- notify -----------------------------------------------------------------------------------

def test_notify_without_url_not_supported():
    with pytest.raises(ConnectorError) as exc:
        connector().notify(user_ids=["zhangsan"], title="t", text="x", url="u")
    assert exc.value.code == "not_supported"


def test_notify_signed_like_the_callbacks():
    standardwebhooks = pytest.importorskip("standardwebhooks")
    seen = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(standardwebhooks.Webhook(SPEC_SECRET).verify(req.content, dict(req.headers)))
        return httpx.Response(200, json={"id": "erp-msg-9"})

    oa = connector(notify_url="https://erp.example.com/kjda/notices")
    oa.transport = httpx.MockTransport(handler)
    assert oa.notify(user_ids=["zhangsan", "lisi"], title="发票缺失", text="请补充发票",
                     url="https://kjda/records/7", todo=True, key="k-1") == "erp-msg-9"
    assert seen[0] == {"type": "kjda.todo", "id": "k-1", "user_ids": ["zhangsan", "lisi"],
                       "title": "发票缺失", "text": "请补充发票",
                       "url": "https://kjda/records/7", "todo": True}


def test_notify_errors():
    answers = iter([httpx.Response(503), httpx.Response(204)])
    oa = connector(notify_url="https://erp.example.com/n")
    oa.transport = httpx.MockTransport(lambda req: next(answers))
    assert oa.notify(user_ids=["u"], title="t", text="x", url="u", key="k2") == "k2"  # retried
    oa.transport = httpx.MockTransport(lambda req: httpx.Response(400, json={"code": "E42"}))
    with pytest.raises(ConnectorError) as exc:
        oa.notify(user_ids=["u"], title="t", text="x", url="u")
    assert "E42" not in exc.value.message and "unreachable" in exc.value.en  # body logged only

    def timeout(req):
        raise httpx.ReadTimeout("timed out", request=req)

    oa.transport = httpx.MockTransport(timeout)
    with pytest.raises(ConnectorError) as exc:
        oa.notify(user_ids=["u"], title="t", text="x", url="u")
    assert exc.value.code == "platform_unavailable"


def test_settings_names():
    assert [s.name for s in WebhookConnector.settings_spec] == ["signing_secret", "notify_url"]
    assert WebhookConnector.secret_names() == {"signing_secret"}
