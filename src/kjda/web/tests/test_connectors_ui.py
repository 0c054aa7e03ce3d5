"""The OA integration pages (connectors, mappings, sweep) and the archiving jobs page (intake
events, retry, notices): the same services as the API, every write audited, secrets never
shown again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from kjda.audit.models import AuditEvent
from kjda.connectors.base import ConnectorError
from kjda.connectors.models import Connector, InboxEvent, Mapping, Notice
from kjda.connectors.registry import connector_class
from kjda.connectors.services import connector_create, mapping_create
from kjda_oasim.dingtalk import DingTalkSim
from kjda_oasim.feishu import FeishuSim
from kjda_oasim.weaver import WeaverSim
from kjda_oasim.wecom.sim import WeComSim

pytestmark = pytest.mark.django_db

SIMS = {"dingtalk": DingTalkSim, "wecom": WeComSim, "feishu": FeishuSim, "weaver": WeaverSim}
WEBHOOK = {"signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}


def valid_settings(kind: str) -> dict[str, str]:
    if kind == "webhook":
        return dict(WEBHOOK)
    sim = SIMS[kind]()
    sim.base_url = "https://oa.example.com"  # never started: only the settings' shape counts
    return {k: str(v) for k, v in sim.connector_settings().items()}


@pytest.fixture
def sysweb(fonds) -> Client:
    """The system administrator: platform addresses are theirs to set."""
    from django.contrib.auth import get_user_model

    from kjda.accounts.models import Profile
    from kjda_oasim.factories import totp_activate

    user = get_user_model().objects.create_user("sysadmin", password="Sys-Admin-Pass-2024")
    Profile.objects.create(user=user, roles=["sysadmin"])
    totp_activate(user)  # an administrator has TOTP (issue 15, item 3)
    client = Client()
    client.force_login(user)
    return client


def form_data(kind: str, settings: dict[str, str], **extra) -> dict:
    data = {"kind": kind, "name": f"{kind} 测试", "fonds": "",
            "finance_owner_ids": "fin01, fin02，fin01"}
    data.update({f"setting_{k}": v for k, v in settings.items()})
    data.update(extra)
    return data


@pytest.fixture
def webhook_connector(fonds) -> Connector:
    return connector_create(kind="webhook", name="ERP", settings=WEBHOOK)


@pytest.mark.parametrize("kind", ["dingtalk", "wecom", "feishu", "weaver", "webhook"])
def test_create_a_connector_of_each_kind_through_the_form(sysweb, kind):
    web = sysweb
    form = web.get(f"/connectors/new/?kind={kind}").content.decode()
    for spec in connector_class(kind).settings_spec:
        assert f'name="setting_{spec.name}"' in form
        if spec.secret:
            assert f'type="password" name="setting_{spec.name}"' in form
    settings = valid_settings(kind)
    response = web.post("/connectors/new/", form_data(kind, settings))
    assert response.status_code == 302, response.content.decode()[:3000]
    connector = Connector.objects.get()
    assert response["Location"] == f"/connectors/{connector.pk}/"
    assert connector.kind == kind and connector.finance_owner_ids == ["fin01", "fin02"]
    assert AuditEvent.objects.filter(action="connector.create",
                                     object_id=str(connector.pk)).exists()

    secrets = [settings[n] for n in connector_class(kind).secret_names() if settings.get(n)]
    assert secrets
    callback = f"http://testserver/oa/{connector.pk}/callback"
    detail = web.get(response["Location"]).content.decode()
    listing = web.get("/connectors/").content.decode()
    assert callback in detail and callback in listing
    assert "已设置" in detail
    for page in (detail, listing, web.get("/connectors/new/").content.decode()):
        for secret in secrets:
            assert secret not in page


def test_only_the_sysadmin_points_a_connector_at_another_platform_address(web, fonds):
    response = web.post("/connectors/new/", form_data("dingtalk", valid_settings("dingtalk")))
    assert response.status_code == 400 and Connector.objects.count() == 0
    assert "connector_destination_sysadmin_only" in response.content.decode()
    defaults = {k: v for k, v in valid_settings("dingtalk").items() if "base_url" not in k}
    assert web.post("/connectors/new/", form_data("dingtalk", defaults)).status_code == 302


def test_https_and_host_of_the_request_make_the_callback_url(web, webhook_connector):
    html = web.get("/connectors/", secure=True, HTTP_HOST="kjda.example.com").content.decode()
    assert f"https://kjda.example.com/oa/{webhook_connector.pk}/callback" in html


def test_missing_required_setting_re_renders_with_the_error_and_stores_nothing(web, fonds):
    settings = valid_settings("dingtalk")
    del settings["app_secret"]
    response = web.post("/connectors/new/", form_data("dingtalk", settings))
    assert response.status_code == 400
    html = response.content.decode()
    assert "connector_settings_missing" in html and "app_secret" in html
    assert settings["app_key"] in html  # what was typed is kept, but never a secret
    assert settings["token"] not in html and settings["aes_key"] not in html
    assert Connector.objects.count() == 0
    assert not AuditEvent.objects.filter(action="connector.create").exists()


def test_invalid_setting_is_refused_by_the_connector(web, fonds):
    settings = {**valid_settings("wecom"), "encoding_aes_key": "too-short"}
    response = web.post("/connectors/new/", form_data("wecom", settings))
    assert response.status_code == 400 and Connector.objects.count() == 0
    assert "connector_settings_invalid" in response.content.decode()


def test_add_a_mapping_saves_only_the_filled_fields(web, webhook_connector):
    url = f"/connectors/{webhook_connector.pk}/mappings/"
    response = web.post(url, {"process_code": "PROC-REIMB-001", "scenario": "reimbursement",
                              "category": "原始凭证", "field_amount": "报销金额",
                              "field_invoices": " 发票 ", "field_title": ""})
    assert response.status_code == 302
    mapping = Mapping.objects.get(connector=webhook_connector)
    assert (mapping.process_code, mapping.scenario, mapping.category) == (
        "PROC-REIMB-001", "reimbursement", "原始凭证")
    assert mapping.fields == {"amount": "报销金额", "invoices": "发票"}
    assert AuditEvent.objects.filter(action="connector.mapping_create").exists()
    html = web.get(f"/connectors/{webhook_connector.pk}/").content.decode()
    assert "PROC-REIMB-001" in html and "报销金额" in html
    again = web.post(url, {"process_code": "PROC-REIMB-001", "scenario": "payment",
                           "category": "原始凭证"})
    assert again.status_code == 400 and "mapping_exists" in again.content.decode()
    assert Mapping.objects.count() == 1


def test_an_unknown_category_is_refused(web, webhook_connector):
    response = web.post(f"/connectors/{webhook_connector.pk}/mappings/", {
        "process_code": "P1", "scenario": "contract", "category": "不存在的类别",
        "field_contract": "合同扫描件"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "category_unknown" in html and 'value="合同扫描件"' in html
    assert Mapping.objects.count() == 0
    assert not AuditEvent.objects.filter(action="connector.mapping_create").exists()


def test_sweep_now_queues_approvals_the_callbacks_missed(web, fonds):
    from kjda_oasim.core import OASimulator

    sim_vendor = DingTalkSim()
    sim = OASimulator([sim_vendor])
    sim.start()
    try:
        connector = connector_create(kind="dingtalk", name="钉钉",
                                     settings=sim_vendor.connector_settings())
        mapping_create(connector=connector, process_code="PROC-REIMB-001",
                       scenario="reimbursement", category="原始凭证", fields={})
        now = datetime.now(UTC)
        instance_id = sim_vendor.create_instance({
            "process_code": "PROC-REIMB-001", "title": "差旅费报销",
            "originator": {"id": "zhangsan", "name": "张三"},
            "create_time": (now - timedelta(minutes=30)).isoformat(),
            "finish_time": (now - timedelta(minutes=5)).isoformat(),
            "form": [{"name": "报销金额", "kind": "money", "value": "100.00"}]})
        response = web.post(f"/connectors/{connector.pk}/sweep/", follow=True)
    finally:
        sim.stop()
    assert "1 个审批加入归档队列" in response.content.decode()
    event = InboxEvent.objects.get(connector=connector)
    assert event.instance_id == instance_id and event.source == "sweep"
    assert AuditEvent.objects.get(action="connector.sweep").detail == {"queued": 1}


def test_sweep_failure_shows_the_platform_error(web, webhook_connector, monkeypatch):
    def down(self, **kwargs):
        raise ConnectorError("platform_unavailable", "平台不可用", "platform unavailable")

    mapping_create(connector=webhook_connector, process_code="PROC-REIMB-001",
                   scenario="reimbursement", category="原始凭证", fields={})
    monkeypatch.setattr(connector_class("webhook"), "list_finished", down)
    response = web.post(f"/connectors/{webhook_connector.pk}/sweep/", follow=True)
    html = response.content.decode()
    assert "platform_unavailable" in html and "平台不可用" in html
    assert AuditEvent.objects.get(action="connector.sweep").outcome == "failure"


def _event(connector: Connector, **kwargs) -> InboxEvent:
    values = {"event_id": "evt-1", "instance_id": "PI-20240318-0001",
              "process_code": "PROC-REIMB-001", "action": "approved", "status": "failed",
              "attempts": 6, "last_error": "钉钉 HTTP 500 / DingTalk HTTP 500"}
    values.update(kwargs)
    return InboxEvent.objects.create(connector=connector, **values)


def test_intake_page_lists_events_with_filters(web, webhook_connector):
    failed = _event(webhook_connector)
    _event(webhook_connector, event_id="evt-2", instance_id="PI-DONE-0002", status="done",
           attempts=1, last_error="")
    html = web.get("/intake/").content.decode()
    assert "PI-20240318-0001" in html and "PI-DONE-0002" in html
    assert "钉钉 HTTP 500" in html and "失败" in html and "ev-failed" in html
    assert f'action="/intake/{failed.pk}/retry/"' in html
    assert html.count('name="csrfmiddlewaretoken"') >= 2
    only_done = web.get("/intake/", {"status": "done"}, headers={"HX-Request": "true"})
    partial = only_done.content.decode()
    assert "PI-DONE-0002" in partial and "PI-20240318-0001" not in partial
    assert "<html" not in partial and "retry" not in partial
    other = connector_create(kind="webhook", name="其他", settings=WEBHOOK)
    by_connector = web.get("/intake/", {"connector": str(other.pk)}).content.decode()
    assert "PI-20240318-0001" not in by_connector and "没有符合条件的事件" in by_connector


def test_retry_moves_a_failed_event_back_to_received(web, webhook_connector):
    event = _event(webhook_connector)
    response = web.post(f"/intake/{event.pk}/retry/", {"next": "/intake/?status=failed"})
    assert response.status_code == 302 and response["Location"] == "/intake/?status=failed"
    event.refresh_from_db()
    assert event.status == "received" and event.next_attempt_at is None
    assert AuditEvent.objects.filter(action="intake.retry", object_id=str(event.pk)).exists()


def test_retry_is_offered_only_where_it_helps(web, webhook_connector):
    done = _event(webhook_connector, event_id="evt-d", status="done")
    fresh = _event(webhook_connector, event_id="evt-r", status="received", attempts=0)
    html = web.get("/intake/").content.decode()
    assert f"/intake/{done.pk}/retry/" not in html and f"/intake/{fresh.pk}/retry/" not in html
    response = web.post(f"/intake/{done.pk}/retry/", {"next": "https://evil.example/"})
    assert response["Location"] == "/intake/"
    done.refresh_from_db()
    assert done.status == "done"
    assert not AuditEvent.objects.filter(action="intake.retry").exists()


def test_intake_page_shows_recent_notices(web, webhook_connector):
    Notice.objects.create(connector=webhook_connector, user_ids=["zhangsan", "fin01"],
                          title="报销材料缺失，请补充", text="…", reason="invoice_missing",
                          dedupe_key="k1", status="failed", attempts=8,
                          last_error="HTTP 500")
    html = web.get("/intake/").content.decode()
    assert "报销材料缺失，请补充" in html and "缺少发票" in html and "发送失败" in html
    assert "zhangsan" in html and "HTTP 500" in html


def test_english_labels(web, webhook_connector):
    _event(webhook_connector)
    web.post("/i18n/setlang/", {"language": "en", "next": "/"})
    html = web.get("/intake/").content.decode()
    assert "Archiving jobs" in html and "OA integration" in html and "Failed" in html
    assert "DingTalk HTTP 500" in html and "Retry" in html
    assert "Generic signed webhook" in web.get("/connectors/").content.decode()


@pytest.mark.parametrize("method,path", [
    ("get", "/connectors/"), ("get", "/connectors/new/"), ("post", "/connectors/new/"),
    ("get", "/connectors/{pk}/"), ("post", "/connectors/{pk}/mappings/"),
    ("post", "/connectors/{pk}/sweep/"), ("get", "/intake/"), ("post", "/intake/1/retry/"),
])
def test_login_required_everywhere(webhook_connector, method, path):
    response = getattr(Client(), method)(path.format(pk=webhook_connector.pk))
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")
    assert Mapping.objects.count() == 0 and InboxEvent.objects.count() == 0
