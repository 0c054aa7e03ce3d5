"""Directory sync from DingTalk, WeCom and Feishu (simulated): departments kept current, a
person who left loses access at the next sync (deactivated, tokens revoked, sessions ended)."""

from __future__ import annotations

import pytest
from django.test import Client

from kjda.accounts.tests.conftest import oa_login

KINDS = ["dingtalk", "wecom", "feishu"]


@pytest.fixture
def connectors(oa_sim, sso_apps):
    from kjda.connectors.services import connector_create

    return {kind: connector_create(kind=kind, name=f"{kind} 测试",
                                   settings=oa_sim.vendors[kind].connector_settings())
            for kind in KINDS}


def _me(client: Client):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(pk=client.session["_auth_user_id"])


@pytest.mark.parametrize("kind", KINDS)
def test_a_leaver_loses_access_at_the_next_sync(oa_sim, connectors, kind):
    from kjda.accounts.models import ApiToken, DirectoryDepartment
    from kjda.accounts.services import token_issue
    from kjda.audit.models import AuditEvent
    from kjda.connectors.directory import directory_sync

    zhang, li = Client(), Client()
    assert oa_login(zhang, kind, "zhangsan")[1].status_code == 302
    assert oa_login(li, kind, "lisi")[1].status_code == 302
    user = _me(zhang)
    _, raw = token_issue(user=user, name="integration")
    api = Client(headers={"Authorization": f"Bearer {raw}"})
    assert api.get("/api/v1/me").status_code == 200
    assert zhang.get("/records/").status_code == 200

    oa_sim.vendors[kind].directory_remove("zhangsan")
    oa_sim.vendors[kind].directory_add("lisi", name="李四", department="财务部",
                                       mobile="13800000002")
    counts = directory_sync(connector=connectors[kind])
    assert counts["deactivated"] == 1 and counts["updated"] == 1

    user.refresh_from_db()
    assert not user.is_active
    assert ApiToken.objects.get(user=user).revoked_at is not None
    assert api.get("/api/v1/me").status_code == 401
    assert zhang.get("/records/").status_code == 302  # the session is gone: back to login

    stay = _me(li)
    assert stay.is_active and stay.kjda_profile.department == "财务部"
    assert li.get("/records/").status_code == 200
    assert DirectoryDepartment.objects.filter(source=kind, name="财务部", active=True).exists()
    gone = AuditEvent.objects.get(action="user.deactivate", object_id=user.username)
    assert gone.detail["tokens_revoked"] == 1 and gone.detail["sessions_ended"] == 1
    assert AuditEvent.objects.filter(action="directory.sync", detail__kind=kind).exists()


def test_an_empty_or_unreadable_directory_changes_nothing(oa_sim, connectors):
    from kjda.connectors.directory import directory_sync
    from kjda.errors import DomainError

    zhang = Client()
    assert oa_login(zhang, "dingtalk", "zhangsan")[1].status_code == 302
    sim = oa_sim.vendors["dingtalk"]
    for uid in list(sim.users):
        sim.directory_remove(uid)
    with pytest.raises(DomainError, match="directory"):
        directory_sync(connector=connectors["dingtalk"])
    assert _me(zhang).is_active

    sim.directory_add("zhangsan", name="张三", department="销售部")
    oa_sim.fail_next("/dingtalk/oapi/topapi/v2/user/list", status=500, count=10)
    with pytest.raises(Exception):  # noqa: B017 - whatever the transport raises
        directory_sync(connector=connectors["dingtalk"])
    assert _me(zhang).is_active


def test_periodic_run_syncs_each_connector_once_per_interval(oa_sim, connectors, settings):
    from kjda.connectors.directory import directory_sync_due

    settings.KJDA_DIRECTORY_SYNC_MINUTES = 60
    first = directory_sync_due()
    assert sorted(r["connector"] for r in first) == sorted(str(c.pk) for c in
                                                          connectors.values())
    assert all("error" not in r for r in first), first
    assert directory_sync_due() == []  # not due again within the hour


def test_cli_directory_sync(oa_sim, connectors, capsys):
    from kjda.cli import main

    assert main(["directory-sync"]) == 0
    out = capsys.readouterr().out
    assert out.count("'people': 2") == 3
