"""Issue 15 item 7: 三员分立 holds against the security administrator too. Nobody changes their
own roles, scope or active flag; a security administrator never gets (or grants a fellow one)
a content role or auditadmin; nobody holds two of the three; the bootstrap admin's two roles
are split by the first real security administrator, shown as a task until done. Every refusal
is audited."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from kjda.accounts.models import Profile
from kjda.audit.models import AuditEvent
from kjda_oasim.factories import totp_activate, user_with_roles

pytestmark = pytest.mark.django_db

PASSWORD = "Separation-Pass-2024!"


def _user(django_user_model, name: str, roles: list[str]):
    return user_with_roles(name, roles, password=PASSWORD)


def _session(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def _patch(client: Client, username: str, **body):
    return client.patch(f"/api/v1/users/{username}", json.dumps(body),
                        content_type="application/json")


def _roles(username: str) -> list[str]:
    return Profile.objects.get(user__username=username).roles


def _denied(username: str, reason: str) -> bool:
    return AuditEvent.objects.filter(action="access.denied", outcome="denied",
                                     object_id=username, detail__reason=reason).exists()


@pytest.mark.parametrize("change", [
    {"roles": ["secadmin", "archivist"]},
    {"roles": []},
    {"fonds": ["Z001"]},
    {"departments": ["财务部"]},
    {"is_active": False},
])
def test_nobody_changes_their_own_roles_scope_or_active_flag(fonds, django_user_model, change):
    sec = _session(_user(django_user_model, "sec", ["secadmin"]))
    resp = _patch(sec, "sec", **change)
    assert resp.status_code == 403 and resp.json()["code"] == "self_change"
    assert _roles("sec") == ["secadmin"]
    assert Profile.objects.get(user__username="sec").fonds == []
    assert django_user_model.objects.get(username="sec").is_active
    assert _denied("sec", "self_change")


def test_the_own_name_may_still_be_corrected(fonds, django_user_model):
    sec = _session(_user(django_user_model, "sec", ["secadmin"]))
    assert _patch(sec, "sec", person_name="安全员").status_code == 200


@pytest.mark.parametrize("role", ["archivist", "accountant", "auditor", "employee"])
def test_no_security_administrator_gets_a_content_role(fonds, django_user_model, role):
    sec = _session(_user(django_user_model, "sec", ["secadmin"]))
    _user(django_user_model, "sec2", ["secadmin"])
    _user(django_user_model, "clerk", [role])
    resp = _patch(sec, "sec2", roles=["secadmin", role])
    assert resp.status_code == 403 and resp.json()["code"] == "roles_separation_secadmin"
    assert _denied("sec2", "roles_separation_secadmin")
    resp = _patch(sec, "clerk", roles=[role, "secadmin"])  # the same, the other way round
    assert resp.status_code == 403 and _roles("clerk") == [role]
    created = sec.post("/api/v1/users", json.dumps({
        "username": "both", "password": PASSWORD, "roles": ["secadmin", role]}),
        content_type="application/json")
    assert created.status_code == 403 and created.json()["code"] == "roles_separation_secadmin"
    assert not django_user_model.objects.filter(username="both").exists()
    assert _denied("both", "roles_separation_secadmin")


def test_no_one_holds_two_of_the_three_and_the_refusal_is_audited(fonds, django_user_model):
    sec = _session(_user(django_user_model, "sec", ["secadmin"]))
    _user(django_user_model, "sec2", ["secadmin"])
    for roles in (["secadmin", "auditadmin"], ["secadmin", "sysadmin"]):
        resp = _patch(sec, "sec2", roles=roles)
        assert resp.status_code == 400 and resp.json()["code"] == "roles_separation"
    assert _roles("sec2") == ["secadmin"]
    assert _denied("sec2", "roles_separation")


def test_the_web_form_refuses_and_audits_the_same(fonds, django_user_model):
    sec = _session(_user(django_user_model, "sec", ["secadmin"]))
    _user(django_user_model, "sec2", ["secadmin"])
    resp = sec.post("/users/", {"action": "update", "username": "sec", "roles": ["secadmin",
                                                                               "archivist"],
                                "is_active": "on"})
    assert resp.status_code == 200 and "不能修改自己的角色" in resp.content.decode()
    resp = sec.post("/users/", {"action": "update", "username": "sec2",
                                "roles": ["secadmin", "auditor"], "is_active": "on"})
    assert resp.status_code == 200 and "三员分立" in resp.content.decode()
    assert _roles("sec") == ["secadmin"] and _roles("sec2") == ["secadmin"]
    assert _denied("sec", "self_change") and _denied("sec2", "roles_separation_secadmin")


def test_the_bootstrap_admin_is_split_by_the_first_real_security_administrator(
        fonds, django_user_model):
    from kjda.accounts.services import user_grant_bootstrap_roles

    admin = django_user_model.objects.create_user("admin", password=PASSWORD)
    user_grant_bootstrap_roles(user=admin)
    totp_activate(admin)
    as_admin = _session(admin)
    page = as_admin.get("/users/").content.decode()
    assert 'id="separation-task"' in page  # the task, shown from the start
    assert 'id="separation-task"' in as_admin.get("/").content.decode()  # on the dashboard too
    # admin can't split itself (nobody changes their own roles) ...
    resp = _patch(as_admin, "admin", roles=["archivist"])
    assert resp.status_code == 403 and resp.json()["code"] == "self_change"
    # ... but may keep working as archivist + secadmin until then, e.g. name the real one
    assert as_admin.post("/api/v1/users", json.dumps({
        "username": "sec", "password": PASSWORD, "roles": ["secadmin"]}),
        content_type="application/json").status_code == 201
    sec_user = django_user_model.objects.get(username="sec")
    Profile.objects.filter(user=sec_user).update(must_change_password=False)
    totp_activate(sec_user)
    sec = _session(sec_user)
    assert 'id="separation-task"' in sec.get("/").content.decode()
    # the split: the web task's button
    assert sec.post("/users/", {"action": "split", "username": "admin"}).status_code == 302
    assert _roles("admin") == ["archivist"]
    assert 'id="separation-task"' not in sec.get("/users/").content.decode()
    assert 'id="separation-task"' not in sec.get("/").content.decode()
    change = AuditEvent.objects.filter(action="user.update", object_id="admin").latest("seq")
    assert change.actor_name == "sec" and change.detail["after"]["roles"] == ["archivist"]
    # and admin can't get it back
    resp = _patch(sec, "admin", roles=["archivist", "secadmin"])
    assert resp.status_code == 403 and _roles("admin") == ["archivist"]


def test_the_split_through_the_api_takes_roles_away_only(fonds, django_user_model):
    from kjda.accounts.services import user_grant_bootstrap_roles

    admin = django_user_model.objects.create_user("admin", password=PASSWORD)
    user_grant_bootstrap_roles(user=admin)
    sec = _session(_user(django_user_model, "sec", ["secadmin"]))
    # adding another content role to the conflicted account is refused ...
    resp = _patch(sec, "admin", roles=["archivist", "secadmin", "accountant"])
    assert resp.status_code == 403 and resp.json()["code"] == "roles_separation_secadmin"
    # ... a scope change that leaves its roles as they are is not
    assert _patch(sec, "admin", departments=["财务部"]).status_code == 200
    assert _patch(sec, "admin", roles=["archivist"]).status_code == 200


@pytest.mark.parametrize("custodian", ["archivist", "archives_head"])
def test_a_cashier_is_never_also_a_custodian_of_the_archives(fonds, django_user_model, custodian):
    # 79号令 Art.11: 出纳人员不得兼管会计档案.
    sec = _session(_user(django_user_model, "sec", ["secadmin"]))
    _user(django_user_model, "cashier1", ["cashier"])
    resp = _patch(sec, "cashier1", roles=["cashier", custodian])
    assert resp.status_code == 403 and resp.json()["code"] == "roles_cashier_custodian"
    assert "出纳" in resp.json()["message_zh"]
    assert _roles("cashier1") == ["cashier"] and _denied("cashier1", "roles_cashier_custodian")
    assert _patch(sec, "cashier1", roles=["cashier", "accountant"]).status_code == 200
