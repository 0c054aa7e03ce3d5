"""OA platforms register through the `kjda.oa_platforms` entry point group: the connector
kinds, INSTALLED_APPS and the SSO providers follow the registered descriptors."""

from __future__ import annotations

import importlib.metadata

import pytest
from django.conf import settings
from django.core.management import call_command

from kjda import platforms as platforms_module
from kjda.accounts.sso.config import sso_providers_from_env
from kjda.accounts.sso.services import sso_provider_choices
from kjda.connectors.models import Connector
from kjda.connectors.registry import connector_class
from kjda.connectors.vendors.wecom.connector import WeComConnector
from kjda.platforms import Platform, PlatformsMissing, kind_choices, platforms

ACME = Platform(kind="acme", label_zh="某某 OA", label_en="Acme OA", order=99,
                connector="kjda.connectors.webhook:WebhookConnector")


@pytest.fixture
def with_entry_points(monkeypatch):
    """Registers extra entry points beside the installed ones for one test."""
    installed = list(importlib.metadata.entry_points(group=platforms_module.GROUP))

    def register(*extra):
        points = installed + [importlib.metadata.EntryPoint(name, value, platforms_module.GROUP)
                              for name, value in extra]
        monkeypatch.setattr(platforms_module, "entry_points", lambda **_: points)
        platforms.cache_clear()

    yield register
    platforms.cache_clear()


def test_builtin_platforms_come_from_entry_points_in_display_order():
    assert list(platforms()) == ["dingtalk", "wecom", "feishu", "weaver", "webhook"]
    assert connector_class("wecom") is WeComConnector
    assert importlib.metadata.entry_points(group="kjda.oa_platforms")["wecom"].value == (
        "kjda.connectors.vendors.wecom:PLATFORM")


def test_wecom_sso_app_and_provider_come_from_its_descriptor():
    assert "kjda.connectors.vendors.wecom.sso" in settings.INSTALLED_APPS
    assert "kjda.accounts.sso.wecom" not in settings.INSTALLED_APPS
    assert sso_provider_choices() == ["oidc", "dingtalk", "wecom", "feishu"]
    conf = sso_providers_from_env({"KJDA_WECOM_CORP_ID": "ww1", "KJDA_WECOM_SECRET": "s",
                                   "KJDA_WECOM_AGENT_ID": "1000002"})
    assert conf["wecom"]["APPS"][0]["settings"] == {"agent_id": "1000002"}


@pytest.mark.django_db
def test_a_platform_from_another_package_is_a_connector_kind_without_a_migration(
        with_entry_points):
    with_entry_points(("acme", "kjda.tests.test_platforms:ACME"))
    assert ("acme", "某某 OA") in kind_choices()
    assert ("acme", "某某 OA") in list(Connector._meta.get_field("kind").choices)
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)  # exits 1 on changes


def test_an_entry_point_that_is_not_a_platform_stops_the_start(with_entry_points):
    with_entry_points(("acme", "kjda.tests.test_platforms:test_an_entry_point_that_is_not_a_"
                               "platform_stops_the_start"))
    with pytest.raises(PlatformsMissing, match="acme"):
        platforms()


def test_no_registered_platforms_says_to_install_kjda(monkeypatch):
    monkeypatch.setattr(platforms_module, "entry_points", lambda **_: [])
    platforms.cache_clear()
    try:
        with pytest.raises(PlatformsMissing, match="pip install -e"):
            platforms()
    finally:
        platforms.cache_clear()


def test_login_page_csp_admits_each_platforms_public_sso_hosts_from_its_descriptor():
    from kjda.accounts.sso.dingtalk.views import LOGIN as DINGTALK_LOGIN
    from kjda.accounts.sso.feishu.views import ACCOUNTS as FEISHU_ACCOUNTS
    from kjda.web.csp import public_login_origins

    assert public_login_origins("wecom") == ["https://login.work.weixin.qq.com",
                                             "https://open.weixin.qq.com"]
    assert public_login_origins("dingtalk") == [DINGTALK_LOGIN]
    assert public_login_origins("feishu") == [FEISHU_ACCOUNTS]
    assert public_login_origins("idp") == []
