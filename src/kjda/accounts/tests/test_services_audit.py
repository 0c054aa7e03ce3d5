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


def test_a_password_change_is_written_and_audited_by_the_service(archivist):
    from kjda.accounts.models import Profile
    from kjda.accounts.services import user_password_change

    Profile.objects.filter(user=archivist).update(must_change_password=True)
    user_password_change(user=archivist, password="Changed-Pass-2025!", actor=archivist)
    archivist.refresh_from_db()
    assert archivist.check_password("Changed-Pass-2025!")
    assert not Profile.objects.get(user=archivist).must_change_password
    event = AuditEvent.objects.get(action="auth.password_change")
    assert (event.actor_name, event.object_type, event.object_id, event.outcome) \
        == ("archivist", "user", str(archivist.pk), "success")


def test_a_weak_password_changes_nothing_and_audits_nothing(archivist):
    from kjda.accounts.services import user_password_change

    with pytest.raises(DomainError) as refused:
        user_password_change(user=archivist, password="123", actor=archivist)
    assert refused.value.code == "password_weak"
    archivist.refresh_from_db()
    assert archivist.check_password(PASSWORD)
    assert not AuditEvent.objects.filter(action="auth.password_change").exists()


def test_the_password_page_changes_through_the_service_and_keeps_the_session(archivist):
    web = Client()
    web.force_login(archivist)
    done = web.post("/password/", {"old_password": PASSWORD, "new_password1": "Changed-Pass-2025!",
                                   "new_password2": "Changed-Pass-2025!"})
    assert done.status_code == 302 and done["Location"] == "/"
    assert AuditEvent.objects.filter(action="auth.password_change").count() == 1
    assert web.get("/records/").status_code == 200  # still logged in


def test_the_bootstrap_admin_is_created_once_and_audited(db):
    from kjda.accounts.services import user_bootstrap

    admin = user_bootstrap(password="Bootstrap-Pass-2024", generated_password=True)
    assert admin is not None and admin.check_password("Bootstrap-Pass-2024")
    event = AuditEvent.objects.get(action="user.create")
    assert (event.actor, event.object_type, event.object_id, event.outcome) \
        == (None, "user", "admin", "success")
    assert event.detail["bootstrap"] is True and "secadmin" in event.detail["roles"]
    assert user_bootstrap(password="Other-Pass-2024") is None  # already there: nothing
    assert AuditEvent.objects.filter(action="user.create").count() == 1


def test_a_new_system_account_is_audited_once(db):
    from kjda.accounts.services import system_user

    first = system_user(name="oa:dingtalk", roles=["archivist"])
    assert system_user(name="oa:dingtalk") == first
    event = AuditEvent.objects.get(action="user.create")
    assert (event.actor, event.object_id) == (None, "oa:dingtalk")
    assert event.detail == {"system": True, "roles": ["archivist"]}


def test_a_new_account_is_audited_by_the_service_with_who_made_it(archivist, fonds):
    from django.contrib.auth import get_user_model

    from kjda.accounts.models import Profile
    from kjda.accounts.services import user_create

    sec = get_user_model().objects.create_user("sec", password=PASSWORD)
    Profile.objects.create(user=sec, roles=["secadmin"])
    user_create(actor=sec, username="wangwu", password="Wangwu-Pass-2024!", roles=["accountant"],
                fonds=["z001"])
    event = AuditEvent.objects.get(action="user.create")
    assert (event.actor_name, event.object_type, event.object_id, event.outcome) \
        == ("sec", "user", "wangwu", "success")
    assert event.detail["roles"] == ["accountant"] and event.detail["fonds"] == ["Z001"]


def test_a_directory_profile_refresh_is_audited_and_a_non_directory_one_writes_nothing(
        archivist):
    from kjda.accounts.models import Profile
    from kjda.accounts.sso.services import OAIdentity, sso_profile_refresh

    outsider = OAIdentity(provider="idp", user_id="u-1", name="别人", department="外部")
    sso_profile_refresh(archivist, outsider, actor=archivist)
    assert not AuditEvent.objects.filter(action="user.update").exists()
    sso_profile_refresh(archivist, OAIdentity(provider="dingtalk", user_id="u-1", name="张三",
                                              department="财务部", directory=True),
                        actor=archivist)
    profile = Profile.objects.get(user=archivist)
    assert (profile.person_name, profile.department) == ("张三", "财务部")
    event = AuditEvent.objects.get(action="user.update")
    assert (event.actor_name, event.object_id, event.outcome) \
        == ("archivist", "archivist", "success")
    assert event.detail == {"source": "dingtalk", "changed": ["person_name", "department"]}


def test_a_nameless_token_gets_the_same_answer_on_the_page_and_the_api(archivist):
    web = Client()
    web.force_login(archivist)
    page = web.post("/tokens/", {"action": "create", "name": "  "})
    assert page.status_code == 400 and "请填写令牌名称" in page.content.decode()
    api = web.post("/api/v1/auth/tokens", json.dumps({"name": "  "}),
                   content_type="application/json")
    assert api.status_code == 400 and api.json()["code"] == "token_name_required"
    password = Client().post("/api/v1/auth/token", json.dumps(
        {"username": "archivist", "password": PASSWORD, "name": ""}),
        content_type="application/json")
    assert password.status_code == 400 and password.json()["code"] == "token_name_required"
    assert not ApiToken.objects.exists()
    assert not AuditEvent.objects.filter(action="auth.token").exists()
