"""The accounts services audit their own writes, in the write's transaction, so every channel
(API, web, CLI) records the same event and none can forget it."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from kjda.accounts.models import ApiToken
from kjda.accounts.services import token_for_credentials, token_mint
from kjda.audit.models import AuditEvent
from kjda.errors import DomainError

PASSWORD = "Archive-Pass-2024"


def test_a_token_for_a_password_is_audited_by_the_service_with_its_owner(archivist):
    token, _raw = token_for_credentials(username="archivist", password=PASSWORD, name="erp")
    event = AuditEvent.objects.get(action="auth.token")
    assert (event.actor_name, event.object_type, event.object_id, event.outcome) \
        == ("archivist", "api_token", str(token.pk), "success")
    assert event.detail["channel"] == "password" and event.detail["name"] == "erp"


def test_wrong_credentials_are_refused_and_audited_by_the_service(archivist):
    with pytest.raises(DomainError) as refused:
        token_for_credentials(username="archivist", password="wrong")
    assert (refused.value.code, refused.value.status) == ("invalid_credentials", 401)
    event = AuditEvent.objects.get(action="auth.failed")
    assert event.outcome == "failure" and event.actor_name == "archivist"
    assert not ApiToken.objects.exists() and not AuditEvent.objects.filter(
        action="auth.token").exists()


def test_the_token_endpoint_records_one_event_per_token(archivist):
    answer = Client().post("/api/v1/auth/token",
                           json.dumps({"username": "archivist", "password": PASSWORD}),
                           content_type="application/json")
    assert answer.status_code == 200, answer.content
    assert AuditEvent.objects.filter(action="auth.token").count() == 1


def test_a_token_minted_by_a_session_is_audited_with_its_channel(archivist):
    token, _raw = token_mint(user=archivist, name="laptop", mfa_verified=True)
    event = AuditEvent.objects.get(action="auth.token")
    assert (event.actor_name, event.object_id) == ("archivist", str(token.pk))
    assert event.detail["channel"] == "session" and event.detail["parent"] is None
