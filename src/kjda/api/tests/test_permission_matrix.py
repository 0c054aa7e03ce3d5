"""Every API endpoint and web page, called as every role, as an anonymous caller and with an
expired token: who gets what (roles), which records they see (scopes), and that every refusal
lands in the audit log."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from kjda.accounts.models import ApiToken, Profile
from kjda.accounts.services import token_issue
from kjda_oasim.factories import metadata_json, voucher_pdf

ROLES = {  # username: (roles, fonds, departments, person_name)
    "sys": (["sysadmin"], [], [], ""),
    "sec": (["secadmin"], [], [], ""),
    "aud": (["auditadmin"], [], [], ""),
    "arch": (["archivist"], [], [], ""),
    "acct": (["accountant"], [], ["销售部"], ""),
    "auditor": (["auditor"], ["Z001"], [], ""),
    "emp": (["employee"], [], [], "张三"),
}
ADMINS = ("sys", "sec", "aud")


@pytest.fixture
def world(db, fonds, django_user_model):
    from kjda.archives.models import Fonds

    Fonds.objects.create(code="Z002", name="子公司", unit_name="子公司")
    from kjda_oasim.factories import totp_activate

    tokens = {}
    for name, (roles, fonds_codes, departments, person) in ROLES.items():
        user = django_user_model.objects.create_user(name, password="Matrix-Pass-2024!")
        Profile.objects.create(user=user, roles=roles, fonds=fonds_codes,
                               departments=departments, person_name=person)
        if name in ADMINS:  # the three administrators have their second factor
            totp_activate(user)
        tokens[name] = token_issue(user=user, name="matrix")[1]
    expired_token, raw = token_issue(user=django_user_model.objects.get(username="arch"),
                                     name="old")
    ApiToken.objects.filter(pk=expired_token.pk).update(
        expires_at=timezone.now() - timedelta(hours=1))
    tokens["expired"] = raw
    arch = Client(headers={"Authorization": f"Bearer {tokens['arch']}"})
    ids = {}
    for key, fonds_code, dept, applicant in (("sales", "Z001", "销售部", "张三"),
                                             ("purchase", "Z001", "采购部", "王芳"),
                                             ("subsidiary", "Z002", "财务部", "李四")):
        meta = metadata_json(fonds=fonds_code, department=dept, applicant=applicant,
                             document_no=f"记-{key}", title=f"报销 {key}")
        pdf = _pdf(key)
        from django.core.files.uploadedfile import SimpleUploadedFile

        body = arch.post("/api/v1/records", {"metadata": meta,
                                             "files": [SimpleUploadedFile(f"{key}.pdf", pdf)]})
        assert body.status_code == 201, body.content
        data = body.json()
        ids[key] = (data["id"], data["files"][0]["id"])
    return tokens, ids


def _pdf(number: str) -> bytes:
    return voucher_pdf(number=number, summary=f"报销 {number}", amount=Decimal("100.00"),
                       day=date(2024, 3, 15))


def _client(tokens, who):
    if who == "anon":
        return Client()
    return Client(headers={"Authorization": f"Bearer {tokens[who]}"})


WHO = [*ROLES, "anon", "expired"]
NO_AUTH = {"anon": 401, "expired": 401}


def _expect(allowed: set[str], ok: int = 200, refused: int = 403) -> dict[str, int]:
    return {w: (ok if w in allowed else NO_AUTH.get(w, refused)) for w in WHO}


ENDPOINTS = [  # (method, path, body, expected status per caller)
    ("get", "/api/v1/records", None, _expect({"arch", "acct", "auditor", "emp"})),
    ("get", "/api/v1/me", None, _expect(set(ROLES))),
    ("get", "/api/v1/retention-rules", None, {w: 200 for w in WHO}),
    ("get", "/api/v1/fonds", None, _expect(set(ROLES))),
    ("patch", "/api/v1/fonds/Z002", {"name": "子公司（改）"}, _expect({"sys", "arch"})),
    ("post", "/api/v1/volumes/999999/close", None, _expect({"arch", "acct"}, ok=404)),
    ("get", "/api/v1/connectors", None, _expect({"sys", "arch"})),
    ("get", "/api/v1/intake", None, _expect({"sys", "arch"})),
    ("patch", "/api/v1/connectors/00000000-0000-0000-0000-000000000000",
     {"settings": {"agent_id": "1"}}, _expect({"sys", "arch"}, ok=404)),
    ("get", "/api/v1/users", None, _expect({"sec"})),
    ("post", "/api/v1/users", {"username": "new-{who}", "password": "Another-Pass-2024!",
                               "roles": ["accountant"]}, _expect({"sec"}, ok=201)),
    ("get", "/api/v1/audit", None, _expect({"aud"})),
    ("post", "/api/v1/users/acct/unlock", None, _expect({"sec"}, ok=204)),
    ("get", "/api/v1/formats", None, _expect({"sys", "arch"})),
    ("post", "/api/v1/formats/999999/risk", {"at_risk": False}, _expect({"sys", "arch"}, ok=404)),
]


@pytest.mark.parametrize(("method", "path", "body", "expected"), ENDPOINTS,
                         ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS])
def test_each_endpoint_answers_each_caller_as_its_roles_allow(world, method, path, body,
                                                               expected):
    tokens, _ = world
    got = {}
    for who in WHO:
        payload = json.dumps(body).replace("{who}", who) if body is not None else None
        resp = getattr(_client(tokens, who), method)(path, payload,
                                                     content_type="application/json")
        got[who] = resp.status_code
    assert got == expected


def test_filing_needs_the_ingest_role(world):
    tokens, _ = world
    from django.core.files.uploadedfile import SimpleUploadedFile

    got = {}
    for who in WHO:
        meta = metadata_json(document_no=f"记-new-{who}", department="销售部")
        resp = _client(tokens, who).post("/api/v1/records", {
            "metadata": meta, "files": [SimpleUploadedFile("v.pdf", _pdf(who))]})
        got[who] = resp.status_code
    assert got == _expect({"arch", "acct"}, ok=201)


SEES = {  # which of the three records each caller reads
    "arch": {"sales", "purchase", "subsidiary"},
    "acct": {"sales"},  # their department
    "auditor": {"sales", "purchase"},  # their fonds, every department, read-only
    "emp": {"sales"},  # what they applied for
    "sys": set(), "sec": set(), "aud": set(),
}


@pytest.mark.parametrize("who", list(SEES))
def test_each_role_reads_exactly_the_records_in_its_scope(world, who):
    tokens, ids = world
    c = _client(tokens, who)
    listing = c.get("/api/v1/records")
    if SEES[who]:
        assert listing.status_code == 200
        assert {i["id"] for i in listing.json()["items"]} == {ids[k][0] for k in SEES[who]}
        assert listing.json()["count"] == len(SEES[who])
    for key, (record_id, file_id) in ids.items():
        expected = 200 if key in SEES[who] else 404
        assert c.get(f"/api/v1/records/{record_id}").status_code == expected, (who, key)
        assert c.get(f"/api/v1/records/{record_id}/metadata.xml").status_code == expected
        assert c.get(f"/api/v1/files/{file_id}/content").status_code == expected
        if expected == 404:  # outside the scope: no content leaks into the answer
            assert "报销" not in c.get(f"/api/v1/records/{record_id}").content.decode()


def test_refusals_and_reads_are_in_the_audit_log_and_the_chain_verifies(world):
    from kjda.audit.models import AuditEvent
    from kjda.audit.selectors import audit_chain_verify

    tokens, ids = world
    _client(tokens, "sys").get(f"/api/v1/records/{ids['sales'][0]}")
    _client(tokens, "sys").get("/api/v1/records")
    _client(tokens, "emp").get(f"/api/v1/files/{ids['purchase'][1]}/content")
    _client(tokens, "emp").get(f"/api/v1/files/{ids['sales'][1]}/content")
    _client(tokens, "anon").get("/api/v1/records")
    denied = AuditEvent.objects.filter(outcome="denied")
    assert denied.filter(actor_name="sys", action="record.view",
                         object_id=str(ids["sales"][0])).exists()
    assert denied.filter(actor_name="sys", action="access.denied").exists()
    assert denied.filter(actor_name="emp", action="file.download",
                         object_id=str(ids["purchase"][1])).exists()
    assert AuditEvent.objects.filter(actor_name="emp", action="file.download",
                                     outcome="success").exists()
    assert denied.filter(action="access.denied", actor_name="").exists()  # the anonymous call
    assert audit_chain_verify().ok
    # and the security auditor finds them, and can export them
    aud = _client(tokens, "aud")
    found = aud.get("/api/v1/audit", {"outcome": "denied", "user": "emp"}).json()
    assert found["count"] >= 1 and all(i["actor_name"] == "emp" for i in found["items"])
    csv = aud.get("/api/v1/audit", {"format": "csv", "user": "sys"})
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("seq,occurred_at,actor_name") and len(lines) >= 3


def test_a_role_change_applies_at_once_and_is_audited(world):
    from kjda.audit.models import AuditEvent

    tokens, ids = world
    acct = _client(tokens, "acct")
    assert acct.get(f"/api/v1/records/{ids['purchase'][0]}").status_code == 404
    resp = _client(tokens, "sec").patch("/api/v1/users/acct", json.dumps(
        {"departments": ["销售部", "采购部"]}), content_type="application/json")
    assert resp.status_code == 200 and resp.json()["departments"] == ["采购部", "销售部"]
    assert acct.get(f"/api/v1/records/{ids['purchase'][0]}").status_code == 200
    _client(tokens, "sec").patch("/api/v1/users/acct", json.dumps({"is_active": False}),
                                 content_type="application/json")
    assert acct.get("/api/v1/records").status_code == 401  # a deactivated user's token is dead
    change = AuditEvent.objects.filter(action="user.update", object_id="acct").first()
    assert change.actor_name == "sec" and "before" in change.detail


def test_no_one_holds_two_of_the_three_administrator_roles(world):
    tokens, _ = world
    sec = _client(tokens, "sec")
    resp = sec.post("/api/v1/users", json.dumps({"username": "both", "password": "Both-Pass-2024!",
                                                 "roles": ["sysadmin", "auditadmin"]}),
                    content_type="application/json")
    assert resp.status_code == 400 and resp.json()["code"] == "roles_separation"
    resp = sec.patch("/api/v1/users/sys", json.dumps({"roles": ["sysadmin", "secadmin"]}),
                     content_type="application/json")
    assert resp.status_code == 400
    weak = sec.post("/api/v1/users", json.dumps({"username": "weak", "password": "123",
                                                 "roles": ["employee"]}),
                    content_type="application/json")
    assert weak.status_code == 400 and weak.json()["code"] == "password_weak"


PAGES = [  # web pages: who may open them (others: 403; anonymous: to the login page)
    ("/", set(ROLES)),
    ("/records/", {"arch", "acct", "auditor", "emp"}),
    ("/records/new/", {"arch", "acct"}),
    ("/connectors/", {"sys", "arch"}),
    ("/intake/", {"sys", "arch"}),
    ("/retention/", set(ROLES)),
    ("/tokens/", set(ROLES)),  # each user's own tokens
]


@pytest.mark.parametrize(("path", "allowed"), PAGES, ids=[p for p, _ in PAGES])
def test_each_page_opens_only_for_the_roles_it_serves(world, django_user_model, path, allowed):
    got, want = {}, {}
    for who in [*ROLES, "anon"]:
        c = Client()
        if who != "anon":
            c.force_login(django_user_model.objects.get(username=who))
        got[who] = c.get(path).status_code
        want[who] = 302 if who == "anon" else (200 if who in allowed else 403)
    assert got == want


def test_record_pages_outside_the_scope_are_not_found(world, django_user_model):
    _, ids = world
    c = Client()
    c.force_login(django_user_model.objects.get(username="acct"))
    assert c.get(f"/records/{ids['sales'][0]}/").status_code == 200
    # issue 18: the page offers to borrow it (403), naming nothing but the id in the link
    page = c.get(f"/records/{ids['purchase'][0]}/")
    assert page.status_code == 403 and "此档案不在您的查阅范围内" in page.content.decode()
    assert c.get(f"/files/{ids['purchase'][1]}/content").status_code == 404


def test_a_scoped_accountant_files_only_into_its_own_departments(world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    tokens, _ = world
    acct = _client(tokens, "acct")

    def post(dept: str, n: str):
        return acct.post("/api/v1/records", {
            "metadata": metadata_json(department=dept, document_no=f"记-scope-{n}"),
            "files": [SimpleUploadedFile("v.pdf", _pdf(f"scope-{n}"))]})

    refused = post("采购部", "1")
    assert refused.status_code == 403 and refused.json()["code"] == "out_of_scope"
    assert post("销售部", "2").status_code == 201


# --- issue 15: tokens never grow, the second factor on every channel, 三员 against secadmin ---

def test_no_callers_token_mints_a_wider_or_longer_lived_one(world):
    """Every role's token, narrowed to `read` and one hour: what it may mint."""
    tokens, _ = world
    for who in ROLES:
        full = _client(tokens, who)
        narrow = full.post("/api/v1/auth/tokens", json.dumps(
            {"name": "narrow", "scopes": ["read"], "ttl_hours": 1}),
            content_type="application/json")
        assert narrow.status_code == 201, (who, narrow.content)
        c = Client(headers={"Authorization": f"Bearer {narrow.json()['token']}"})
        got = {}
        for label, body in (("empty", {"scopes": []}), ("null", {"scopes": None}),
                            ("same", {"scopes": ["read"]}), ("wider", {"scopes": ["admin"]}),
                            ("longer", {"ttl_hours": 2}), ("unknown", {"scopes": ["root"]})):
            resp = c.post("/api/v1/auth/tokens", json.dumps({"name": label, **body}),
                          content_type="application/json")
            got[label] = (resp.status_code, resp.json().get("scopes") or resp.json()["code"])
        assert got == {"empty": (201, ["read"]), "null": (201, ["read"]),
                       "same": (201, ["read"]), "wider": (403, "token_scope"),
                       "longer": (403, "token_expiry"),
                       "unknown": (422, "token_scope_unknown")}, who


def test_every_endpoint_refuses_a_blocked_account_on_every_channel(fonds, django_user_model):
    """An administrator without a second factor, and an account that must change its
    password: 403 with the reason on every endpoint, by session and by token; only the public
    retention table still answers."""
    blocked = {}
    for name, roles, must_change in (("sys0", ["sysadmin"], False),
                                     ("sec0", ["secadmin"], False),
                                     ("aud0", ["auditadmin"], False),
                                     ("new0", ["archivist"], True)):
        user = django_user_model.objects.create_user(name, password="Matrix-Pass-2024!")
        Profile.objects.create(user=user, roles=roles, must_change_password=must_change)
        session = Client()
        session.force_login(user)
        bearer = Client(headers={"Authorization": f"Bearer {token_issue(user=user, name='m')[1]}"})
        blocked[name] = ("password_change_required" if must_change else "mfa_required",
                         session, bearer)
    for method, path, body, _ in ENDPOINTS:
        for name, (code, session, bearer) in blocked.items():
            for channel, c in (("session", session), ("token", bearer)):
                payload = json.dumps(body).replace("{who}", name) if body is not None else None
                resp = getattr(c, method)(path, payload, content_type="application/json")
                if path == "/api/v1/retention-rules":
                    assert resp.status_code == 200
                    continue
                assert (resp.status_code, resp.json()["code"]) == (403, code), \
                    (method, path, name, channel)


def test_no_one_changes_their_own_roles_and_secadmin_grants_itself_nothing(world):
    tokens, _ = world
    got = {}
    for who in ROLES:
        resp = _client(tokens, who).patch(f"/api/v1/users/{who}", json.dumps(
            {"roles": ["archivist", "accountant"]}), content_type="application/json")
        got[who] = (resp.status_code, resp.json()["code"])
    assert got == {who: (403, "self_change" if who == "sec" else "forbidden") for who in ROLES}
    sec = _client(tokens, "sec")
    for target, roles in (("arch", ["archivist", "secadmin"]), ("aud", ["auditadmin", "secadmin"]),
                          ("emp", ["employee", "secadmin"])):
        resp = sec.patch(f"/api/v1/users/{target}", json.dumps({"roles": roles}),
                         content_type="application/json")
        assert resp.status_code in (400, 403), (target, resp.content)
        assert resp.json()["code"].startswith("roles_separation")
    from kjda.audit.models import AuditEvent

    assert AuditEvent.objects.filter(action="access.denied", actor_name="sec",
                                     object_type="user").count() == 4
