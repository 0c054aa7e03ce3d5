"""API tokens in the web UI: named, scoped, expiring, revocable, shown once."""

from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_make_use_and_revoke_a_token_in_the_ui(web, archivist):
    from kjda.accounts.models import ApiToken
    from kjda.audit.models import AuditEvent

    made = web.post("/tokens/", {"action": "create", "name": "财务系统", "scopes": ["read"],
                                 "ttl_days": "7"})
    assert made.status_code == 200
    page = made.content.decode()
    raw = re.search(r"data-token>(kjda_[^<]+)<", page).group(1)
    token = ApiToken.objects.get(user=archivist, name="财务系统")
    assert token.scopes == ["read"] and raw not in (token.key_hash, token.prefix)
    assert 6.9 < (token.expires_at - token.created_at).total_seconds() / 86400 < 7.1

    api = Client(headers={"Authorization": f"Bearer {raw}"})
    assert api.get("/api/v1/records").status_code == 200
    assert api.post("/api/v1/records", {}).status_code == 403  # read-only token

    listing = web.get("/tokens/").content.decode()
    assert "财务系统" in listing and token.prefix in listing
    assert raw not in listing  # shown once only

    revoked = web.post("/tokens/", {"action": "revoke", "token_id": str(token.pk)})
    assert revoked.status_code == 200 and "已吊销" in revoked.content.decode()
    assert api.get("/api/v1/records").status_code == 401
    assert AuditEvent.objects.filter(action="auth.token_revoke", object_id=str(token.pk)).exists()


def test_bad_token_requests_are_refused_clearly(web, archivist, django_user_model):
    assert web.post("/tokens/", {"action": "create", "name": ""}).status_code == 400
    bad = web.post("/tokens/", {"action": "create", "name": "x", "scopes": ["root"]})
    assert bad.status_code == 422 and "token scope" in bad.content.decode()
    other = django_user_model.objects.create_user("other", password="Other-Pass-2024!")
    from kjda.accounts.services import token_issue

    theirs, _ = token_issue(user=other, name="theirs")
    assert web.post("/tokens/", {"action": "revoke", "token_id": str(theirs.pk)}).status_code \
        == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None  # someone else's token is out of reach
