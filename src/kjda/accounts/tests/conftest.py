"""A running OA simulator (DingTalk, WeCom, Feishu) with a small directory, and the SSO
providers configured (as SocialApp rows) against its login endpoints; an OpenID provider on
loopback (`op`) with an OIDC app (`idp_app`) for it."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from django.test import Client

from kjda_oasim.core import OASimulator
from kjda_oasim.dingtalk import DingTalkSim
from kjda_oasim.feishu import FeishuSim
from kjda_oasim.testing.oidc_op import OIDCProvider
from kjda_oasim.wecom.sim import WeComSim

PEOPLE = [("zhangsan", "张三", "销售部", "13800000001", "zhangsan@corp.example"),
          ("lisi", "李四", "采购部", "13800000002", "lisi@corp.example")]


@pytest.fixture
def oa_sim():
    sim = OASimulator([DingTalkSim(), WeComSim(), FeishuSim()])
    sim.start()
    for vendor in sim.vendors.values():
        for uid, name, dept, mobile, email in PEOPLE:
            vendor.directory_add(uid, name=name, department=dept, mobile=mobile, email=email)
    yield sim
    sim.stop()


@pytest.fixture
def sso_apps(db, oa_sim):
    from allauth.socialaccount.models import SocialApp

    apps = {}
    for kind in ("dingtalk", "wecom", "feishu"):
        conf = oa_sim.vendors[kind].sso_settings()
        apps[kind] = SocialApp.objects.create(provider=kind, name=kind, client_id=conf["client_id"],
                                              secret=conf["secret"], settings=conf["settings"])
    return apps


def oa_login(client: Client, provider: str, sim_user: str | None):
    """KJDA → the simulated vendor's authorize page (a real HTTP request, choosing the
    person) → back to KJDA's callback. Returns (authorize URL, callback response)."""
    start = client.post(f"/accounts/{provider}/login/")
    assert start.status_code == 302, start.content[:500]
    authorize = start["Location"]
    url = authorize.split("#")[0]  # the #wechat_redirect fragment stays in the browser
    if sim_user:
        url += "&" + httpx.QueryParams({"sim_user": sim_user}).__str__()
    answer = httpx.get(url, follow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text[:500]
    back = urlsplit(answer.headers["location"])
    return authorize, client.get(back.path + "?" + back.query)


@pytest.fixture
def op():
    provider = OIDCProvider(client_id="kjda-test")
    provider.start()
    provider.add_user("u-1001", name="王芳", preferred_username="wangfang",
                      email="wangfang@example.com", department="财务部")
    yield provider
    provider.stop()


@pytest.fixture
def idp_app(db, op):
    from allauth.socialaccount.models import SocialApp

    return SocialApp.objects.create(provider="oidc", provider_id="idp", name="统一认证",
                                    client_id=op.client_id, secret=op.client_secret,
                                    settings={"server_url": op.issuer,
                                              "department_claim": "department"})


def sso_login(client: Client, login_url: str, *, follow_op=None):
    """The whole redirect dance: KJDA → provider (a real HTTP request) → KJDA callback."""
    start = client.post(login_url)
    assert start.status_code == 302, start.content[:500]
    authorize = start["Location"]
    answer = httpx.get(authorize, follow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text[:500]
    back = urlsplit(answer.headers["location"])
    assert back.netloc == "testserver"
    return authorize, client.get(back.path + "?" + back.query)


def logged_in_user(client: Client):
    from django.contrib.auth import get_user_model

    uid = client.session.get("_auth_user_id")
    return get_user_model().objects.get(pk=uid) if uid else None
