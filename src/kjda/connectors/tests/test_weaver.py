"""Weaver e-cology (oa-protocols.md §4): the signed Action push, the REST API with RSA app
registration through the simulator, attachments, OFS to-dos, tokens, faults."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from decimal import Decimal

import pytest

from kjda.connectors.base import CallbackRejected, CallbackRequest, ConnectorError
from kjda.connectors.http import TokenCache
from kjda.connectors.weaver import WeaverConnector, rsa_encrypt
from kjda_oasim.core import SimRequest, SimResponse, VendorSim
from kjda_oasim.weaver import WeaverSim

INVOICE = b"%PDF-1.4\n" + "增值税电子普通发票".encode() * 20000  # ~540 KB
PHOTO = bytes(range(256)) * 64
SPEC = {
    "process_code": "PROC-REIMB-001", "title": "差旅费报销-张三",
    "originator": {"id": "zhangsan", "name": "张三", "department": "销售部"},
    "create_time": "2024-03-15T09:00:00+08:00", "finish_time": "2024-03-16T10:30:00+08:00",
    "form": [
        {"name": "报销事由", "value": "上海出差（客户拜访）"},
        {"name": "报销金额", "kind": "money", "value": "1280.50"},
        {"name": "日期", "kind": "date", "value": "2024-03-15"},
        {"name": "发票", "kind": "attachment",
         "files": [{"name": "发票.pdf", "content_b64": base64.b64encode(INVOICE).decode()},
                   {"name": "车票 照片.jpg", "content_b64": base64.b64encode(PHOTO).decode()}]},
        {"name": "明细", "kind": "table", "rows": [
            [{"name": "项目", "value": "住宿"}, {"name": "金额", "kind": "money", "value": "800"}],
            [{"name": "项目", "value": "交通"}, {"name": "金额", "kind": "money", "value": "480.5"}]]}],
    "trail": [
        {"actor": {"id": "zhangsan", "name": "张三"}, "action": "发起", "result": "agree",
         "time": "2024-03-15T09:00:00+08:00", "remark": ""},
        {"actor": {"id": "lisi", "name": "李四"}, "action": "审批", "result": "agree",
         "time": "2024-03-16T10:30:00+08:00", "remark": "同意 <报销>",
         "files": [{"name": "审批意见.txt", "content_b64": base64.b64encode("同意".encode()).decode()}]}],
}


class Receiver(VendorSim):
    """Stands in for KJDA's callback view: hands the exact bytes to the connector."""

    name, prefix = "kjda", "/kjda"

    def __init__(self) -> None:
        super().__init__()
        self.connector: WeaverConnector | None = None
        self.outcomes: list = []

    def routes(self):
        return [("POST", "/callback", self._callback)]

    def _callback(self, req: SimRequest, _m) -> SimResponse:
        try:
            outcome = self.connector.handle_callback(
                CallbackRequest("POST", req.path, req.query, req.headers, req.body, "127.0.0.1"))
        except CallbackRejected as exc:
            return SimResponse.of_json(exc.as_dict(), exc.status)
        self.outcomes.append(outcome)
        return SimResponse(outcome.reply.status, outcome.reply.body)


@pytest.fixture(autouse=True)
def _fresh_caches():
    yield
    WeaverConnector._registrations.clear()
    WeaverConnector._keys.clear()
    for key in [k for k in TokenCache._tokens if k.startswith("weaver:")]:
        TokenCache.invalidate(key)


@pytest.fixture
def env(make_sim):
    weaver, receiver = WeaverSim(), Receiver()
    sim = make_sim(weaver, receiver)
    oa = WeaverConnector(weaver.connector_settings())
    oa.retries, oa.backoff = 2, 0.01
    receiver.connector = oa
    return sim, weaver, receiver, oa


def fire(env, request_id, action="approved"):
    sim, weaver, receiver, _oa = env
    return weaver.fire(callback_url=sim.base_url + "/kjda/callback", instance_id=request_id,
                       action=action)


def push(oa, weaver, payload, **sign_kw):
    body = json.dumps(payload, ensure_ascii=False).encode()
    return oa.handle_callback(CallbackRequest("POST", "/oa/1/callback", {},
                                              weaver.sign(body, **sign_kw), body, "10.0.0.8"))


def read(oa, inst, ref) -> tuple[str, bytes]:
    dest = io.BytesIO()
    return oa.download_attachment(inst, ref, dest), dest.getvalue()


# --- the REST API round trip ------------------------------------------------------------------

def test_fetch_instance_round_trip(env):
    _sim, weaver, _r, oa = env
    inst = oa.fetch_instance(weaver.create_instance(SPEC))
    assert (inst.process_code, inst.title, inst.status, inst.result) == (
        "PROC-REIMB-001", "差旅费报销-张三", "approved", "agree")
    assert (inst.originator_id, inst.originator_name, inst.department) == ("zhangsan", "张三",
                                                                           "销售部")
    assert inst.field_value("报销事由") == "上海出差（客户拜访）"
    assert inst.field_value("报销金额") == Decimal("1280.50") == inst.amount("报销金额")
    assert inst.field_value("日期") == "2024-03-15"
    rows = inst.field_value("明细")
    assert [[c["value"] for c in row] for row in rows] == [["住宿", Decimal("800")],
                                                           ["交通", Decimal("480.5")]]
    assert inst.created_at.isoformat() == "2024-03-15T09:00:00+08:00"
    assert inst.finished_at.isoformat() == "2024-03-16T10:30:00+08:00"
    names = [(a.filename, a.field_name) for a in inst.attachments]
    assert names == [("发票.pdf", "发票"), ("车票 照片.jpg", "发票"), ("审批意见.txt", "")]
    assert [(t.actor_name, t.action, t.result, t.remark) for t in inst.trail] == [
        ("张三", "提交", "agree", ""), ("李四", "批准", "agree", "同意 <报销>")]
    assert [read(oa, inst, a)[1] for a in inst.attachments] == [INVOICE, PHOTO, "同意".encode()]


def test_registration_rsa_and_cookies(env):
    _sim, weaver, _r, oa = env
    request_id = weaver.create_instance(SPEC)
    oa.fetch_instance(request_id)
    assert set(oa.updated_settings) == {"rsa_private_key", "spk"}
    assert oa.updated_settings["spk"] == weaver.spk
    assert weaver.cookies_seen == 0  # e-cology's session cookie would override the userid
    # the persisted key is reused: the same cpk is registered again
    cpk = weaver.registrations[weaver.app_id]["cpk"]
    WeaverConnector._registrations.clear()
    again = WeaverConnector({**weaver.connector_settings(), **oa.updated_settings})
    again.fetch_instance(request_id)
    assert weaver.registrations[weaver.app_id]["cpk"] == cpk


def test_rsa_matches_pycryptodome_peer(env):
    _sim, weaver, _r, _oa = env
    cryptodome = pytest.importorskip("Cryptodome.Cipher.PKCS1_v1_5")
    from Cryptodome.PublicKey import RSA
    from cryptography.hazmat.primitives import serialization

    pem = weaver.key.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())
    cipher = cryptodome.new(RSA.import_key(pem))
    assert cipher.decrypt(base64.b64decode(rsa_encrypt(weaver.spk, "1")), None) == b"1"


def test_one_token_for_several_calls_and_refetch_after_expiry(env):
    _sim, weaver, _r, oa = env
    request_id = weaver.create_instance(SPEC)
    inst = oa.fetch_instance(request_id)
    oa.fetch_instance(request_id)
    read(oa, inst, inst.attachments[1])
    assert weaver.token_requests == 1
    weaver.token_ttl = 1
    weaver.tokens.clear()  # the OA restarted: every token it issued is gone
    oa.fetch_instance(request_id)
    assert weaver.token_requests == 2
    time.sleep(1.2)  # the OA's token (TTL 1 s) expired while ours is still cached
    assert read(oa, inst, inst.attachments[1])[1] == PHOTO
    assert weaver.token_requests == 3


def test_reregistered_oa_gets_a_fresh_regist(env):
    _sim, weaver, _r, oa = env
    request_id = weaver.create_instance(SPEC)
    oa.fetch_instance(request_id)
    weaver.registrations[weaver.app_id]["secrit"] = "new-secrit"
    weaver.tokens.clear()
    assert oa.fetch_instance(request_id).instance_id == request_id


def test_unregistered_appid_is_a_connector_error(env):
    _sim, weaver, _r, _oa = env
    oa = WeaverConnector({**weaver.connector_settings(), "app_id": "NOT-IN-ECOLOGY_BIZ_EC"})
    with pytest.raises(ConnectorError) as exc:
        oa.fetch_instance("1")
    assert "-1" in exc.value.en and "appid" in exc.value.zh


def test_platform_500_then_success(env):
    sim, weaver, _r, oa = env
    request_id = weaver.create_instance(SPEC)
    sim.fail_next("/weaver/api/workflow", status=500, count=2)
    assert oa.fetch_instance(request_id).title == "差旅费报销-张三"


def test_platform_timeout(env):
    sim, weaver, _r, oa = env
    request_id = weaver.create_instance(SPEC)
    oa.fetch_instance(request_id)
    oa.timeout, oa.retries, oa._api = 0.3, 1, None
    sim.fail_next("/weaver/api/workflow", status=0, count=2, delay=0.8)
    with pytest.raises(ConnectorError) as exc:
        oa.fetch_instance(request_id)
    assert exc.value.code == "platform_unavailable"


def test_vendor_error_codes(env):
    _sim, weaver, _r, oa = env
    with pytest.raises(ConnectorError) as exc:
        oa.fetch_instance("999999")
    assert "PARAM_ERROR" in exc.value.en
    weaver.syscodes = {"EAA"}
    with pytest.raises(ConnectorError) as exc:
        oa.notify(user_ids=["1"], title="t", text="x", url="http://k/1")
    assert exc.value.code == "weaver_ofs_error" and "KJDA" in exc.value.zh


# --- OFS to-dos -------------------------------------------------------------------------------

def test_notify_todo_and_notice(env):
    _sim, weaver, _r, oa = env
    flowid = oa.notify(user_ids=["101", "102"], title="差旅费报销缺少发票", text="请补充",
                       url="https://kjda.example.com/records/7", todo=True, key="missing:7")
    assert flowid == "missing:7"
    assert [(n["receiver"], n["isremark"], n["flowid"]) for n in weaver.notices] == [
        ("101", "0", "missing:7"), ("102", "0", "missing:7")]
    first = weaver.notices[0]
    assert (first["syscode"], first["requestname"], first["pcurl"], first["appurl"]) == (
        "KJDA", "差旅费报销缺少发票", "https://kjda.example.com/records/7",
        "https://kjda.example.com/records/7")
    oa.notify(user_ids=["101"], title="归档完成", text="", url="https://kjda.example.com/r/8")
    last = weaver.notices[-1]
    assert last["isremark"] == "2" and last["flowid"].startswith("kjda-")


# --- the Action push --------------------------------------------------------------------------

def test_fired_push_is_approved_with_the_instance(env):
    _sim, weaver, receiver, oa = env
    request_id = weaver.create_instance(SPEC)
    answer = fire(env, request_id)
    assert answer["status"] == 200 and json.loads(answer["body"])["code"] == 0
    (event,) = receiver.outcomes[0].events
    assert (event.action, event.instance_id, event.process_code) == ("approved", request_id,
                                                                     "PROC-REIMB-001")
    assert event.payload["_originator_id"] == "zhangsan"
    assert "contentBase64" not in json.dumps(event.payload)
    inst = event.instance
    assert inst.title == "差旅费报销-张三" and inst.department == "销售部"
    assert inst.field_value("报销金额") == Decimal("1280.50")
    assert [[c["value"] for c in r] for r in inst.field_value("明细")][1] == ["交通",
                                                                            Decimal("480.5")]
    assert [(a.filename, a.field_name) for a in inst.attachments] == [
        ("发票.pdf", "发票"), ("车票 照片.jpg", "发票"), ("审批意见.txt", "")]
    assert inst.trail[1].remark == "同意 <报销>"
    assert read(oa, inst, inst.attachments[0]) == ("发票.pdf", INVOICE)
    assert weaver.token_requests == 0  # inline files need no API call


def test_pushed_urls_download_through_the_api(env):
    _sim, weaver, receiver, oa = env
    weaver.attachment_mode = "url"
    fire(env, weaver.create_instance(SPEC))
    inst = receiver.outcomes[0].events[0].instance
    assert [read(oa, inst, a)[1] for a in inst.attachments] == [INVOICE, PHOTO, "同意".encode()]
    assert inst.attachments[0].extra["sha256"] == hashlib.sha256(INVOICE).hexdigest()


def test_event_id_stable_across_redeliveries(env):
    _sim, weaver, receiver, _oa = env
    request_id = weaver.create_instance(SPEC)
    fire(env, request_id)
    fire(env, request_id)
    first, again = (o.events[0] for o in receiver.outcomes)
    assert first.event_id == again.event_id == f"{request_id}:3001:submit"
    assert receiver.outcomes[0].replay_key != receiver.outcomes[1].replay_key
    fire(env, weaver.create_instance({**SPEC, "title": "另一笔报销"}))
    assert receiver.outcomes[2].events[0].event_id != first.event_id


def test_revoke_and_non_trigger_pushes(env):
    _sim, weaver, receiver, oa = env
    request_id = weaver.create_instance(SPEC)
    fire(env, request_id, "revoked")
    revoked = receiver.outcomes[0].events[0]
    assert (revoked.action, revoked.reason) == ("revoked", "流程已被管理员强制收回")
    assert revoked.event_id == f"{request_id}:3002:revoke"
    fire(env, request_id, "rejected")
    assert receiver.outcomes[1].events[0].action == "ignored"
    base = weaver.action_payload(request_id)
    cases = [({"action": "revoke", "src": "submit"}, "revoked"),
             ({"src": "withdraw"}, "ignored"),
             ({"nextNodeType": "1"}, "ignored"),  # a submit that does not reach 归档
             ({"nodeType": "3", "nextNodeType": ""}, "approved"),  # on the 归档 node itself
             ({"nodeType": None, "nextNodeType": None}, "approved")]  # placed as documented
    for change, action in cases:
        assert push(oa, weaver, {**base, **change}).events[0].action == action, change


def test_plain_details_and_inferred_attachment_field(env):
    _sim, weaver, _r, oa = env
    payload = {"source": "ecology", "requestId": 88, "workflowId": 12, "requestName": "付款申请",
               "nodeId": 7, "src": "submit",
               "creator": {"id": 23, "loginid": "wangwu", "lastname": "王五"},
               "main": {"fkje": "5,000.00", "fj": "701,702"},
               "fieldInfo": {"fkje": {"label": "付款金额", "htmlType": "1", "type": "4"}},
               "details": [[{"xm": "设备款", "je": "5000"}]],
               "attachments": [{"docId": "702", "imageFileId": "9002", "fileName": "合同.pdf",
                                "contentBase64": base64.b64encode(b"contract").decode()}]}
    event = push(oa, weaver, payload).events[0]
    inst = event.instance
    assert event.event_id == "88:7:submit" and inst.originator_name == "王五"
    assert inst.field_value("付款金额") == Decimal("5000.00")
    assert inst.field_value("dt1") == [[{"id": "xm", "name": "xm", "value": "设备款", "kind": ""},
                                        {"id": "je", "name": "je", "value": "5000", "kind": ""}]]
    assert inst.attachments[0].field_id == "fj"
    assert read(oa, inst, inst.attachments[0]) == ("合同.pdf", b"contract")


def test_tampered_stale_wrong_secret(env):
    _sim, weaver, _r, oa = env
    payload = weaver.action_payload(weaver.create_instance(SPEC))
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = weaver.sign(body)
    tampered = body.replace("上海出差".encode(), "北京出差".encode())
    now = int(time.time())
    forged = "v1," + base64.b64encode(b"x" * 32).decode()
    cases = [(tampered, headers, 401), (body, weaver.sign(body, timestamp=now - 301), 401),
             (body, weaver.sign(body, timestamp=now + 400), 401),
             (body, {**headers, "webhook-signature": forged}, 401),
             (body, {k: v for k, v in headers.items() if k != "webhook-id"}, 400)]
    for data, hdrs, status in cases:
        with pytest.raises(CallbackRejected) as exc:
            oa.handle_callback(CallbackRequest("POST", "/cb", {}, hdrs, data))
        assert exc.value.status == status
    weaver.signing_secret = "whsec_" + base64.b64encode(b"someone else").decode()
    with pytest.raises(CallbackRejected) as exc:
        push(oa, weaver, payload)
    assert exc.value.code == "bad_signature"


def test_fired_bad_signature_is_refused_over_http(env):
    _sim, weaver, receiver, _oa = env
    request_id = weaver.create_instance(SPEC)
    weaver.signing_secret = "whsec_" + base64.b64encode(b"wrong").decode()
    answer = fire(env, request_id)
    assert answer["status"] == 401 and receiver.outcomes == []


@pytest.mark.parametrize("payload", [b"{not json", b'"a string"',
                                     json.dumps({"src": "submit", "main": {}}).encode()])
def test_malformed_push_400(env, payload):
    _sim, weaver, _r, oa = env
    with pytest.raises(CallbackRejected) as exc:
        oa.handle_callback(CallbackRequest("POST", "/cb", {}, weaver.sign(payload), payload))
    assert exc.value.status == 400


def test_ip_allowlist(env):
    _sim, weaver, _r, _oa = env
    payload = weaver.action_payload(weaver.create_instance(SPEC))
    oa = WeaverConnector({**weaver.connector_settings(), "allowed_ips": "10.0.0.0/24, 192.168.1.5"})
    assert push(oa, weaver, payload).events[0].action == "approved"  # from 10.0.0.8
    body = json.dumps(payload).encode()
    with pytest.raises(CallbackRejected) as exc:
        oa.handle_callback(CallbackRequest("POST", "/cb", {}, weaver.sign(body), body, "8.8.8.8"))
    assert exc.value.status == 403


def test_settings_and_sweep(env):
    _sim, weaver, _r, oa = env
    names = [s.name for s in WeaverConnector.settings_spec]
    assert names[:3] == ["base_url", "app_id", "signing_secret"]
    assert WeaverConnector.secret_names() == {"signing_secret", "rsa_private_key"}
    assert weaver.connector_settings()["base_url"].endswith("/weaver")
    assert oa.settings["user_id"] == "1"
    assert oa.list_finished(since=None, until=None, process_codes=[]) == []
