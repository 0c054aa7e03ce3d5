"""`inbox_events_commit` is the one write of received callbacks (the Django view and the lean
path both call it): replay guard and inbox rows in one transaction, a replay audited."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from kjda.audit.models import AuditEvent
from kjda.connectors.models import InboxEvent, ReplayGuard
from kjda.connectors.services import (
    InboxDelivery,
    callback_connector_keys,
    connector_create,
    connector_update_settings,
    inbox_events_commit,
)
from kjda.connectors.tests.test_fastpath import _approved, _delivery
from kjda_oasim.dingtalk import DingTalkSim

pytestmark = pytest.mark.django_db(transaction=True)


def _values(n: int) -> dict:
    return {"instance_id": f"PI-{n}", "process_code": "P", "action": "approved",
            "event_type": "finish", "payload": {"n": n}, "status": "received"}


@pytest.fixture
def ding():
    sim = DingTalkSim()
    return sim, connector_create(kind="dingtalk", name="钉钉", settings=sim.connector_settings())


def test_one_commit_writes_the_batch_and_audits_a_replay_within_it(ding):
    _sim, connector = ding
    batch = [InboxDelivery(connector_pk=connector.pk, kind="dingtalk", replay_key=key,
                           rows=[(f"evt-{n}", _values(n))], remote_addr="10.0.0.9")
             for n, key in ((1, "sig-a"), (2, "sig-b"), (1, "sig-a"))]
    assert inbox_events_commit(batch=batch) == ["committed", "committed", "replayed"]
    assert sorted(InboxEvent.objects.values_list("event_id", flat=True)) == ["evt-1", "evt-2"]
    assert ReplayGuard.objects.count() == 2
    audit = AuditEvent.objects.get(action="oa.callback_replayed")
    assert audit.object_id == str(connector.pk) and audit.ip == "10.0.0.9"
    # delivered again later (the OA's retry): answered as replayed, nothing new, audited again
    assert inbox_events_commit(batch=batch[:1]) == ["replayed"]
    assert InboxEvent.objects.count() == 2
    assert AuditEvent.objects.filter(action="oa.callback_replayed").count() == 2


def test_a_delivery_verified_with_an_outdated_connector_row_writes_nothing(ding):
    _sim, connector = ding
    key = callback_connector_keys(connector_pks=[connector.pk])[connector.pk]
    connector_update_settings(connector=connector, settings={"token": "rotated"})
    result = inbox_events_commit(batch=[InboxDelivery(
        connector_pk=connector.pk, kind="dingtalk", replay_key="sig", rows=[("e", _values(1))],
        connector_key=key)])
    assert result == ["stale"]
    assert not InboxEvent.objects.exists() and not ReplayGuard.objects.exists()
    assert callback_connector_keys(connector_pks=[uuid.uuid4()]) == {}


def test_the_django_view_commits_and_audits_a_replay_through_the_service(ding):
    sim, connector = ding
    delivery = _delivery(sim, _approved(sim))
    url = f"/oa/{connector.pk}/callback?" + "&".join(f"{k}={v}"
                                                    for k, v in delivery["params"].items())
    for _ in range(2):
        answer = Client().post(url, data=delivery["content"], content_type="application/json")
        assert answer.status_code == 200 and sim.acknowledged(answer.content)
    event = InboxEvent.objects.get()
    assert (event.instance_id, event.status, event.source) == ("PI-1", "received", "callback")
    assert AuditEvent.objects.filter(action="oa.callback_replayed").count() == 1
