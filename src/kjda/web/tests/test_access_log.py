"""Reads are logged through one helper per kind (kjda.archives.access_log), so the web pages
and the API write the same access event with the same outcome."""

from __future__ import annotations

from django.test import Client

from kjda.audit.models import AuditEvent


def test_a_record_and_a_file_out_of_reach_are_denied_alike_on_both_channels(web, token):
    api = Client(headers={"Authorization": f"Bearer {token}"})
    assert web.get("/records/999999/").status_code == 404
    assert api.get("/api/v1/records/999999").status_code == 404
    assert web.get("/files/999999/content").status_code == 404
    assert api.get("/api/v1/files/999999/content").status_code == 404
    for action in ("record.view", "file.download"):
        events = list(AuditEvent.objects.filter(action=action, object_id="999999"))
        assert len(events) == 2
        assert {(e.outcome, e.actor_name, str(e.detail)) for e in events} == {
            ("denied", "archivist", "{'reason': 'not found or out of scope'}")}
