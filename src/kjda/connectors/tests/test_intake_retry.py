"""Retrying an OA event is one service (`intake_retry`) that decides, writes and audits: the API
and the web page follow the same rule, so an archived event is never reset through either (it
would be archived a second time), and every retry is in the audit log with who asked."""

from __future__ import annotations

import pytest
from django.test import Client

from kjda.audit.models import AuditEvent
from kjda.connectors.models import Connector, InboxEvent
from kjda.connectors.processing import inbox_process
from kjda.connectors.services import connector_create, intake_retry
from kjda.errors import Conflict

WEBHOOK = {"signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}


@pytest.fixture
def connector(fonds) -> Connector:
    return connector_create(kind="webhook", name="ERP", settings=WEBHOOK)


def _event(connector: Connector, status: str, n: int = 1) -> InboxEvent:
    return InboxEvent.objects.create(
        connector=connector, event_id=f"evt-{status}-{n}", instance_id=f"PI-{status}-{n}",
        process_code="PROC-REIMB-001", action="approved", status=status, attempts=3,
        last_error="HTTP 500" if status == "failed" else "")


def _retry(token: str, event: InboxEvent):
    return Client().post(f"/api/v1/intake/{event.pk}/retry",
                         headers={"Authorization": f"Bearer {token}"})


@pytest.mark.django_db(transaction=True)
def test_the_service_queues_a_failed_event_and_audits_who_asked(connector, archivist):
    event = _event(connector, "failed")
    intake_retry(event=event, actor=archivist)
    event.refresh_from_db()
    assert event.status == "received" and event.next_attempt_at is None
    audit = AuditEvent.objects.get(action="intake.retry")
    assert audit.object_id == str(event.pk) and audit.actor_name == "archivist"
    assert audit.detail == {"status": "failed"}


@pytest.mark.parametrize("status", ["done", "processing"])
def test_the_service_refuses_an_archived_or_running_event(connector, archivist, status):
    event = _event(connector, status)
    with pytest.raises(Conflict) as refused:
        intake_retry(event=event, actor=archivist)
    assert refused.value.code == "intake_not_retryable"
    event.refresh_from_db()
    assert event.status == status
    assert not AuditEvent.objects.filter(action="intake.retry").exists()


def test_the_api_cannot_reset_an_archived_event(connector, token):
    done = _event(connector, "done")
    answer = _retry(token, done)
    assert answer.status_code == 409, answer.content
    body = answer.json()
    assert body["code"] == "intake_not_retryable" and body["message_zh"] and body["message_en"]
    done.refresh_from_db()
    assert done.status == "done"
    assert not AuditEvent.objects.filter(action="intake.retry").exists()

    failed = _event(connector, "failed", 2)
    answer = _retry(token, failed)
    assert answer.status_code == 200 and answer.json() == {"id": failed.pk, "status": "received"}
    failed.refresh_from_db()
    assert failed.status == "received"
    assert AuditEvent.objects.filter(action="intake.retry", object_id=str(failed.pk),
                                     actor_name="archivist").count() == 1


def test_creating_a_connector_and_a_mapping_audits_each_once_on_every_channel(fonds, token):
    """The services write the audit events (the handlers no longer do): one per write, with
    the caller as actor, whether through the API or the web."""
    headers = {"Authorization": f"Bearer {token}"}
    made = Client().post("/api/v1/connectors", {"kind": "webhook", "name": "ERP",
                                                 "settings": WEBHOOK},
                         content_type="application/json", headers=headers)
    assert made.status_code == 201, made.content
    created = AuditEvent.objects.filter(action="connector.create")
    assert created.count() == 1 and created.get().actor_name == "archivist"
    assert created.get().detail == {"kind": "webhook", "name": "ERP"}
    mapping = {"process_code": "PROC-1", "scenario": "reimbursement", "category": "原始凭证",
               "fields": {"amount": "报销金额"}}
    url = f"/api/v1/connectors/{made.json()['id']}/mappings"
    assert Client().post(url, mapping, content_type="application/json",
                         headers=headers).status_code == 201
    again = Client().post(url, mapping, content_type="application/json", headers=headers)
    assert again.status_code == 409  # refused: nothing written, nothing audited
    mapped = AuditEvent.objects.filter(action="connector.mapping_create")
    assert mapped.count() == 1 and mapped.get().detail == mapping
    assert mapped.get().actor_name == "archivist"


def _process_raising(monkeypatch, exc: Exception) -> None:
    def fail(event):
        raise exc

    monkeypatch.setattr("kjda.connectors.processing._process", fail)


def test_a_race_with_a_concurrent_filing_is_tried_again_not_failed_for_good(
        connector, monkeypatch):
    # Two approvals claiming one invoice at once: the second gets invoice_claim_race, which says
    # "retry" — the intake must retry it (it then files as a duplicate claim), not give up.
    event = _event(connector, "received")
    InboxEvent.objects.filter(pk=event.pk).update(attempts=0)
    _process_raising(monkeypatch, Conflict("invoice_claim_race", "同一发票正由另一请求归档，请重试",
                                           "the same invoice is being filed by another request: "
                                           "retry", retryable=True))
    assert inbox_process(event_pk=event.pk) == "received"
    event.refresh_from_db()
    assert event.status == "received" and event.attempts == 1
    assert event.next_attempt_at is not None and "retry" in event.last_error


def test_a_refusal_that_asking_again_cannot_change_fails_at_once(connector, monkeypatch):
    event = _event(connector, "received")
    InboxEvent.objects.filter(pk=event.pk).update(attempts=0)
    _process_raising(monkeypatch, Conflict("mapping_missing", "未配置映射", "no mapping"))
    assert inbox_process(event_pk=event.pk) == "failed"
    event.refresh_from_db()
    assert event.status == "failed" and event.attempts == 1
