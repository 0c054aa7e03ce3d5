"""SSO providers configured from the environment, without code or database changes."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client

from kjda.accounts.sso.config import sso_providers_from_env

ENV = {
    "KJDA_OIDC_SERVER_URL": "https://sso.example.com/realms/corp",
    "KJDA_OIDC_CLIENT_ID": "kjda", "KJDA_OIDC_CLIENT_SECRET": "s3",
    "KJDA_OIDC_ID": "keycloak", "KJDA_OIDC_NAME": "集团统一认证",
    "KJDA_DINGTALK_CLIENT_ID": "dingabc", "KJDA_DINGTALK_CLIENT_SECRET": "dsecret",
    "KJDA_DINGTALK_LOGIN_BASE_URL": "https://login.sim.example",
    "KJDA_WECOM_CORP_ID": "ww1", "KJDA_WECOM_SECRET": "wsecret", "KJDA_WECOM_AGENT_ID": "1000002",
    "KJDA_FEISHU_APP_ID": "cli_1",  # no secret: not configured
}


def test_providers_from_the_environment():
    got = sso_providers_from_env(ENV)
    assert set(got) == {"oidc", "dingtalk", "wecom"}
    oidc = got["oidc"]["APPS"][0]
    assert oidc["provider_id"] == "keycloak" and oidc["name"] == "集团统一认证"
    assert oidc["settings"] == {"server_url": "https://sso.example.com/realms/corp"}
    assert got["dingtalk"]["APPS"][0]["settings"] == {"login_base_url": "https://login.sim.example"}
    assert got["wecom"]["APPS"][0]["settings"] == {"agent_id": "1000002"}
    assert sso_providers_from_env({}) == {}


@pytest.mark.django_db
def test_env_configured_provider_is_on_the_login_page_and_uses_its_endpoint(settings):
    settings.SOCIALACCOUNT_PROVIDERS = sso_providers_from_env(ENV)
    page = Client().get("/login/").content.decode()
    assert "钉钉" in page and "企业微信" in page and "集团统一认证" in page
    start = Client().post("/accounts/dingtalk/login/")
    assert start.status_code == 302
    assert urlsplit(start["Location"]).netloc == "login.sim.example"
    wecom = Client().post("/accounts/wecom/login/")
    assert wecom["Location"].startswith("https://login.work.weixin.qq.com/wwlogin/sso/login?")


@pytest.mark.django_db
def test_provider_configured_in_the_database_by_command(monkeypatch, capsys):
    from allauth.socialaccount.models import SocialApp
    from django.core.management import CommandError, call_command

    from kjda.audit.models import AuditEvent

    monkeypatch.setenv("KJDA_SSO_SECRET", "top-secret")
    call_command("sso_provider", "set", "dingtalk", "--client-id", "dingxyz", "--name", "钉钉",
                 "--setting", "api_base_url=https://dt.internal")
    app = SocialApp.objects.get(provider="dingtalk")
    assert (app.client_id, app.secret, app.settings) == \
        ("dingxyz", "top-secret", {"api_base_url": "https://dt.internal"})
    assert "钉钉" in Client().get("/login/").content.decode()
    assert AuditEvent.objects.filter(action="sso.configure", object_id="dingtalk").exists()
    call_command("sso_provider", "list")
    assert "top-secret" not in capsys.readouterr().out
    with pytest.raises(CommandError, match="server_url"):
        call_command("sso_provider", "set", "oidc", "--client-id", "x", "--provider-id", "idp")


def test_token_auth_method_is_checked_and_passed_on():
    env = {**ENV, "KJDA_OIDC_TOKEN_AUTH_METHOD": "client_secret_basic",
           "KJDA_OIDC_DIRECTORY": "1"}
    oidc = sso_providers_from_env(env)["oidc"]["APPS"][0]
    assert oidc["settings"]["token_auth_method"] == "client_secret_basic"
    assert oidc["settings"]["directory"] == "1"
    with pytest.raises(ValueError, match="private_key_jwt"):
        sso_providers_from_env({**ENV, "KJDA_OIDC_TOKEN_AUTH_METHOD": "private_key_jwt"})


@pytest.mark.parametrize(("method", "in_body"), [("client_secret_basic", False),
                                                 ("client_secret_post", True)])
def test_token_auth_method_reaches_the_token_endpoint(op, idp_app, method, in_body):
    from kjda.accounts.tests.conftest import sso_login

    idp_app.settings = {**idp_app.settings, "token_auth_method": method}
    idp_app.save()
    _, done = sso_login(Client(), "/accounts/oidc/idp/login/")
    assert done.status_code == 302
    assert ("client_secret" in op.token_requests[-1]) is in_body
