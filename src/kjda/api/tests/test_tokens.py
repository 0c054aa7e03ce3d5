"""API tokens for integrations: named, scoped, expiring, revocable, shown once, stored hashed."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from kjda.accounts.models import ApiToken
from kjda.audit.models import AuditEvent
from kjda_oasim.factories import metadata_json

pytestmark = pytest.mark.django_db


def _bearer(raw: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {raw}"})


def _new_token(client: Client, **body) -> dict:
    resp = client.post("/api/v1/auth/tokens", json.dumps(body), content_type="application/json")
    assert resp.status_code == 201, resp.content
    return resp.json()


def test_a_logged_in_user_issues_a_named_scoped_token_shown_once(archivist, fonds):
    web = Client()
    web.force_login(archivist)
    issued = _new_token(web, name="财务系统对接", scopes=["read"], ttl_hours=24)
    assert issued["scopes"] == ["read"] and issued["token"].startswith("kjda_")
    stored = ApiToken.objects.get(name="财务系统对接")
    assert issued["token"] not in (stored.key_hash, stored.prefix)  # only its hash is kept
    listing = web.get("/api/v1/auth/tokens").json()
    assert [t["name"] for t in listing] == ["财务系统对接"]
    assert "token" not in listing[0] and issued["token"] not in json.dumps(listing)


def test_a_read_token_reads_but_cannot_file_or_configure(archivist, fonds, voucher_files):
    web = Client()
    web.force_login(archivist)
    read = _bearer(_new_token(web, name="只读", scopes=["read"])["token"])
    assert read.get("/api/v1/records").status_code == 200
    resp = read.post("/api/v1/records", {"metadata": metadata_json(), "files": [
        SimpleUploadedFile(n, b) for n, b in voucher_files]})
    assert resp.status_code == 403 and resp.json()["code"] == "forbidden"
    assert read.patch("/api/v1/fonds/Z001", json.dumps({"name": "x"}),
                      content_type="application/json").status_code == 403

    ingest = _bearer(_new_token(web, name="归档", scopes=["ingest"])["token"])
    filed = ingest.post("/api/v1/records", {"metadata": metadata_json(), "files": [
        SimpleUploadedFile(n, b) for n, b in voucher_files]})
    assert filed.status_code == 201
    record = ingest.get(f"/api/v1/records/{filed.json()['id']}")
    assert record.status_code == 403 and record.json()["code"] == "token_scope"
    # a token can't mint a wider one
    wider = ingest.post("/api/v1/auth/tokens", json.dumps({"name": "x", "scopes": ["admin"]}),
                        content_type="application/json")
    assert wider.status_code == 403


def test_a_revoked_token_stops_working_at_once_and_the_revocation_is_audited(archivist, fonds):
    web = Client()
    web.force_login(archivist)
    issued = _new_token(web, name="临时")
    token = _bearer(issued["token"])
    assert token.get("/api/v1/records").status_code == 200
    token_id = web.get("/api/v1/auth/tokens").json()[0]["id"]
    assert web.delete(f"/api/v1/auth/tokens/{token_id}").status_code == 204
    assert token.get("/api/v1/records").status_code == 401
    assert AuditEvent.objects.filter(action="auth.token_revoke", object_id=str(token_id)).exists()


def test_someone_elses_token_cannot_be_revoked(archivist, fonds, django_user_model):
    from kjda.accounts.services import token_issue

    other = django_user_model.objects.create_user("other", password="Other-Pass-2024!")
    theirs, _ = token_issue(user=other, name="theirs")
    web = Client()
    web.force_login(archivist)
    assert web.delete(f"/api/v1/auth/tokens/{theirs.pk}").status_code == 404
    assert ApiToken.objects.get(pk=theirs.pk).revoked_at is None


def test_a_lifetime_outside_one_hour_to_a_year_is_refused_on_both_ways_in(archivist, fonds):
    web = Client()
    web.force_login(archivist)
    resp = web.post("/api/v1/auth/tokens", json.dumps({"name": "x", "ttl_hours": 0}),
                    content_type="application/json")
    assert resp.status_code == 400 and resp.json()["code"] == "token_ttl_invalid"
    resp = Client().post("/api/v1/auth/token", json.dumps(
        {"username": "archivist", "password": "Archive-Pass-2024", "ttl_hours": -5}),
        content_type="application/json")
    assert resp.status_code == 400 and resp.json()["code"] == "token_ttl_invalid"
