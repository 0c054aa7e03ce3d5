"""audit_log records who, when, from where, what and the outcome, and chains every event."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.db.models import ProtectedError
from django.test import RequestFactory

from kjda.audit.chain import GENESIS_HASH, event_hash, event_mac
from kjda.audit.keys import audit_key_current
from kjda.audit.models import Action, AuditEvent, Outcome
from kjda.audit.selectors import audit_chain_verify
from kjda.audit.services import AuditChainHeadMissing, audit_log
from kjda.audit.tests.conftest import raw_sql

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="x-long-password")


def test_first_event_starts_the_chain_from_zeros(alice):
    event = audit_log(action=Action.RECORD_CREATE, actor=alice, object_type="record",
                      object_id=42, detail={"archive_no": "Z001-PZ·2024·D30-0001"})

    event.refresh_from_db()
    assert event.seq == 1 and event.prev_hash == GENESIS_HASH
    assert event.actor == alice and event.actor_name == "alice"
    assert event.object_id == "42" and event.outcome == Outcome.SUCCESS
    assert event.occurred_at.tzinfo is not None
    row = AuditEvent.objects.values().get(pk=event.pk)
    # keyed: an HMAC under the audit key, which the plain SHA-256 is not
    assert row["key_id"] == audit_key_current().key_id
    assert len(event.hash) == 64 and event.hash == event_mac(row, audit_key_current())
    assert event.hash != event_hash(row)


def test_request_supplies_user_ip_and_agent(alice):
    request = RequestFactory().get("/", REMOTE_ADDR="10.1.2.3", HTTP_USER_AGENT="Mozilla/5.0 " + "x" * 600,
                                   HTTP_X_FORWARDED_FOR="6.6.6.6")
    request.user = alice

    event = audit_log(action=Action.RECORD_VIEW, request=request)

    assert event.actor == alice and event.actor_name == "alice"
    assert event.ip == "10.1.2.3"  # X-Forwarded-For ignored unless the proxy is trusted
    assert len(event.user_agent) == 512 and event.user_agent.startswith("Mozilla/5.0")


def test_forwarded_for_is_used_only_behind_a_trusted_proxy(settings):
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1",
                                   HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.7")
    settings.KJDA_TRUST_PROXY = True
    # The client may forge the left part; the entry our proxy appended is the rightmost.
    assert audit_log(action="x.y", request=request).ip == "203.0.113.7"
    settings.KJDA_TRUST_PROXY = 2
    assert audit_log(action="x.y", request=request).ip == "1.1.1.1"
    bad = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="garbage")
    assert audit_log(action="x.y", request=bad).ip == "10.0.0.1"


def test_anonymous_request_logs_without_actor_and_keeps_tried_username():
    request = RequestFactory().post("/login", REMOTE_ADDR="192.0.2.9")
    request.user = AnonymousUser()

    event = audit_log(action=Action.AUTH_FAILED, request=request, outcome=Outcome.FAILURE,
                      actor_name="mallory", detail={"reason": "bad password"})

    assert event.actor is None and event.actor_name == "mallory"
    assert event.outcome == "failure"


def test_explicit_actor_wins_over_request_user(alice, django_user_model):
    bob = django_user_model.objects.create_user(username="bob", password="x-long-password")
    request = RequestFactory().get("/")
    request.user = alice
    assert audit_log(action="x.y", request=request, actor=bob).actor == bob


def test_unknown_outcome_and_empty_action_are_refused():
    with pytest.raises(ValueError):
        audit_log(action="x.y", outcome="maybe")
    with pytest.raises(ValueError):
        audit_log(action="")
    assert AuditEvent.objects.count() == 0


def test_event_rolls_back_with_the_callers_transaction():
    audit_log(action="x.y")
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_log(action="record.create", object_id="1")
        raise RuntimeError("filing failed")

    assert list(AuditEvent.objects.values_list("seq", flat=True)) == [1]
    assert audit_log(action="x.y").seq == 2  # no gap
    assert audit_chain_verify().ok


def test_awkward_values_survive_the_database_round_trip():
    # Values that SQLite and PostgreSQL store differently from Python: the hash must still match.
    detail = {
        3: "int key", "nested": {"z": [1, 2.5, -0.0, 1e16, 1e300, 1.5e-7, True, None]},
        "money": Decimal("12.30"), "when": datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        "uuid": UUID(int=1), "nul": "a\x00b", "中文": "发票 🧾", "quote": 'a"b\\c\n',
    }
    audit_log(action="x.y", detail=detail, ip="2001:DB8:0:0:1::1", user_agent="ua\x00")
    audit_log(action="x.y", ip="::ffff:192.0.2.1", object_id="\ud800 lone surrogate")
    audit_log(action="x.y", ip="fe80::1%eth0")

    events = list(AuditEvent.objects.order_by("seq"))
    assert events[0].ip == "2001:db8::1:0:0:1" and events[0].user_agent == "ua"
    assert events[0].detail["money"] == "12.30" and events[0].detail["nul"] == "ab"
    assert events[1].ip == "192.0.2.1"
    assert events[2].ip == "fe80::1"
    assert audit_chain_verify().ok, audit_chain_verify().reason


def test_missing_head_stops_logging_instead_of_restarting_the_chain():
    audit_log(action="x.y")
    raw_sql("DELETE FROM audit_auditchainhead")

    with pytest.raises(AuditChainHeadMissing):
        audit_log(action="x.y")


def test_user_with_events_cannot_be_deleted(alice):
    audit_log(action="x.y", actor=alice)
    with pytest.raises(ProtectedError):
        alice.delete()
