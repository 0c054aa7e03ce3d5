"""Configuring a fonds is one service write: all or nothing, audited with who did it, the
same through any channel."""

from __future__ import annotations

import json

from django.test import Client

from kjda.archives.models import Fonds, FondsCategoryCode
from kjda.audit.models import AuditEvent


def _patch(token: str, body: dict):
    return Client().patch("/api/v1/fonds/Z001", json.dumps(body), content_type="application/json",
                          headers={"Authorization": f"Bearer {token}"})


def test_a_fonds_change_is_audited_once_with_its_actor(fonds, token):
    answer = _patch(token, {"unit_name": "某某集团", "category_codes": {"会计凭证": "KJPZ"}})
    assert answer.status_code == 200, answer.content
    event = AuditEvent.objects.get(action="fonds.update")
    assert event.actor_name == "archivist" and event.object_id == "Z001"
    assert event.detail == {"unit_name": "某某集团", "category_codes": {"会计凭证": "KJPZ"}}


def test_an_unknown_category_changes_nothing_and_audits_nothing(fonds, token):
    before = Fonds.objects.get(code="Z001").unit_name
    answer = _patch(token, {"unit_name": "改名", "category_codes": {"不存在的门类": "XX"}})
    assert answer.status_code == 400 and answer.json()["code"] == "category_unknown"
    assert Fonds.objects.get(code="Z001").unit_name == before  # the rename rolled back too
    assert not FondsCategoryCode.objects.exists()
    assert not AuditEvent.objects.filter(action="fonds.update").exists()
