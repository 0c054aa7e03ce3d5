"""WeCom connector and simulator: oa-protocols.md §0/§2 vectors, callbacks, API round trips."""

from __future__ import annotations

import base64
import io
import os
import struct
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from kjda.connectors.base import CallbackRejected, CallbackRequest, ConnectorError
from kjda.connectors.http import TokenCache
from kjda.connectors.registry import connector_class
from kjda.connectors.vendors.wecom.client import disposition_filename
from kjda.connectors.vendors.wecom.connector import WeComConnector
from kjda.connectors.wxcrypto import signature
from kjda.errors import DomainError
from kjda_oasim.simulators import sim_class
from kjda_oasim.wecom.sim import WeComSim

W1 = {"corp_id": "wx5823bf96d3bd56c7", "corp_secret": "s", "token": "QDG6eK",
      "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"}
W1_VERIFY = ("msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589"
             "&nonce=263014780&echostr=P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3"
             "zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D")
W1_MSG = {"msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6",
          "timestamp": "1409659813", "nonce": "1372623149"}
W1_ENCRYPT = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
W3 = {"corp_id": "wx49f0ab532d5d035a", "corp_secret": "s", "token": "123456",
      "encoding_aes_key": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"}
W3_MSG = {"msg_signature": "407518b7649e86ef23978113f92d27afa9296533",
          "timestamp": "1411525903", "nonce": "461056294"}
W3_ENCRYPT = "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
W3_ECHO = {"msg_signature": "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "timestamp": "1411443780",
           "nonce": "437374425",
           "echostr": "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q=="}
PDF = b"%PDF-1.4\n" + "发票 No.12345678 金额 ¥1,280.50\n".encode() * 50
SPEC = {
    "process_code": "PROC-REIMB-001", "title": "差旅费报销-张三",
    "originator": {"id": "zhangsan", "name": "张三", "department": "销售部"},
    "create_time": "2024-03-15T09:00:00+08:00",
    "form": [{"name": "报销事由", "value": "上海出差（客户拜访）"},
             {"name": "报销金额", "kind": "money", "value": "1280.50"},
             {"name": "日期", "kind": "date", "value": "2024-03-15"},
             {"name": "发票", "kind": "attachment",
              "files": [{"name": "发票.pdf", "content_b64": base64.b64encode(PDF).decode()}]},
             {"name": "明细", "kind": "table", "rows": [
                 [{"name": "项目", "value": "住宿"}, {"name": "金额", "kind": "money", "value": "800"}],
                 [{"name": "项目", "value": "交通"},
                  {"name": "金额", "kind": "money", "value": "480.50"}]]}],
    "trail": [{"actor": {"id": "lisi", "name": "李四"}, "action": "审批", "result": "agree",
               "time": "2024-03-16T10:00:00+08:00", "remark": "同意，按标准报销",
               "files": [{"name": "审批意见.txt", "content": "已核对"}]},
              {"actor": {"id": "wangwu", "name": "王五"}, "action": "评论",
               "time": "2024-03-16T11:00:00+08:00", "remark": "发票已收"}]}


def xml_envelope(encrypt: str, corp: str = "wx5823bf96d3bd56c7") -> bytes:
    return (f"<xml><ToUserName><![CDATA[{corp}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]>"
            f"</Encrypt><AgentID><![CDATA[218]]></AgentID></xml>").encode()


def post(query: dict, body: bytes) -> CallbackRequest:
    return CallbackRequest("POST", "/oa/x/callback", dict(query), {}, body)


def encode(query: dict) -> str:
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())


def at(moment: str):
    return lambda: float(moment)


def rejected(conn: WeComConnector, request: CallbackRequest) -> CallbackRejected:
    with pytest.raises(CallbackRejected) as err:
        conn.handle_callback(request)
    return err.value


@pytest.fixture(autouse=True)
def _fresh_tokens():
    TokenCache._tokens.clear()
    yield
    TokenCache._tokens.clear()


@pytest.fixture
def wecom(make_sim):
    sim = WeComSim()
    oa = make_sim(sim)
    conn = WeComConnector(sim.connector_settings())
    conn.backoff = 0.0
    return sim, oa, conn


@pytest.fixture
def receiver():
    """A bare HTTP endpoint over handle_callback that decodes the query like a form decoder
    ('+' → ' ') but passes the raw query too, as KJDA's view does."""
    state: dict = {"outcomes": []}

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            split = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            lossy = {k: v[0] for k, v in parse_qs(split.query).items()}
            req = CallbackRequest(self.command, split.path, lossy,
                                  {k.lower(): v for k, v in self.headers.items()}, body,
                                  raw_query=split.query)
            try:
                out = state["connector"].handle_callback(req)
                state["outcomes"].append(out)
                status, data = out.reply.status, out.reply.body
            except CallbackRejected as exc:
                status, data = exc.status, exc.code.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _handle

        def log_message(self, *args) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/oa/x/callback"
    server.shutdown()
    server.server_close()


# --- settings -----------------------------------------------------------------------------
def test_settings_names_secrets_and_registry():
    spec = {s.name: s for s in WeComConnector.settings_spec}
    assert list(spec) == ["corp_id", "corp_secret", "agent_id", "token", "encoding_aes_key",
                          "loan_template", "api_base_url"]
    assert WeComConnector.secret_names() == {"corp_secret", "token", "encoding_aes_key"}
    assert spec["api_base_url"].default == "https://qyapi.weixin.qq.com"
    assert connector_class("wecom") is WeComConnector and sim_class("wecom") is WeComSim
    with pytest.raises(DomainError):
        WeComConnector({**W1, "encoding_aes_key": "short"})


# --- the §2.2 vectors through the connector -----------------------------------------------
def test_w1_url_verification_answers_plain_echo_byte_exactly():
    conn = WeComConnector(W1)
    conn._now = at("1409659589")
    out = conn.handle_callback(CallbackRequest("GET", "/cb", {}, {}, b"", raw_query=W1_VERIFY))
    assert out.reply.status == 200 and out.reply.body == b"1616140317555161061"
    assert out.reply.content_type.startswith("text/plain") and not out.events
    # '+' sent unencoded: kept from the raw query; a form-style decoder ('+' → ' ') upstream
    # with no raw query still verifies
    unencoded = W1_VERIFY.replace("%2B", "+")
    raw = CallbackRequest("GET", "/cb", {}, {}, b"", raw_query=unencoded)
    assert conn.handle_callback(raw).reply.body == b"1616140317555161061"
    lossy = {k: v[0] for k, v in parse_qs(unencoded).items()}
    assert " " in lossy["echostr"]
    assert conn.handle_callback(CallbackRequest("GET", "/cb", lossy, {}, b"")).reply.body == \
        b"1616140317555161061"


def test_w1_message_decrypts_to_an_ignored_text_event():
    conn = WeComConnector(W1)
    conn._now = at("1409659813")
    out = conn.handle_callback(post(W1_MSG, xml_envelope(W1_ENCRYPT)))
    assert out.reply.status == 200 and out.reply.body == b""
    (event,) = out.events
    assert event.action == "ignored" and event.event_id == "wecom:4561255354251345929"
    assert out.replay_key == "wecom:" + W1_MSG["msg_signature"]


def test_w3_message_echostr_and_wrong_nonce():
    conn = WeComConnector(W3)
    conn._now = at("1411525903")
    assert conn.handle_callback(post(W3_MSG, xml_envelope(W3_ENCRYPT))).events[0].action == \
        "ignored"
    conn._now = at("1411443780")
    echo = CallbackRequest("GET", "/cb", W3_ECHO, {}, b"")
    assert conn.handle_callback(echo).reply.body == b"5927782489442352469"
    bad = rejected(conn, CallbackRequest("GET", "/cb", {**W3_ECHO, "nonce": "437374424"}, {}, b""))
    assert (bad.code, bad.status) == ("bad_signature", 401)


def test_negative_vectors():
    conn = WeComConnector(W1)
    conn._now = at("1409659813")
    tampered = W1_ENCRYPT[:10] + ("A" if W1_ENCRYPT[10] != "A" else "B") + W1_ENCRYPT[11:]
    cases = [
        (post(W1_MSG, xml_envelope(tampered)), "bad_signature", 401),
        (post({**W1_MSG, "nonce": "1"}, xml_envelope(W1_ENCRYPT)), "bad_signature", 401),
        (post({**W1_MSG, "msg_signature": ""}, xml_envelope(W1_ENCRYPT)), "bad_signature", 401),
        (post(W1_MSG, b"<xml><Encrypt>"), "malformed", 400),
        (post(W1_MSG, b"<xml><ToUserName>x</ToUserName></xml>"), "malformed", 400),
        (post(W1_MSG, b'{"encrypt": '), "malformed", 400),
        (post(W1_MSG, b'<!DOCTYPE x [<!ENTITY a "b">]><xml><Encrypt>&a;</Encrypt></xml>'),
         "malformed", 400),
        (post({**W1_MSG, "timestamp": ""}, xml_envelope(W1_ENCRYPT)), "malformed", 400),
        (CallbackRequest("PUT", "/cb", W1_MSG, {}, b""), "method_not_allowed", 405),
    ]
    for request, code, status in cases:
        err = rejected(conn, request)
        assert (err.code, err.status) == (code, status), request
    # tampered but re-signed: the ciphertext no longer decrypts to a valid message
    resigned = {**W1_MSG, "msg_signature": signature("QDG6eK", "1409659813", "1372623149",
                                                     tampered)}
    assert rejected(conn, post(resigned, xml_envelope(tampered))).status in (400, 403)
    # the same bytes for another corp are refused with 403
    other = WeComConnector({**W1, "corp_id": "wwanothercorp"})
    other._now = conn._now
    assert rejected(other, post(W1_MSG, xml_envelope(W1_ENCRYPT))).code == "wrong_owner"
    # stale: the vector's own clock is years ago
    assert rejected(WeComConnector(W1), post(W1_MSG, xml_envelope(W1_ENCRYPT))).code == "stale"


def test_bad_pad_byte_is_refused():
    sim = WeComSim()
    plain = os.urandom(16) + struct.pack(">I", 3) + b"abc" + sim.corp_id.encode()
    plain += b"\x00" * (32 - len(plain) % 32)  # pad byte 0: invalid
    enc = Cipher(algorithms.AES(sim.crypt.key), modes.CBC(sim.crypt.key[:16])).encryptor()
    encrypt = base64.b64encode(enc.update(plain) + enc.finalize()).decode()
    ts = str(int(time.time()))
    query = {"msg_signature": signature(sim.callback_token, ts, "42", encrypt),
             "timestamp": ts, "nonce": "42"}
    conn = WeComConnector(sim.connector_settings())
    assert rejected(conn, post(query, xml_envelope(encrypt))).code == "bad_padding"


# --- approval events ----------------------------------------------------------------------
def test_trigger_reversal_and_ignored_events(wecom):
    sim, _oa, conn = wecom
    sp_no = sim.create_instance(SPEC)
    cases = {"submitted": ("ignored", "1"), "commented": ("ignored", "10"),
             "approved": ("approved", "2"), "revoked": ("revoked", "8")}
    for action, (expected, change) in cases.items():
        query, body, _ = sim.seal(sim.event_xml(sp_no, action).encode())
        (event,) = conn.handle_callback(post(query, body)).events
        assert event.action == expected and event.instance_id == sp_no
        assert event.event_id.startswith(f"{sp_no}:{change}:")
        assert event.process_code == "PROC-REIMB-001"
        assert event.payload["sp_name"] == "差旅费报销-张三"
        assert event.payload["_originator_id"] == "zhangsan"
    assert event.event_id == f"{sp_no}:8:6" and "撤销" in event.reason
    # Ended unapproved: never archived, but an approval KJDA started learns its end.
    for action, change in (("rejected", "3"), ("withdrawn", "6")):
        other = sim.create_instance({**SPEC, "status": "running"})
        query, body, _ = sim.seal(sim.event_xml(other, action).encode())
        (event,) = conn.handle_callback(post(query, body)).events
        assert event.action == "finished" and event.event_id.startswith(f"{other}:{change}:")


def test_event_id_is_stable_across_redeliveries_and_json_flavour(wecom):
    sim, _oa, conn = wecom
    sp_no = sim.create_instance(SPEC)
    outcomes = []
    for json_flavour in (False, False, True):
        query, body, _ = sim.seal(sim.event_xml(sp_no).encode(), json_flavour=json_flavour)
        outcomes.append(conn.handle_callback(post(query, body)))
    assert {o.events[0].event_id for o in outcomes} == {f"{sp_no}:2:2"}
    assert len({o.replay_key for o in outcomes}) == 3


def test_documented_sample_with_chinese_comment():
    sim = WeComSim(corp_id="ww1cSD21f1e9c0caaa")
    xml = ("<xml><ToUserName><![CDATA[ww1cSD21f1e9c0caaa]]></ToUserName><FromUserName><![CDATA"
           "[sys]]></FromUserName><CreateTime>1571732272</CreateTime><MsgType><![CDATA[event]]>"
           "</MsgType><Event><![CDATA[sys_approval_change]]></Event><AgentID>3010040</AgentID>"
           "<ApprovalInfo><SpNo>201910220003</SpNo><SpName><![CDATA[示例模板]]></SpName>"
           "<SpStatus>{st}</SpStatus><TemplateId><![CDATA[3TkaH5]]></TemplateId><Applyer><UserId>"
           "<![CDATA[WuJunJie]]></UserId><Party><![CDATA[1]]></Party></Applyer><Comments>"
           "<CommentUserInfo><UserId><![CDATA[LiuZhi]]></UserId></CommentUserInfo>"
           "<CommentContent><![CDATA[这是一个备注]]></CommentContent></Comments>"
           "<StatuChangeEvent>{ev}</StatuChangeEvent></ApprovalInfo></xml>")
    conn = WeComConnector(sim.connector_settings())
    results = {}
    for st, ev in ((1, 10), (2, 2), (6, 8)):
        query, body, _ = sim.seal(xml.replace("{st}", str(st)).replace("{ev}", str(ev)).encode())
        results[st] = conn.handle_callback(post(query, body)).events[0]
    assert [results[s].action for s in (1, 2, 6)] == ["ignored", "approved", "revoked"]
    assert results[1].event_id == "201910220003:10:1:1571732272"
    assert results[6].reason.endswith("这是一个备注")


def test_fire_and_verify_url_over_http(wecom, receiver):
    sim, _oa, conn = wecom
    state, url = receiver
    state["connector"] = conn
    for _ in range(5):  # random echostrs: many contain '+', '/' and '='
        handshake = sim.fire_verify_url(url)
        assert handshake["status"] == 200 and handshake["body"] == handshake["echo"]
    sp_no = sim.create_instance(SPEC)
    assert sim.fire(callback_url=url, instance_id=sp_no) == {"status": 200, "body": ""}
    assert state["outcomes"][-1].events[0].action == "approved"
    last = sim.deliveries[-1]
    sim.deliver(url, last["query"], last["body"], last["content_type"])  # byte-identical
    assert state["outcomes"][-1].replay_key == state["outcomes"][-2].replay_key


# --- API ----------------------------------------------------------------------------------
def test_fetch_instance_round_trip_and_download(wecom):
    sim, _oa, conn = wecom
    inst = conn.fetch_instance(sim.create_instance(SPEC))
    assert (inst.process_code, inst.title, inst.status, inst.result) == \
        ("PROC-REIMB-001", "差旅费报销-张三", "approved", "agree")
    assert (inst.originator_id, inst.originator_name, inst.department) == \
        ("zhangsan", "张三", "销售部")
    assert inst.created_at == datetime(2024, 3, 15, 1, 0, tzinfo=UTC)
    assert inst.finished_at == datetime(2024, 3, 16, 2, 0, tzinfo=UTC)
    assert inst.field_value("报销事由") == "上海出差（客户拜访）"
    assert inst.amount("报销金额") == Decimal("1280.50")
    assert inst.field_value("日期") == "2024-03-15"
    assert inst.field_value("明细") == [{"项目": "住宿", "金额": Decimal("800")},
                                      {"项目": "交通", "金额": Decimal("480.50")}]
    invoice = next(a for a in inst.attachments if a.field_name == "发票")
    assert (invoice.filename, invoice.size) == ("发票.pdf", len(PDF))
    assert invoice.file_id.startswith("WWCISP_")
    trail_file = next(a for a in inst.attachments if a.extra.get("source") == "trail")
    assert trail_file.filename == "审批意见.txt"
    assert [(t.actor_id, t.actor_name, t.action, t.result, t.remark) for t in inst.trail] == [
        ("lisi", "李四", "审批", "agree", "同意，按标准报销"),
        ("wangwu", "王五", "评论", "comment", "发票已收")]
    dest = io.BytesIO()
    assert conn.download_attachment(inst, invoice, dest) == "发票.pdf"
    assert dest.getvalue() == PDF


def test_big_attachment_streams_identically(wecom):
    sim, _oa, conn = wecom
    data = os.urandom(3 * 1024 * 1024 + 7)
    sp_no = sim.create_instance({**SPEC, "form": [{"name": "附件", "kind": "attachment", "files": [
        {"name": "扫描件 合同.pdf", "content": data}]}]})
    inst = conn.fetch_instance(sp_no)

    class Counting(io.BytesIO):
        writes = 0

        def write(self, chunk):
            Counting.writes += 1
            return super().write(chunk)

    dest = Counting()
    assert conn.download_attachment(inst, inst.attachments[0], dest) == "扫描件 合同.pdf"
    assert dest.getvalue() == data and Counting.writes > 1


@pytest.mark.parametrize("header", [
    'attachment; filename="发票.pdf"', 'attachment; filename="%E5%8F%91%E7%A5%A8.pdf"',
    "attachment; filename*=UTF-8''%E5%8F%91%E7%A5%A8.pdf", 'attachment; filename="../x/发票.pdf"'])
def test_content_disposition_filenames(header):
    assert disposition_filename(httpx.Headers([(b"content-disposition", header.encode())])) == "发票.pdf"


def test_notify_textcard_todo_and_text(wecom):
    sim, _oa, conn = wecom
    msgid = conn.notify(user_ids=["zhangsan", "caiwu"], title="缺少发票", text="报销单缺少发票 <PDF>",
                        url="https://kjda.example/records/1", todo=True, key="k1")
    notice = sim.notices[-1]
    assert msgid and notice["msgid"] == msgid and notice["user_ids"] == ["zhangsan", "caiwu"]
    assert notice["msgtype"] == "textcard" and notice["title"] == "【待办】缺少发票" and notice["todo"]
    assert notice["raw"]["agentid"] == 1000002 and notice["raw"]["enable_duplicate_check"] == 1
    conn.notify(user_ids=["zhangsan"], title="已归档", text="凭证已归档", url="")
    assert sim.notices[-1]["msgtype"] == "text" and not sim.notices[-1]["todo"]
    with pytest.raises(ConnectorError):
        WeComConnector({**sim.connector_settings(), "agent_id": ""}).notify(
            user_ids=["a"], title="t", text="x", url="https://x")


def test_token_cached_then_refetched_after_expiry(wecom):
    sim, oa, conn = wecom
    sp_no = sim.create_instance(SPEC)
    for _ in range(3):
        conn.fetch_instance(sp_no)
    conn.notify(user_ids=["zhangsan"], title="t", text="x", url="https://x")
    assert sim.token_fetches == 1
    sim.expire_tokens()  # the platform expires it while our cache still holds it (42001)
    assert conn.fetch_instance(sp_no).instance_id == sp_no
    assert sim.token_fetches == 2


def test_platform_500_then_success_and_timeout(wecom):
    sim, oa, conn = wecom
    sp_no = sim.create_instance(SPEC)
    oa.fail_next("/wecom/cgi-bin/oa/getapprovaldetail", status=500, count=2)
    oa.fail_next("/wecom/cgi-bin/media/get", status=503, count=1)
    inst = conn.fetch_instance(sp_no)
    assert inst.instance_id == sp_no and inst.attachments[0].filename == "发票.pdf"
    assert oa.requests.count(("POST", "/wecom/cgi-bin/oa/getapprovaldetail")) == 3
    slow = WeComConnector(sim.connector_settings())
    slow.timeout, slow.retries, slow.backoff = 0.2, 1, 0.0
    oa.fail_next("/wecom/cgi-bin/oa/getapprovaldetail", status=0, delay=0.6, count=5)
    with pytest.raises(ConnectorError) as err:
        slow.fetch_instance(sp_no)
    assert err.value.code == "platform_unavailable"


def test_vendor_error_codes(wecom):
    sim, _oa, conn = wecom
    with pytest.raises(ConnectorError) as err:
        conn.fetch_instance("209901010001")
    assert err.value.code == "wecom_api_error" and "40058" in err.value.en
    wrong = WeComConnector({**sim.connector_settings(), "corp_secret": "nope"})
    with pytest.raises(ConnectorError) as err:
        wrong.fetch_instance("1")
    assert err.value.detail == {"errcode": 40001}
    inst = conn.fetch_instance(sim.create_instance(SPEC))
    missing = inst.attachments[0].__class__(file_id="WWCISP_gone", filename="")
    with pytest.raises(ConnectorError) as err:
        conn.download_attachment(inst, missing, io.BytesIO())
    assert err.value.detail == {"errcode": 40007}


def test_list_finished_filters_template_status_and_pages(wecom):
    sim, _oa, conn = wecom
    now = datetime.now(UTC)
    today = now.astimezone().isoformat()
    wanted = {sim.create_instance({**SPEC, "form": [], "trail": [], "create_time": today})
              for _ in range(105)}
    sim.create_instance({**SPEC, "form": [], "status": "running", "create_time": today})
    sim.create_instance({**SPEC, "form": [], "process_code": "OTHER", "create_time": today})
    old = sim.create_instance({**SPEC, "form": [], "create_time":
                               (now - timedelta(days=50)).isoformat()})
    found = conn.list_finished(since=now - timedelta(hours=1), until=now + timedelta(minutes=1),
                               process_codes=["PROC-REIMB-001"])
    assert set(found) == wanted and len(found) == 105
    longer = conn.list_finished(since=now - timedelta(days=80), until=now,
                                process_codes=["PROC-REIMB-001"])  # several 30-day windows
    assert old in longer


@pytest.mark.django_db
def test_kjda_callback_view(wecom, client):
    from kjda.connectors.models import InboxEvent
    from kjda.connectors.services import connector_create

    sim, _oa, _conn = wecom
    connector = connector_create(kind="wecom", name="企业微信", settings=sim.connector_settings())
    url = f"/oa/{connector.pk}/callback"
    ts = str(int(time.time()))
    echostr, sig = sim.crypt.encrypt_and_sign(b"8812345", timestamp=ts, nonce="77")
    query = {"msg_signature": sig, "timestamp": ts, "nonce": "77", "echostr": echostr}
    assert client.get(f"{url}?{encode(query)}").content == b"8812345"
    sp_no = sim.create_instance(SPEC)
    query, body, ctype = sim.seal(sim.event_xml(sp_no).encode())
    answer = client.post(f"{url}?{encode(query)}", data=body, content_type=ctype)
    assert answer.status_code == 200 and answer.content == b""
    assert InboxEvent.objects.get(connector=connector).event_id == f"{sp_no}:2:2"
    again = client.post(f"{url}?{encode(query)}", data=body, content_type=ctype)
    assert again.status_code == 200 and again.content == b""  # WeCom's "received"
    assert InboxEvent.objects.filter(connector=connector).count() == 1
