"""Feishu connector against oa-protocols.md §3 and the Feishu simulator: vector F1, signature,
token, challenge, v1/v2 approval events, reversal, instance round trip, attachments, notices,
token cache and expiry, retries, timeouts and vendor error codes."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kjda.connectors.base import CallbackRejected, CallbackRequest, ConnectorError
from kjda.connectors.feishu import FeishuConnector, lark_decrypt, lark_signature
from kjda.connectors.registry import connector_class
from kjda_oasim.feishu import FeishuSim, encrypt, sign
from kjda_oasim.simulators import sim_class

F1_KEY, F1_ENCRYPT = "test key", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="
PDF = b"%PDF-1.4\n" + "发票 No.0001 金额 1280.50".encode() + bytes(range(256)) * 300
SPEC = {
    "process_code": "PROC-REIMB-001", "title": "差旅费报销-张三",
    "originator": {"id": "zhangsan", "name": "张三", "department": "销售部"},
    "create_time": "2024-03-15T09:00:00+08:00", "finish_time": "2024-03-16T10:00:00+08:00",
    "form": [
        {"name": "报销事由", "value": "上海出差（客户拜访）"},
        {"name": "报销金额", "kind": "money", "value": "1280.50"},
        {"name": "日期", "kind": "date", "value": "2024-03-15"},
        {"name": "发票", "kind": "attachment", "files": [
            {"name": "发票.pdf", "content_b64": base64.b64encode(PDF).decode()},
            {"name": "行程单.jpg", "content_b64": base64.b64encode(b"\xff\xd8jpeg").decode()}]},
        {"name": "明细", "kind": "table", "rows": [
            [{"name": "项目", "value": "住宿"}, {"name": "金额", "kind": "money", "value": "800"}],
            [{"name": "项目", "value": "交通"}, {"name": "金额", "kind": "money", "value": "480.5"}]]},
    ],
    "trail": [
        {"actor": {"id": "lisi", "name": "李四"}, "action": "审批", "result": "agree",
         "time": "2024-03-16T09:00:00+08:00", "remark": "同意，请财务付款",
         "files": [{"name": "审批意见.txt", "content_b64": base64.b64encode("同意".encode()).decode()}]},
        {"actor": {"id": "wangwu", "name": "王五"}, "action": "抄送", "result": "none",
         "time": "2024-03-16T10:00:00+08:00"},
    ],
}


@pytest.fixture
def feishu(make_sim):
    sim = FeishuSim()
    sim.server = make_sim(sim)  # the OASimulator: request log and fault injection
    connector = FeishuConnector(sim.connector_settings(), connector_id="fs-test")
    connector.retries, connector.backoff, connector.timeout = 1, 0.0, 5.0
    return sim, connector


def deliver(connector, sent, method="POST"):
    return connector.handle_callback(CallbackRequest(
        method, "/oa/1/callback", {}, {k.lower(): v for k, v in sent["headers"].items()},
        sent["body"]))


def rejected(connector, sent) -> CallbackRejected:
    with pytest.raises(CallbackRejected) as info:
        deliver(connector, sent)
    return info.value


# --- crypto -----------------------------------------------------------------------------------

def test_vector_f1_decrypts_to_hello_world():
    assert lark_decrypt(F1_KEY, F1_ENCRYPT) == b"hello world"


def _f1_flipped() -> str:
    raw = bytearray(base64.b64decode(F1_ENCRYPT))
    raw[-1] ^= 0x5A
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("key,value", [
    ("test kez", F1_ENCRYPT), (F1_KEY, _f1_flipped()),
    (F1_KEY, base64.b64encode(base64.b64decode(F1_ENCRYPT)[:-3]).decode()),
    (F1_KEY, "P37w+VZImNgPEO1RBhJ6Rt**")], ids=["wrong key", "tampered", "truncated", "not b64"])
def test_vector_f1_negative(key, value):
    with pytest.raises(CallbackRejected) as info:
        lark_decrypt(key, value)
    assert info.value.status == 400


def test_sim_encryption_and_signature_match_the_documented_formulas():
    plain = '{"text":"报销单已通过"}'.encode()
    assert lark_decrypt("密钥 key", encrypt("密钥 key", plain)) == plain
    assert lark_decrypt("k", encrypt("k", b"x" * 16)) == b"x" * 16  # a full padding block
    body = b'{"encrypt":"abc"}'
    expected = hashlib.sha256(b"1700000000" + b"n0nce" + b"k" + body).hexdigest()
    assert lark_signature("1700000000", "n0nce", "k", body) == expected == sign(
        "1700000000", "n0nce", "k", body)


# --- URL verification -----------------------------------------------------------------------------

def test_url_verification_unsigned_challenge_answered_byte_exactly(feishu):
    sim, connector = feishu
    payload = {"challenge": "ajls384kdjx98XX", "token": sim.verification_token,
               "type": "url_verification"}
    outcome = deliver(connector, sim.delivery(payload, signed=False))
    assert outcome.reply.status == 200 and outcome.events == []
    assert outcome.reply.body == b'{"challenge":"ajls384kdjx98XX"}'
    assert deliver(connector, sim.delivery(payload)).reply.body == outcome.reply.body  # signed too


def test_url_verification_rejected_with_wrong_token_or_key(feishu):
    sim, connector = feishu
    payload = {"challenge": "c1", "token": "not-the-token", "type": "url_verification"}
    assert rejected(connector, sim.delivery(payload, signed=False)).code == "bad_token"
    sim.encrypt_key = "another key"  # cannot be decrypted under our key
    payload["token"] = sim.verification_token
    assert rejected(connector, sim.delivery(payload, signed=False)).status == 400


def test_url_verification_and_events_without_encrypt_key(make_sim):
    sim = FeishuSim(encrypt_key="")
    make_sim(sim)
    connector = FeishuConnector(sim.connector_settings())
    assert connector.settings["encrypt_key"] == ""
    sent = sim.delivery({"challenge": "纯文本", "token": sim.verification_token,
                         "type": "url_verification"})
    assert sent["body"].startswith(b'{"challenge"') and "x-lark-signature" not in sent["headers"]
    assert json.loads(deliver(connector, sent).reply.body) == {"challenge": "纯文本"}
    iid = sim.create_instance(SPEC)
    outcome = deliver(connector, sim.delivery(sim.event(iid, "APPROVED")))
    assert outcome.events[0].action == "approved" and outcome.replay_key == ""
    bad = sim.event(iid, "APPROVED")
    bad["header"]["token"] = "forged"
    assert rejected(connector, sim.delivery(bad)).code == "bad_token"
    assert rejected(connector, {"headers": {}, "body": b'{"encrypt":"xx"}'}).code == "not_configured"


# --- events ---------------------------------------------------------------------------------------

def test_v2_approved_event_is_the_archive_trigger(feishu):
    sim, connector = feishu
    iid = sim.create_instance(SPEC)
    payload = sim.event(iid, "APPROVED")
    outcome = deliver(connector, sim.delivery(payload))
    assert outcome.reply.status == 200 and outcome.reply.body == b'{"msg":"success"}'
    [event] = outcome.events
    assert (event.action, event.instance_id, event.process_code) == ("approved", iid,
                                                                     "PROC-REIMB-001")
    assert event.event_id == payload["header"]["event_id"]
    assert event.event_type == "approval.instance.status_changed_v4"
    assert abs((event.occurred_at - datetime.now(UTC)).total_seconds()) < 60
    assert outcome.replay_key.startswith("feishu:")
    assert "token" not in event.payload["header"]  # the secret is never kept in the inbox


@pytest.mark.parametrize("operate_time", [1666079207003, "1666079207003"])
def test_v1_approval_instance_approved_accepts_number_or_string_time(feishu, operate_time):
    sim, connector = feishu
    iid = sim.create_instance(SPEC)
    payload = sim.event(iid, "APPROVED", schema="1.0")
    payload["event"]["operate_time"] = operate_time
    payload["event"]["title"] = "差旅费报销-张三（中文内容）"
    [event] = deliver(connector, sim.delivery(payload)).events
    assert event.action == "approved" and event.event_id == payload["uuid"]
    assert event.event_type == "approval_instance"
    assert event.occurred_at == datetime.fromtimestamp(1666079207.003, tz=UTC)
    assert event.payload["event"]["title"] == "差旅费报销-张三（中文内容）"
    assert "token" not in event.payload


@pytest.mark.parametrize("schema", ["2.0", "1.0"])
def test_reverted_after_approval_is_a_revocation_with_reason(feishu, schema):
    sim, connector = feishu
    iid = sim.create_instance(SPEC)
    [event] = deliver(connector, sim.delivery(sim.event(iid, "REVERTED", schema=schema))).events
    assert event.action == "revoked" and event.instance_id == iid and "REVERTED" in event.reason


@pytest.mark.parametrize(("status", "action"), [
    ("PENDING", "ignored"), ("OVERTIME_CLOSE", "ignored"),
    # ended unapproved: never archived, but an approval KJDA started learns its end
    ("REJECTED", "finished"), ("CANCELED", "finished"), ("DELETED", "finished")])
def test_other_statuses_are_ignored(feishu, status, action):
    sim, connector = feishu
    iid = sim.create_instance(SPEC)
    for schema in ("2.0", "1.0"):
        [event] = deliver(connector, sim.delivery(sim.event(iid, status, schema=schema))).events
        assert event.action == action and event.event_id


def test_other_event_types_are_ignored(feishu):
    sim, connector = feishu
    iid = sim.create_instance(SPEC)
    task = sim.event(iid, "APPROVED", schema="1.0", event_type="approval_task")
    task["event"].update(task_id="12345", open_id="ou_123456", custom_key="xxx")
    [event] = deliver(connector, sim.delivery(task)).events
    assert (event.action, event.event_type) == ("ignored", "approval_task")
    other = sim.event(iid, "APPROVED", event_type="approval.instance.remedy_group_update_v4")
    assert deliver(connector, sim.delivery(other)).events[0].action == "ignored"


def test_event_id_is_stable_across_redeliveries(feishu):
    sim, connector = feishu
    iid = sim.create_instance(SPEC)
    payload = sim.event(iid, "APPROVED")
    first = deliver(connector, sim.delivery(payload))
    again = deliver(connector, sim.delivery(payload))  # Feishu's retry: new nonce and signature
    assert first.events[0].event_id == again.events[0].event_id
    assert first.replay_key != again.replay_key
    other = deliver(connector, sim.delivery(sim.event(iid, "APPROVED")))
    assert other.events[0].event_id != first.events[0].event_id


# --- rejections -------------------------------------------------------------------------------------

def signed(sim, body: bytes, *, stamp=None, nonce="12345"):
    stamp = stamp or str(int(time.time()))
    return {"headers": {"X-Lark-Request-Timestamp": stamp, "X-Lark-Request-Nonce": nonce,
                        "X-Lark-Signature": sign(stamp, nonce, sim.encrypt_key, body)},
            "body": body}


def test_rejections(feishu):
    sim, connector = feishu
    iid = sim.create_instance(SPEC)
    good = sim.delivery(sim.event(iid, "APPROVED"))
    tampered = {**good, "body": good["body"].replace(b'"}', b'A"}')}
    assert rejected(connector, tampered).code == "bad_signature"
    wrong_nonce = {**good, "headers": {**good["headers"], "X-Lark-Request-Nonce": "999"}}
    assert rejected(connector, wrong_nonce).status == 401
    old = str(int(time.time()) - 600)
    stale = sim.delivery(sim.event(iid, "APPROVED"), timestamp=old)
    assert (rejected(connector, stale).code, rejected(connector, stale).status) == ("stale", 401)
    future = sim.delivery(sim.event(iid, "APPROVED"), timestamp=str(int(time.time()) + 600))
    assert rejected(connector, future).code == "stale"
    unsigned = sim.delivery(sim.event(iid, "APPROVED"), signed=False)
    assert (rejected(connector, unsigned).code, rejected(connector, unsigned).status) == (
        "unsigned", 401)
    assert rejected(connector, signed(sim, b"not json")).status == 400
    assert rejected(connector, signed(sim, "[\"数组\"]".encode())).status == 400
    plaintext = json.dumps(sim.event(iid, "APPROVED")).encode()
    assert rejected(connector, signed(sim, plaintext)).code == "not_encrypted"
    raw = bytearray(base64.b64decode(json.loads(good["body"])["encrypt"]))
    raw[-1] ^= 1  # tampered ciphertext, correctly signed over the tampered bytes
    forged = json.dumps({"encrypt": base64.b64encode(bytes(raw)).decode()}).encode()
    assert rejected(connector, signed(sim, forged)).status == 400
    with pytest.raises(CallbackRejected) as info:
        deliver(connector, good, method="GET")
    assert info.value.status == 405


def test_wrong_token(feishu):
    sim, connector = feishu
    iid = sim.create_instance(SPEC)
    for schema in ("2.0", "1.0"):
        payload = sim.event(iid, "APPROVED", schema=schema)
        (payload["header"] if schema == "2.0" else payload)["token"] = "x" + sim.verification_token
        error = rejected(connector, sim.delivery(payload))
        assert (error.code, error.status) == ("bad_token", 401)
        del (payload["header"] if schema == "2.0" else payload)["token"]
        assert rejected(connector, sim.delivery(payload)).code == "bad_token"


# --- fetch, attachments --------------------------------------------------------------------------------

def test_fetch_instance_round_trip(feishu):
    sim, connector = feishu
    iid = sim.create_instance(SPEC)
    inst = connector.fetch_instance(iid)
    assert (inst.instance_id, inst.process_code, inst.title) == (iid, "PROC-REIMB-001",
                                                                  "差旅费报销-张三")
    assert (inst.status, inst.result) == ("APPROVED", "agree")
    assert (inst.originator_name, inst.department) == ("张三", "销售部")
    assert inst.originator_id.startswith("ou_")
    assert inst.created_at == datetime(2024, 3, 15, 1, 0, tzinfo=UTC)
    assert inst.finished_at == datetime(2024, 3, 16, 2, 0, tzinfo=UTC)
    assert inst.field_value("报销事由") == "上海出差（客户拜访）"
    assert inst.field_value("报销金额") == Decimal("1280.50") and inst.amount("报销金额") == Decimal(
        "1280.5")
    assert inst.field_value("日期") == "2024-03-15"
    assert inst.field_value("发票") == ["发票.pdf", "行程单.jpg"]
    assert json.loads(json.dumps([f.raw for f in inst.fields]))[1]["value"] == 1280.5
    rows = inst.field_value("明细")
    assert [[c["name"] for c in row] for row in rows] == [["项目", "金额"]] * 2
    assert rows[1][0]["value"] == "交通" and rows[1][1]["value"] == Decimal("480.5")
    invoices = [a for a in inst.attachments if a.field_name == "发票"]
    assert [a.filename for a in invoices] == ["发票.pdf", "行程单.jpg"]
    assert invoices[0].extra["url"].startswith(sim.base_url)
    [opinion] = [a for a in inst.attachments if a.extra.get("source") == "timeline"]
    assert (opinion.filename, opinion.size, opinion.field_name) == ("审批意见.txt", 6, "")
    assert [(t.action, t.result, t.actor_name) for t in inst.trail] == [
        ("发起", "none", "张三"), ("审批", "agree", "李四"), ("抄送", "none", "王五")]
    assert (inst.trail[1].remark, inst.trail[1].node) == ("同意，请财务付款", "审批")
    assert inst.trail[1].time == datetime(2024, 3, 16, 1, 0, tzinfo=UTC)


def test_names_fall_back_to_ids_without_contact_scope(feishu):
    sim, connector = feishu
    iid = sim.create_instance(SPEC)
    sim.users.clear()
    sim.departments.clear()
    inst = connector.fetch_instance(iid)
    assert inst.originator_id.startswith("ou_") and inst.originator_name == ""
    assert inst.department.startswith("od-") and all(t.actor_id for t in inst.trail)


def test_download_attachment_bytes_identical_and_link_refresh(feishu):
    sim, connector = feishu
    inst = connector.fetch_instance(sim.create_instance(SPEC))
    ref = next(a for a in inst.attachments if a.filename == "发票.pdf")
    dest = io.BytesIO()
    assert connector.download_attachment(inst, ref, dest) == "发票.pdf"
    assert dest.getvalue() == PDF
    sim.auth_codes.clear()  # the time-limited URLs expired: re-fetch the instance for fresh ones
    dest = io.BytesIO()
    connector.download_attachment(inst, ref, dest)
    assert dest.getvalue() == PDF
    assert sum(1 for _, p in sim.server.requests if p.endswith(inst.instance_id)) == 2


# --- notices ---------------------------------------------------------------------------------------

def test_notify_message_and_todo_recorded_and_idempotent(feishu):
    sim, connector = feishu
    user = sim.person({"id": "zhangsan", "name": "张三"})["open_id"]
    mid = connector.notify(user_ids=[user], title="缺少发票", text="报销单缺少发票，请补充",
                           url="https://kjda.example/records/1", key="notice-1")
    assert mid.startswith("om_")
    [msg] = sim.notices
    assert (msg["type"], msg["user_ids"], msg["uuid"], msg["msg_type"]) == (
        "message", [user], "notice-1", "interactive")
    assert (msg["title"], msg["text"], msg["url"]) == ("缺少发票", "报销单缺少发票，请补充",
                                                      "https://kjda.example/records/1")
    assert connector.notify(user_ids=[user], title="缺少发票", text="…", url="", key="notice-1") == mid
    guid = connector.notify(user_ids=[user, "ou_finance"], title="复核归档凭证", text="请复核",
                            url="https://kjda.example/records/2", todo=True, key="todo-0001")
    todo = sim.notices[-1]
    assert len(sim.notices) == 2 and todo["task_guid"] == guid
    assert (todo["type"], todo["user_ids"], todo["client_token"], todo["url"]) == (
        "todo", [user, "ou_finance"], "todo-0001", "https://kjda.example/records/2")


def test_notify_vendor_error_is_a_connector_error(feishu):
    sim, connector = feishu
    with pytest.raises(ConnectorError) as info:
        connector.notify(user_ids=[""], title="t", text="x", url="")
    assert "99992402" in str(info.value)


# --- tokens, retries, errors --------------------------------------------------------------------------

def token_fetches(sim) -> int:
    return sum(1 for _, p in sim.server.requests if p.endswith("/tenant_access_token/internal"))


def test_token_is_cached_and_refetched_after_expiry(feishu):
    sim, connector = feishu
    iid = sim.create_instance(SPEC)
    for _ in range(3):
        connector.fetch_instance(iid)
    assert token_fetches(sim) == 1
    sim.tokens = {t: time.time() - 1 for t in sim.tokens}  # the platform expired our token
    assert connector.fetch_instance(iid).instance_id == iid
    assert token_fetches(sim) == 2


def test_platform_500_then_success(feishu):
    sim, connector = feishu
    iid = sim.create_instance(SPEC)
    sim.server.fail_next("/feishu/open-apis/approval", status=500, count=1)
    assert connector.fetch_instance(iid).instance_id == iid


def test_platform_timeout_is_a_connector_error(feishu):
    sim, connector = feishu
    connector.timeout = 0.2
    iid = sim.create_instance(SPEC)
    sim.server.fail_next("/feishu/open-apis/approval", status=0, count=2, delay=0.6)
    with pytest.raises(ConnectorError) as info:
        connector.fetch_instance(iid)
    assert info.value.code == "platform_unavailable"


def test_vendor_error_codes(feishu):
    sim, connector = feishu
    with pytest.raises(ConnectorError) as info:
        connector.fetch_instance("NO-SUCH-INSTANCE")
    assert "1390003" in str(info.value) and info.value.detail["vendor_code"] == 1390003
    bad = FeishuConnector({**sim.connector_settings(), "app_secret": "wrong"})
    with pytest.raises(ConnectorError, match="10014"):
        bad.fetch_instance("x")


# --- sweep, wiring ---------------------------------------------------------------------------------------

def test_list_finished_pages_and_filters(feishu):
    sim, connector = feishu
    connector.page_size = 2
    now = datetime.now(UTC)
    done = [sim.create_instance({**SPEC, "finish_time": now.isoformat(),
                                 "create_time": (now - timedelta(hours=h)).isoformat()})
            for h in (1, 2, 3)]
    sim.create_instance({**SPEC, "status": "running"})
    sim.create_instance({**SPEC, "status": "rejected", "finish_time": now.isoformat()})
    sim.create_instance({**SPEC, "process_code": "PROC-OTHER", "finish_time": now.isoformat()})
    sim.create_instance({**SPEC, "finish_time": (now - timedelta(days=3)).isoformat()})
    found = connector.list_finished(since=now - timedelta(hours=1),
                                    until=now + timedelta(minutes=1),
                                    process_codes=["PROC-REIMB-001"])
    assert sorted(found) == sorted(done)


def test_settings_and_registry(feishu):
    assert [s.name for s in FeishuConnector.settings_spec] == [
        "app_id", "app_secret", "verification_token", "encrypt_key", "loan_template",
        "api_base_url"]
    assert FeishuConnector.secret_names() == {"app_secret", "verification_token", "encrypt_key"}
    assert FeishuConnector({"app_id": "a", "app_secret": "b", "verification_token": "c"}
                           ).base_url == "https://open.feishu.cn"
    assert connector_class("feishu") is FeishuConnector and sim_class("feishu") is FeishuSim


@pytest.fixture
def receiver(feishu):
    """A stand-in for KJDA's callback view: HTTP in, handle_callback, the reply out."""
    connector, outcomes = feishu[1], []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            try:
                outcomes.append(connector.handle_callback(CallbackRequest(
                    "POST", self.path, {}, dict(self.headers.items()), body)))
                status, data = outcomes[-1].reply.status, outcomes[-1].reply.body
            except CallbackRejected as exc:
                status, data = exc.status, json.dumps(exc.as_dict()).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/oa/1/callback", outcomes
    server.shutdown()
    server.server_close()


def test_fire_over_http(feishu, receiver):
    (sim, connector), (url, outcomes) = feishu, receiver
    check = sim.url_verification(url)
    assert (check["status"], json.loads(check["body"])) == (200, {"challenge": check["challenge"]})
    iid = sim.create_instance(SPEC)
    fired = sim.fire(callback_url=url, instance_id=iid)
    assert (fired["status"], fired["body"]) == (200, '{"msg":"success"}')
    assert sim.redeliver(url)["status"] == 200
    assert sim.fire(callback_url=url, instance_id=iid)["event_id"] == fired["event_id"]  # a retry
    assert {o.events[0].event_id for o in outcomes[1:]} == {fired["event_id"]}
    revoked = sim.fire(callback_url=url, instance_id=iid, action="revoked", schema="1.0")
    assert revoked["status"] == 200 and outcomes[-1].events[0].action == "revoked"
    assert connector.fetch_instance(iid).status == "REVERTED"
    sim.encrypt_key = "forged key"
    assert sim.fire(callback_url=url, instance_id=iid)["status"] == 401
