"""The ORM refuses to change or delete audit events."""

from __future__ import annotations

import pytest

from kjda.audit.models import AuditChainHead, AuditEvent, AuditLogImmutable
from kjda.audit.selectors import audit_chain_verify
from kjda.audit.services import audit_log

pytestmark = pytest.mark.django_db


@pytest.fixture
def event():
    return audit_log(action="record.view", object_id="1")


def test_saving_an_existing_event_raises(event):
    event.detail = {"changed": True}
    with pytest.raises(AuditLogImmutable):
        event.save()
    with pytest.raises(AuditLogImmutable):
        event.save(update_fields=["detail"])


def test_saving_a_new_instance_over_an_existing_row_does_not_update_it(event):
    from django.db import IntegrityError, transaction

    copy = AuditEvent.objects.get(pk=event.pk)
    copy._state.adding = True
    copy.action = "record.delete"
    with pytest.raises(IntegrityError), transaction.atomic():
        copy.save()
    assert AuditEvent.objects.get(pk=event.pk).action == "record.view"


def test_deleting_an_event_raises(event):
    with pytest.raises(AuditLogImmutable):
        event.delete()


def test_queryset_update_and_delete_raise(event):
    with pytest.raises(AuditLogImmutable):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(AuditLogImmutable):
        AuditEvent.objects.all().delete()
    with pytest.raises(AuditLogImmutable):
        AuditEvent.objects.bulk_update([event], ["action"])
    with pytest.raises(AuditLogImmutable):
        AuditEvent._base_manager.filter(pk=event.pk).update(action="x")
    with pytest.raises(AuditLogImmutable):
        AuditEvent.objects.update_or_create(pk=event.pk, defaults={"action": "x"})
    assert AuditEvent.objects.get(pk=event.pk).action == "record.view"
    assert audit_chain_verify().ok


def test_head_cannot_be_deleted(event):
    with pytest.raises(AuditLogImmutable):
        AuditChainHead.objects.all().delete()
    with pytest.raises(AuditLogImmutable):
        AuditChainHead.objects.get().delete()
