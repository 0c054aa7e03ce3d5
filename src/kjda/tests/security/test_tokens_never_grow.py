"""Issue 15 item 2: a token never grows. A token makes only tokens with its own scopes or fewer
(none given: its own), expiring no later than itself, and revoking a token revokes every token
made with it. Unknown scopes are a 422 JSON answer on every way in."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from kjda.accounts.models import ApiToken
from kjda.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def _bearer(raw: str) -> Client:
    return Client(headers={"Authorization": f"Bearer {raw}"})


def _mint(client: Client, **body):
    return client.post("/api/v1/auth/tokens", json.dumps(body), content_type="application/json")


@pytest.fixture
def web(archivist, fonds) -> Client:
    c = Client()
    c.force_login(archivist)
    return c


def _token(web: Client, **body) -> dict:
    resp = _mint(web, name=body.pop("name", "t"), **body)
    assert resp.status_code == 201, resp.content
    return resp.json()


@pytest.mark.parametrize("empty", [[], None])
def test_a_read_token_asking_for_no_scopes_gets_read_only(web, empty):
    read = _bearer(_token(web, scopes=["read"])["token"])
    child = _mint(read, name="child", scopes=empty)
    assert child.status_code == 201, child.content
    assert child.json()["scopes"] == ["read"]  # not read+ingest+admin
    assert ApiToken.objects.get(name="child").scopes == ["read"]
    # and the child can't do what the parent couldn't
    assert _bearer(child.json()["token"]).patch(
        "/api/v1/fonds/Z001", json.dumps({"name": "x"}),
        content_type="application/json").status_code == 403


def test_a_token_cannot_name_wider_scopes(web):
    read = _bearer(_token(web, scopes=["read"])["token"])
    for wider in (["admin"], ["read", "ingest"], ["ingest", "admin", "read"]):
        resp = _mint(read, name="wider", scopes=wider)
        assert resp.status_code == 403 and resp.json()["code"] == "token_scope"
    assert not ApiToken.objects.filter(name="wider").exists()


def test_a_child_never_outlives_its_parent(web):
    short = _token(web, scopes=["read"], ttl_hours=2)
    parent = _bearer(short["token"])
    for hours in (24 * 366, 3, 2):  # 2 h from now is already after the parent's expiry
        longer = _mint(parent, name="long", ttl_hours=hours)
        assert longer.status_code == 403 and longer.json()["code"] == "token_expiry"
    default = _mint(parent, name="default")  # the default lifetime, cut at the parent's expiry
    assert default.status_code == 201
    parent_expiry = ApiToken.objects.get(prefix=short["token"][:12]).expires_at
    assert ApiToken.objects.get(name="default").expires_at <= parent_expiry
    shorter = _mint(parent, name="shorter", ttl_hours=1)
    assert shorter.status_code == 201
    assert ApiToken.objects.get(name="shorter").expires_at <= parent_expiry


def test_revoking_a_token_revokes_the_tokens_made_with_it(web):
    parent_raw = _token(web, name="parent", ttl_hours=1)["token"]
    child_raw = _mint(_bearer(parent_raw), name="child").json()["token"]
    grandchild_raw = _mint(_bearer(child_raw), name="grandchild").json()["token"]
    sibling_raw = _token(web, name="sibling")["token"]
    for raw in (parent_raw, child_raw, grandchild_raw):
        assert _bearer(raw).get("/api/v1/records").status_code == 200
    parent_id = ApiToken.objects.get(name="parent").pk
    assert web.delete(f"/api/v1/auth/tokens/{parent_id}").status_code == 204
    for raw in (parent_raw, child_raw, grandchild_raw):
        assert _bearer(raw).get("/api/v1/records").status_code == 401
    assert _bearer(sibling_raw).get("/api/v1/records").status_code == 200  # not a descendant
    event = AuditEvent.objects.get(action="auth.token_revoke", object_id=str(parent_id))
    assert sorted(event.detail["descendants"]) == sorted(
        ApiToken.objects.filter(name__in=["child", "grandchild"]).values_list("pk", flat=True))


def test_revoking_on_the_tokens_page_revokes_the_descendants_too(web):
    parent_raw = _token(web, name="parent")["token"]
    child_raw = _mint(_bearer(parent_raw), name="child").json()["token"]
    parent_id = ApiToken.objects.get(name="parent").pk
    assert web.post("/tokens/", {"action": "revoke", "token_id": parent_id}).status_code == 200
    assert _bearer(child_raw).get("/api/v1/records").status_code == 401


def test_a_revoked_or_expired_parent_mints_nothing(web):
    raw = _token(web, name="gone")["token"]
    ApiToken.objects.filter(name="gone").update(expires_at=timezone.now() - timedelta(minutes=1))
    assert _mint(_bearer(raw), name="child").status_code == 401
    assert not ApiToken.objects.filter(name="child").exists()


def test_unknown_scopes_are_a_422_json_answer_on_every_way_in(web, archivist):
    resp = Client().post("/api/v1/auth/token", json.dumps(
        {"username": "archivist", "password": "Archive-Pass-2024", "scopes": ["superuser"]}),
        content_type="application/json")
    assert resp.status_code == 422 and resp.json()["code"] == "token_scope_unknown"
    resp = _mint(web, name="x", scopes=["read", "root"])
    assert resp.status_code == 422 and resp.json()["code"] == "token_scope_unknown"
    read = _bearer(_token(web, scopes=["read"])["token"])
    resp = _mint(read, name="x", scopes=["root"])  # unknown first, not "wider"
    assert resp.status_code == 422 and resp.json()["code"] == "token_scope_unknown"
    page = web.post("/tokens/", {"action": "create", "name": "x", "scopes": ["root"]})
    assert page.status_code == 422 and "root" in page.content.decode()
    assert not ApiToken.objects.filter(name="x").exists()
