"""DingTalk: oa-protocols.md §1.2 vectors through the connector, callback verification (positive
and negative), event parsing, and API round trips through the simulator."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from kjda.connectors.base import CallbackRejected, CallbackRequest, ConnectorError
from kjda.connectors.dingtalk import DingTalkConnector
from kjda.connectors.http import TokenCache
from kjda.connectors.registry import connector_class
from kjda.connectors.wxcrypto import WXBizMsgCrypt, signature
from kjda.errors import DomainError
from kjda_oasim.dingtalk import DingTalkSim
from kjda_oasim.simulators import sim_class

D1 = ("mryue", "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7", "ding6ccabc44d2c8d38b")
D1_CALL = ("03044561471240d4a14bb09372dfcfd4fd0e40cb", "1608001896814", "WL4PK6yA",
           "0vJiX6vliEpwG3U45CtXqi+m8PXbQRARJ8p8BbDuD1EMTDf0jKpQ79QS93qEk7XHpP6u+oTTrd15NRPvNvmBKyDCYxxOK+HZeKju4yhELOFchzNukR+t8SB/qk4ROMu3")
D2 = ("tokenxxxx", "o1w0aum42yaptlz8alnhwikjd3jenzt9cb9wmzptgus", "dingxxxxxx")
D3 = ("123456", "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij", "suite4xxxxxxxxxxxxxxx")
D3_CALL = ("5a65ceeef9aab2d149439f82dc191dd6c5cbe2c0", "1445827045067", "nEXhMP4r",
           "1a3NBxmCFwkCJvfoQ7WhJHB+iX3qHPsc9JbaDznE1i03peOk1LaOQoRz3+nlyGNhwmwJ3vDMG+OzrHMeiZI7gTRWVdUBmfxjZ8Ej23JVYa9VrYeJ5as7XM/ZpulX8NEQis44w53h1qAgnC3PRzM7Zc/D6Ibr0rgUathB6zRHP8PYrfgnNOS9PhSBdHlegK+AGGanfwjXuQ9+0pZcy0w9lQ==")
AGREE = {"EventType": "bpms_instance_change", "processInstanceId": "9Qgx5QqjR7axMw",
         "finishTime": 1495592305000, "corpId": "dingxxxxxx", "title": "差旅费报销-张三",
         "type": "finish", "result": "agree", "createTime": 1495592272000,
         "staffId": "manager75", "processCode": "PROC-REIMB-001"}
PDF = b"%PDF-1.4\n" + "发票 No.12345678 金额 ¥1280.50".encode() + os.urandom(2000)
SPEC = {
    "process_code": "PROC-REIMB-001", "title": "差旅费报销-张三",
    "originator": {"id": "zhangsan", "name": "张三", "department": "销售部"},
    "create_time": "2024-03-15T09:00:00+08:00", "finish_time": "2024-03-16T10:30:00+08:00",
    "form": [{"name": "报销事由", "value": "上海出差，拜访客户"},
             {"name": "报销金额", "kind": "money", "value": "1280.50"},
             {"name": "日期", "kind": "date", "value": "2024-03-15"},
             {"name": "发票", "kind": "attachment",
              "files": [{"name": "发票.pdf", "content_b64": base64.b64encode(PDF).decode()},
                        {"name": "行程单.jpg", "content": b"\xff\xd8\xff jpeg"}]},
             {"name": "明细", "kind": "table", "rows": [
                 [{"name": "项目", "value": "住宿"}, {"name": "金额", "kind": "money", "value": "800"}],
                 [{"name": "项目", "value": "交通"}, {"name": "金额", "kind": "money", "value": "480.50"},
                  {"name": "票据", "kind": "attachment", "files": [{"name": "车票.png", "content": b"png"}]}]]}],
    "trail": [{"actor": {"id": "lisi", "name": "李四"}, "action": "审批", "result": "agree",
               "time": "2024-03-16T10:30:00+08:00", "remark": "同意，按标准报销",
               "files": [{"name": "审批意见.docx", "content": b"docx bytes"}]}],
}


def make_conn(creds=D2, *, clock: float | None = None, **settings) -> DingTalkConnector:
    token, aes_key, owner = creds
    conn = DingTalkConnector({"app_key": owner, "app_secret": "secret", "agent_id": "1",
                              "token": token, "aes_key": aes_key, **settings})
    if clock is not None:
        conn.clock = lambda: clock
    return conn


def call(conn, sig, ts, nonce, encrypt, *, legacy=False, body=None, method="POST"):
    names = ("msg_signature", "timeStamp") if legacy else ("signature", "timestamp")
    query = {k: v for k, v in {names[0]: sig, names[1]: ts, "nonce": nonce}.items() if v is not None}
    raw = body if body is not None else json.dumps({"encrypt": encrypt}).encode()
    return conn.handle_callback(CallbackRequest(method, "/oa/1/callback", query, {}, raw))


def seal(payload, creds=D2, *, ts=None, nonce="n0nce123", owner=None):
    token, aes_key, default_owner = creds
    crypt = WXBizMsgCrypt(token=token, encoding_aes_key=aes_key, owner_id=owner or default_owner)
    ts = ts or str(int(time.time() * 1000))
    plain = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    encrypt, sig = crypt.encrypt_and_sign(plain, timestamp=ts, nonce=nonce)
    return sig, ts, nonce, encrypt


def assert_success(reply, creds=D2):
    token, aes_key, owner = creds
    data = json.loads(reply.body)
    assert reply.status == 200 and set(data) == {"msg_signature", "timeStamp", "nonce", "encrypt"}
    assert len(data["timeStamp"]) == 13
    crypt = WXBizMsgCrypt(token=token, encoding_aes_key=aes_key, owner_id=owner)
    assert crypt.verify_and_decrypt(data["msg_signature"], data["timeStamp"], data["nonce"],
                                    data["encrypt"]) == b"success"


# --- settings ----------------------------------------------------------------------------------

def test_settings_names_secrets_and_defaults():
    assert [s.name for s in DingTalkConnector.settings_spec] == [
        "app_key", "app_secret", "agent_id", "token", "aes_key", "owner_key", "loan_template",
        "api_base_url", "oapi_base_url"]
    assert DingTalkConnector.secret_names() == {"app_secret", "token", "aes_key"}
    conn = DingTalkConnector({"app_key": "dingapp", "app_secret": "s", "token": "t",
                              "aes_key": D2[1]})
    assert conn.settings["owner_key"] == "dingapp"
    assert conn.settings["api_base_url"] == "https://api.dingtalk.com"
    assert conn.settings["oapi_base_url"] == "https://oapi.dingtalk.com"
    assert connector_class("dingtalk") is DingTalkConnector and sim_class("dingtalk") is DingTalkSim
    assert DingTalkConnector.kind == "dingtalk" and DingTalkConnector.label == "钉钉"
    with pytest.raises(DomainError):
        DingTalkConnector({"app_key": "k", "app_secret": "s", "token": "t", "aes_key": "short"})
    with pytest.raises(DomainError):
        DingTalkConnector({"app_key": "k", "token": "t", "aes_key": D2[1]})


# --- vectors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("legacy", [True, False])
def test_d1_check_url_answered_with_encrypted_success(legacy):
    out = call(make_conn(D1, clock=1608001896.814), *D1_CALL, legacy=legacy)
    assert out.events == [] and out.replay_key
    assert_success(out.reply, D1)


def test_d2_success_reply_has_the_vector_shape():
    reply = make_conn(D2).success_reply()
    assert_success(reply, D2)
    assert WXBizMsgCrypt(token=D2[0], encoding_aes_key=D2[1], owner_id=D2[2]).verify_and_decrypt(
        "f36f4ba5337d426c7d4bca0dbcb06b3ddc1388fc", "1605695694141", "WelUQl6bCqcBa2fM",
        "X1VSe9cTJUMZu60d3kyLYTrBq5578ZRJtteU94wG0Q4Uk6E/wQYeJRIC0/UFW5Wkya1Ihz9oXAdLlyC9TRaqsQ==") == b"success"


def test_d3_suite_handshake_and_wrong_nonce():
    conn = make_conn(D3, clock=1445827045.067)
    out = call(conn, *D3_CALL)
    assert out.events == []
    assert_success(out.reply, D3)
    sig, ts, _nonce, enc = D3_CALL
    with pytest.raises(CallbackRejected) as err:
        call(conn, sig, ts, "xxxxx", enc)
    assert (err.value.code, err.value.status) == ("bad_signature", 401)


# --- negative callbacks ------------------------------------------------------------------------

def _tampered(creds=D2):
    sig, ts, nonce, enc = seal(AGREE)
    raw = bytearray(base64.b64decode(enc))
    raw[20] ^= 0x55
    return ts, nonce, base64.b64encode(bytes(raw)).decode()


def test_tampered_ciphertext_is_refused():
    ts, nonce, enc = _tampered()
    sig = seal(AGREE)[0]  # a signature over the original ciphertext
    with pytest.raises(CallbackRejected) as err:
        call(make_conn(), sig, ts, nonce, enc)
    assert err.value.status == 401
    with pytest.raises(CallbackRejected) as err:  # re-signed by someone holding the token only
        call(make_conn(), signature(D2[0], ts, nonce, enc), ts, nonce, enc)
    assert err.value.status in (400, 403)


@pytest.mark.parametrize(("case", "code", "status"), [
    ("wrong_owner", "wrong_owner", 403), ("stale", "stale", 401), ("future", "stale", 401),
    ("stale_seconds", "stale", 401), ("bad_signature", "bad_signature", 401),
    ("not_json", "malformed", 400), ("no_encrypt", "malformed", 400),
    ("no_nonce", "malformed", 400), ("no_signature", "malformed", 400),
    ("bad_timestamp", "malformed", 400), ("not_object", "malformed", 400),
    ("get", "method_not_allowed", 405)])
def test_rejections(case, code, status):
    now = time.time()
    ts = {"stale": str(int((now - 301) * 1000)), "future": str(int((now + 400) * 1000)),
          "stale_seconds": str(int(now - 400))}.get(case)
    payload = b'["not", "an object"]' if case == "not_object" else AGREE
    sig, ts, nonce, enc = seal(payload, ts=ts, owner="dingother" if case == "wrong_owner" else None)
    kwargs = {"body": {"not_json": b"<xml/>", "no_encrypt": b'{"crypt": "x"}'}.get(case),
              "method": "GET" if case == "get" else "POST"}
    sig = {"bad_signature": "0" * 40, "no_signature": None}.get(case, sig)
    nonce = None if case == "no_nonce" else nonce
    ts = "16O8001896814" if case == "bad_timestamp" else ts
    with pytest.raises(CallbackRejected) as err:
        call(make_conn(), sig, ts, nonce, enc, **kwargs)
    assert (err.value.code, err.value.status) == (code, status)


def test_seconds_timestamp_and_python_sample_base64_are_accepted():
    sig, ts, nonce, enc = seal(AGREE, ts=str(int(time.time())))
    wrapped = base64.encodebytes(base64.b64decode(enc)).decode()  # "\n" every 76 chars
    assert "\n" in wrapped
    out = call(make_conn(), signature(D2[0], ts, nonce, wrapped), ts, nonce, wrapped, legacy=True)
    assert [e.action for e in out.events] == ["approved"]


# --- events ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "action"), [
    ({}, "approved"), ({"result": "refuse"}, "finished"),
    ({"type": "terminate", "result": None}, "finished"),
    ({"type": "start", "result": None, "finishTime": None}, "ignored"),
    ({"EventType": "bpms_task_change", "remark": "同意"}, "ignored"),
    ({"EventType": "user_add_org", "processInstanceId": None}, "ignored")])
def test_only_finish_agree_is_an_archive_trigger(changes, action):
    payload = {k: v for k, v in {**AGREE, **changes}.items() if v is not None}
    out = call(make_conn(), *seal(payload))
    assert_success(out.reply)
    [event] = out.events
    assert event.action == action and event.payload["title"] == "差旅费报销-张三"
    if action == "approved":
        assert (event.instance_id, event.process_code) == ("9Qgx5QqjR7axMw", "PROC-REIMB-001")
        assert event.occurred_at == datetime.fromtimestamp(1495592305, UTC)


@pytest.mark.parametrize("event_type", ["check_url", "check_create_suite_url",
                                        "check_update_suite_url"])
def test_handshakes_carry_no_events(event_type):
    out = call(make_conn(), *seal({"EventType": event_type}))
    assert out.events == []
    assert_success(out.reply)


def test_event_id_is_stable_across_redeliveries_and_distinct_between_events():
    conn = make_conn()
    first = call(conn, *seal(AGREE, nonce="aaaa1111"))
    again = call(conn, *seal(AGREE, nonce="bbbb2222"))
    assert first.events[0].event_id == again.events[0].event_id
    assert first.replay_key != again.replay_key
    others = [call(conn, *seal({**AGREE, **c})).events[0].event_id for c in (
        {"result": "refuse"}, {"finishTime": 1495592999000}, {"processInstanceId": "other"},
        {"EventType": "bpms_task_change"})]
    assert len({first.events[0].event_id, *others}) == 5


# --- through the simulator ---------------------------------------------------------------------

@pytest.fixture
def dt(make_sim):
    sim = DingTalkSim()
    server = make_sim(sim)
    conn = DingTalkConnector(sim.connector_settings(), timeout=2.0, retries=2, backoff=0.01)
    return SimpleNamespace(sim=sim, server=server, conn=conn)


@pytest.fixture
def receiver(dt):
    outcomes = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            split = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            query = {k: v[0] for k, v in parse_qs(split.query).items()}
            try:
                out = dt.conn.handle_callback(CallbackRequest("POST", split.path, query, {}, body))
                outcomes.append(out)
                status, data = out.reply.status, out.reply.body
            except CallbackRejected as exc:
                status, data = exc.status, json.dumps(exc.as_dict()).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_address[1]}/oa/1/callback",
                          outcomes=outcomes)
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("opts", [{}, {"legacy_names": True}, {"python_sample": True}])
def test_fired_callbacks_are_verified_and_acknowledged(dt, receiver, opts):
    pid = dt.sim.create_instance(SPEC)
    assert dt.sim.fire_check_url(receiver.url, **opts)["acknowledged"]
    first = dt.sim.fire(callback_url=receiver.url, instance_id=pid, **opts)
    second = dt.sim.fire(callback_url=receiver.url, instance_id=pid, **opts)
    assert first["status"] == 200 and first["acknowledged"] and second["acknowledged"]
    check, one, two = receiver.outcomes
    assert check.events == [] and one.events[0].action == "approved"
    assert one.events[0].instance_id == pid and one.events[0].process_code == "PROC-REIMB-001"
    assert one.events[0].event_id == two.events[0].event_id
    assert one.replay_key != two.replay_key


def test_fired_non_triggers_are_ignored_and_wrong_owner_refused(dt, receiver):
    pid = dt.sim.create_instance({**SPEC, "status": "running"})
    actions = [dt.sim.fire(callback_url=receiver.url, instance_id=pid, action=a)
               for a in ("started", "task", "rejected")]
    assert all(r["acknowledged"] for r in actions)
    # a refusal ends the instance: a "finished" event, never archived
    assert [o.events[0].action for o in receiver.outcomes] == ["ignored", "ignored", "finished"]
    dt.sim.owner_key = dt.sim.corp_id  # legacy registration encrypts for the corpId
    refused = dt.sim.fire(callback_url=receiver.url, instance_id=pid)
    assert refused["status"] == 403 and not refused["acknowledged"]


def test_fetch_instance_round_trip(dt):
    inst = dt.conn.fetch_instance(dt.sim.create_instance(SPEC))
    assert (inst.title, inst.process_code, inst.status, inst.result) == (
        "差旅费报销-张三", "PROC-REIMB-001", "approved", "agree")
    assert (inst.originator_id, inst.originator_name, inst.department) == ("zhangsan", "张三", "销售部")
    assert inst.created_at == datetime(2024, 3, 15, 1, 0, tzinfo=UTC)
    assert inst.finished_at == datetime(2024, 3, 16, 2, 30, tzinfo=UTC)
    assert inst.field_value("报销事由") == "上海出差，拜访客户"
    assert inst.field_value("报销金额") == Decimal("1280.50") == inst.amount("报销金额")
    assert inst.field_value("日期") == "2024-03-15"
    assert inst.field_value("发票") == ["发票.pdf", "行程单.jpg"]
    assert inst.field_value("明细") == [{"项目": "住宿", "金额": Decimal("800")},
                                      {"项目": "交通", "金额": Decimal("480.50"), "票据": ["车票.png"]}]
    by_name = {a.filename: a for a in inst.attachments}
    assert by_name["发票.pdf"].field_name == "发票" and by_name["发票.pdf"].size == len(PDF)
    assert by_name["车票.png"].field_name == "票据" and by_name["车票.png"].extra["table"] == "明细"
    assert by_name["审批意见.docx"].field_name == "" and by_name["审批意见.docx"].extra["comment"]
    assert [(t.actor_name, t.action, t.result, t.remark) for t in inst.trail] == [
        ("张三", "发起", "none", ""), ("李四", "审批", "agree", "同意，按标准报销")]
    assert inst.trail[1].time == datetime(2024, 3, 16, 2, 30, tzinfo=UTC)


def test_attachments_download_byte_identical(dt, tmp_path):
    big = os.urandom(3 * 1024 * 1024 + 7)
    spec = {**SPEC, "form": [*SPEC["form"], {"name": "合同扫描件", "kind": "attachment",
                                            "files": [{"name": "合同.pdf", "content": big}]}]}
    inst = dt.conn.fetch_instance(dt.sim.create_instance(spec))
    originals = {name: data for name, data in dt.sim.files.values()}
    for ref in inst.attachments:
        buf = io.BytesIO()
        assert dt.conn.download_attachment(inst, ref, buf) == ref.filename
        assert buf.getvalue() == originals[ref.filename]
    ref = next(a for a in inst.attachments if a.filename == "合同.pdf")
    with open(tmp_path / "big.pdf", "wb") as fh:
        dt.conn.download_attachment(inst, ref, fh)
    assert hashlib.sha256((tmp_path / "big.pdf").read_bytes()).digest() == hashlib.sha256(big).digest()
    dt.sim.download_ttl = -1  # the granted URL is already expired
    with pytest.raises(ConnectorError):
        dt.conn.download_attachment(inst, ref, io.BytesIO())


def test_notify_work_notice_and_todo(dt):
    dt.sim.create_instance(SPEC)  # makes zhangsan and lisi known users
    url = "https://kjda.example/records/42"
    task_id = dt.conn.notify(user_ids=["zhangsan", "lisi"], title="发票缺失", text="请补交发票", url=url)
    notice = dt.sim.notices[-1]
    assert notice["kind"] == "work_notice" and str(notice["task_id"]) == task_id
    assert notice["userid_list"] == ["zhangsan", "lisi"] and notice["agent_id"] == int(dt.sim.agent_id)
    assert notice["msg"]["action_card"]["single_url"] == url
    ids = dt.conn.notify(user_ids=["zhangsan"], title="发票缺失", text="请补交", url=url,
                         todo=True, key="notice-7")
    todo = dt.sim.notices[-2]  # the to-do, then its work notice
    union = dt.sim.users["zhangsan"]["unionid"]
    assert todo["kind"] == "todo" and todo["id"] == ids and todo["union_id"] == union
    assert todo["body"]["executorIds"] == [union] and todo["body"]["detailUrl"]["pcUrl"] == url
    again = dt.conn.notify(user_ids=["zhangsan"], title="发票缺失", text="请补交", url=url,
                           todo=True, key="notice-7")
    assert again == ids  # same sourceId, same to-do


def test_notify_errors_carry_the_vendor_code(dt):
    with pytest.raises(ConnectorError, match="60121"):
        dt.conn.notify(user_ids=["nobody"], title="t", text="x", url="", todo=True)
    wrong = DingTalkConnector({**dt.sim.connector_settings(), "agent_id": "999"})
    with pytest.raises(ConnectorError, match="33012"):
        wrong.notify(user_ids=["zhangsan"], title="t", text="x", url="")
    missing = DingTalkConnector({**dt.sim.connector_settings(), "agent_id": ""})
    with pytest.raises(ConnectorError):
        missing.notify(user_ids=["zhangsan"], title="t", text="x", url="")


def test_token_cached_then_fetched_again_after_expiry_or_revocation(dt):
    pid = dt.sim.create_instance(SPEC)
    for _ in range(3):
        dt.conn.fetch_instance(pid)
    dt.conn.notify(user_ids=["zhangsan"], title="t", text="x", url="")
    assert dt.sim.token_requests == 2  # one api.dingtalk.com token, one oapi token
    dt.sim.tokens.clear()  # every issued token now unknown (40014 / InvalidAuthentication)
    assert dt.conn.fetch_instance(pid).title == "差旅费报销-张三"
    assert dt.sim.token_requests == 3
    dt.sim.token_ttl = 1
    dt.sim.tokens.clear()
    dt.conn.fetch_instance(pid)
    time.sleep(1.1)  # the sim's token expired, the cached one is still "fresh" locally
    dt.conn.notify(user_ids=["zhangsan"], title="t", text="x", url="")
    assert dt.conn.fetch_instance(pid).status == "approved"
    assert dt.sim.token_requests == 6


def test_platform_500_then_success_is_retried(dt):
    pid = dt.sim.create_instance(SPEC)
    dt.server.fail_next("/dingtalk/api/v1.0/workflow/processInstances", status=500, count=2)
    assert dt.conn.fetch_instance(pid).title == "差旅费报销-张三"
    assert dt.server.requests.count(("GET", "/dingtalk/api/v1.0/workflow/processInstances")) == 3


def test_platform_timeout_and_persistent_500_raise_connector_error(dt):
    pid = dt.sim.create_instance(SPEC)
    slow = DingTalkConnector(dt.sim.connector_settings(), timeout=0.3, retries=1, backoff=0.01)
    dt.server.fail_next("/dingtalk/api/v1.0/workflow", status=0, delay=1.0, count=2)
    with pytest.raises(ConnectorError) as err:
        slow.fetch_instance(pid)
    assert err.value.code == "platform_unavailable"
    dt.server.fail_next("/dingtalk/api/v1.0/workflow", status=503, count=5)
    with pytest.raises(ConnectorError):
        dt.conn.fetch_instance(pid)


def test_vendor_error_code_raises(dt):
    with pytest.raises(ConnectorError) as err:
        dt.conn.fetch_instance("no-such-instance")
    assert err.value.detail["vendor_code"] == "InvalidParameter.ProcessInstanceId"
    bad = DingTalkConnector({**dt.sim.connector_settings(), "app_secret": "wrong"})
    TokenCache.invalidate(bad._token_key)  # tokens are cached per app, not per secret
    with pytest.raises(ConnectorError, match="invalidClientIdOrSecret"):
        bad.fetch_instance("x")


def test_list_finished_pages_and_checks_finish_time(dt):
    now = datetime.now(UTC)
    iso = lambda d: d.isoformat()  # noqa: E731
    make = lambda **kw: dt.sim.create_instance({**SPEC, **kw})  # noqa: E731
    recent = make(create_time=iso(now - timedelta(days=3)), finish_time=iso(now - timedelta(minutes=10)))
    paged = [make(create_time=iso(now - timedelta(minutes=50 - i)), finish_time=iso(now)) for i in range(22)]
    make(create_time=iso(now - timedelta(days=4)), finish_time=iso(now - timedelta(days=2)))
    make(status="running", create_time=iso(now - timedelta(minutes=30)))
    make(status="rejected", create_time=iso(now - timedelta(minutes=30)), finish_time=iso(now))
    make(process_code="PROC-OTHER", create_time=iso(now - timedelta(minutes=30)), finish_time=iso(now))
    found = dt.conn.list_finished(since=now - timedelta(hours=1), until=now + timedelta(minutes=1),
                                  process_codes=["PROC-REIMB-001"])
    assert sorted(found) == sorted([recent, *paged])
    gets = dt.server.requests.count(("GET", "/dingtalk/api/v1.0/workflow/processInstances"))
    assert dt.conn.list_finished(since=now - timedelta(hours=1), until=now + timedelta(minutes=1),
                                 process_codes=["PROC-REIMB-001"]) == found
    assert dt.server.requests.count(("GET", "/dingtalk/api/v1.0/workflow/processInstances")) == gets
    assert dt.conn.fetch_instance(paged[0]).process_code == "PROC-REIMB-001"


def test_revocation_after_approval(dt, receiver):
    pid = dt.sim.create_instance(SPEC)
    dt.sim.fire(callback_url=receiver.url, instance_id=pid)
    first = dt.sim.fire(callback_url=receiver.url, instance_id=pid, action="revoked", reason="金额有误")
    again = dt.sim.fire(callback_url=receiver.url, instance_id=pid, action="revoked")
    assert first["acknowledged"] and again["acknowledged"]
    approved, revoke, revoke_again = (o.events[0] for o in receiver.outcomes)
    assert revoke.action == "approved" and revoke.instance_id != pid  # R's own finish/agree
    assert revoke.event_id == revoke_again.event_id != approved.event_id
    reversal = dt.conn.fetch_instance(revoke.instance_id)
    assert (reversal.status, reversal.reverts_instance_id) == ("revoked", pid)
    assert reversal.trail[0].remark == "金额有误"
    original = dt.conn.fetch_instance(pid)
    assert original.status == "revoked" and original.raw["kjdaRevokedBy"] == [revoke.instance_id]
    assert original.reverts_instance_id == ""
