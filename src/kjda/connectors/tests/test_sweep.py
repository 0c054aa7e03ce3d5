"""A sweep is one service (`connector_sweep`): it asks the platform outside the transaction,
then writes the missed approvals to the inbox (where the task workers' intake loop claims them)
and audits, whether the button on the connector page or the periodic loop asked."""

from __future__ import annotations

import pytest

from kjda.audit.models import AuditEvent
from kjda.connectors.base import ConnectorError
from kjda.connectors.models import Connector, InboxEvent
from kjda.connectors.processing import inbox_due
from kjda.connectors.registry import connector_class
from kjda.connectors.services import connector_create, connector_sweep, mapping_create
from kjda.connectors.tasks import sweep_connector

WEBHOOK = {"signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}


@pytest.fixture
def connector(fonds) -> Connector:
    connector = connector_create(kind="webhook", name="ERP", settings=WEBHOOK)
    mapping_create(connector=connector, process_code="PROC-REIMB-001",
                   scenario="reimbursement", category="原始凭证", fields={})
    return connector


@pytest.fixture
def platform(monkeypatch):
    """The platform's answer to list_finished: instance ids, or an error to raise."""
    answer: dict = {"ids": [], "error": None}

    def list_finished(self, **kwargs):
        if answer["error"] is not None:
            raise answer["error"]
        return list(answer["ids"])

    monkeypatch.setattr(connector_class("webhook"), "list_finished", list_finished)
    return answer


def test_a_sweep_asked_by_a_person_queues_for_the_intake_loop_and_audits(
        connector, archivist, platform):
    platform["ids"] = ["PI-1", "PI-2"]
    InboxEvent.objects.create(connector=connector, event_id="cb-1", instance_id="PI-2",
                              action="approved")  # its callback arrived: not missed
    queued = connector_sweep(connector=connector, actor=archivist)
    assert queued == 1
    swept = InboxEvent.objects.get(source="sweep")
    assert swept.instance_id == "PI-1" and swept.pk in inbox_due()
    event = AuditEvent.objects.get(action="connector.sweep")
    assert (event.actor_name, event.object_type, event.object_id, event.outcome) \
        == ("archivist", "connector", str(connector.pk), "success")
    assert event.detail == {"queued": 1}
    connector.refresh_from_db()
    assert connector.last_sweep_at is not None


def test_a_failed_sweep_asked_by_a_person_is_audited_and_writes_nothing(
        connector, archivist, platform):
    platform["error"] = ConnectorError("platform_unavailable", "平台不可用", "platform unavailable")
    with pytest.raises(ConnectorError):
        connector_sweep(connector=connector, actor=archivist)
    event = AuditEvent.objects.get(action="connector.sweep")
    assert event.outcome == "failure" and event.actor_name == "archivist"
    assert event.detail["code"] == "platform_unavailable"
    connector.refresh_from_db()
    assert connector.last_sweep_at is None and not InboxEvent.objects.exists()


def test_the_periodic_sweep_audits_only_what_it_queued(connector, platform):
    assert sweep_connector(connector_pk=str(connector.pk)) == 0
    assert not AuditEvent.objects.filter(action="connector.sweep").exists()
    platform["ids"] = ["PI-9"]
    assert sweep_connector(connector_pk=str(connector.pk)) == 1
    event = AuditEvent.objects.get(action="connector.sweep")
    assert event.actor is None and event.detail == {"queued": 1}
