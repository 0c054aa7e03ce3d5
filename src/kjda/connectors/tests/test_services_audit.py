"""Connector settings changes audit themselves with who changed them (names only)."""

from __future__ import annotations

from kjda.audit.models import AuditEvent
from kjda.connectors.services import connector_create, connector_update_settings

WEBHOOK = {"signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}


def test_a_settings_change_is_audited_by_name_never_by_value(fonds, archivist):
    connector = connector_create(kind="webhook", name="ERP", settings=WEBHOOK)
    connector_update_settings(connector=connector, actor=archivist,
                              settings={"signing_secret": "whsec_another-secret-value-000000"})
    event = AuditEvent.objects.get(action="connector.update")
    assert (event.actor_name, event.object_type, event.object_id, event.outcome) \
        == ("archivist", "connector", str(connector.pk), "success")
    assert event.detail == {"kind": "webhook", "settings": ["signing_secret"]}
    assert "another-secret" not in str(event.detail)
