from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kjda.audit.models import AuditEvent
from kjda.audit.selectors import audit_event_list
from kjda.audit.services import audit_log

pytestmark = pytest.mark.django_db


def test_events_are_listed_newest_first_and_filtered(django_user_model):
    from kjda.accounts.models import Profile

    alice = django_user_model.objects.create_user(username="alice", password="x-long-password")
    Profile.objects.create(user=alice, roles=["auditadmin"])  # the security auditor reads all
    bob = django_user_model.objects.create_user(username="bob", password="x-long-password")
    audit_log(action="record.view", actor=alice, object_type="record", object_id="1")
    audit_log(action="file.download", actor=bob, object_type="file", object_id="9")
    audit_log(action="access.denied", actor=bob, object_type="record", object_id="1",
              outcome="denied")

    def seqs(**filters):
        return [e.seq for e in audit_event_list(actor_user=alice, **filters)]

    assert seqs() == [3, 2, 1]
    assert seqs(user=bob) == [3, 2]
    assert seqs(user=alice.pk) == [1]
    assert seqs(action="file.download") == [2]
    assert seqs(outcome="denied") == [3]
    assert seqs(object_type="record", object_id=1) == [3, 1]
    second = AuditEvent.objects.get(seq=2).occurred_at
    assert seqs(since=second) == [3, 2]
    assert seqs(until=second) == [1]
    assert seqs(since=timezone.now() + timedelta(minutes=1)) == []


def test_anyone_but_the_security_auditor_sees_only_their_own_events(django_user_model):
    from kjda.accounts.models import Profile

    carol = django_user_model.objects.create_user(username="carol", password="x-long-password")
    Profile.objects.create(user=carol, roles=["archivist"])
    dave = django_user_model.objects.create_user(username="dave", password="x-long-password")
    audit_log(action="record.view", actor=carol, object_type="record", object_id="1")
    audit_log(action="record.view", actor=dave, object_type="record", object_id="2")
    assert [e.actor_name for e in audit_event_list(actor_user=carol)] == ["carol"]
    assert list(audit_event_list(actor_user=carol, user=dave)) == []
