"""The OA platforms KJDA knows, found through the `kjda.oa_platforms` entry point group.

A platform (DingTalk, WeCom, …) is one package that exports a `Platform` descriptor and names it
in its distribution's entry points; this module imports no Django and no vendor code, so
settings.py can derive INSTALLED_APPS and the SSO configuration from it. The connector class
and the SSO app are dotted names, imported only when used. See docs/adding-a-platform.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import import_module
from importlib.metadata import entry_points

GROUP = "kjda.oa_platforms"


@dataclass(frozen=True)
class SsoEnv:
    """How `KJDA_<PREFIX>_*` environment variables configure the platform's SSO app."""

    prefix: str  # "KJDA_WECOM_"
    id_var: str  # the variable holding the client id (after the prefix): "CORP_ID"
    key_var: str  # the secret's: "SECRET"
    settings: dict[str, str] = field(default_factory=dict)  # SocialApp setting → variable


@dataclass(frozen=True)
class Platform:
    kind: str  # Connector.kind, the entry point's name, the simulator's name
    label_zh: str
    label_en: str
    connector: str  # "package.module:ConnectorClass", an OAConnector
    order: int = 100  # position in lists and forms
    sso_app: str = ""  # its allauth provider's Django app (added to INSTALLED_APPS)
    sso_provider: str = ""  # the allauth provider id
    sso_env: SsoEnv | None = None
    # where its SSO sends the browser when the app's settings name no other host (the login
    # page's Content-Security-Policy form-action admits them)
    sso_login_origins: tuple[str, ...] = ()

    def connector_class(self):
        module, _, name = self.connector.partition(":")
        return getattr(import_module(module), name)


class PlatformsMissing(RuntimeError):
    pass


@cache
def platforms() -> dict[str, Platform]:
    """Every registered platform by kind, in display order."""
    found: dict[str, Platform] = {}
    for ep in entry_points(group=GROUP):
        platform = ep.load()
        if not isinstance(platform, Platform) or platform.kind != ep.name:
            raise PlatformsMissing(f"entry point {ep.name} = {ep.value} in {GROUP} is not a "
                                   f"Platform of kind {ep.name!r}")
        found[platform.kind] = platform
    if not found:  # a source tree used without installing it has no entry points at all
        raise PlatformsMissing(f"没有已注册的 OA 平台 / no OA platforms registered in {GROUP}: "
                               "install KJDA (pip install -e .) so its entry points exist")
    return dict(sorted(found.items(), key=lambda kv: (kv[1].order, kv[0])))


def kind_choices() -> list[tuple[str, str]]:
    """Connector.kind's choices: a callable, so a new platform needs no migration."""
    return [(p.kind, p.label_zh) for p in platforms().values()]


def sso_apps() -> list[str]:
    return [p.sso_app for p in platforms().values() if p.sso_app]


def sso_provider_ids() -> list[str]:
    return [p.sso_provider for p in platforms().values() if p.sso_provider]


# The platforms not yet moved into a package of their own (connectors/vendors/<kind>/): their
# descriptors live here until they are. WeCom's is kjda.connectors.vendors.wecom.PLATFORM.
DINGTALK = Platform(
    kind="dingtalk", label_zh="钉钉", label_en="DingTalk", order=10,
    connector="kjda.connectors.dingtalk:DingTalkConnector",
    sso_app="kjda.accounts.sso.dingtalk", sso_provider="dingtalk",
    sso_env=SsoEnv("KJDA_DINGTALK_", "CLIENT_ID", "CLIENT_SECRET",
                   {"login_base_url": "LOGIN_BASE_URL", "api_base_url": "API_BASE_URL",
                    "oapi_base_url": "OAPI_BASE_URL", "corp_id": "CORP_ID",
                    "jsapi_url": "JSAPI_URL"}),
    sso_login_origins=("https://login.dingtalk.com",))  # accounts/sso/dingtalk/views.LOGIN
FEISHU = Platform(
    kind="feishu", label_zh="飞书", label_en="Feishu", order=30,
    connector="kjda.connectors.feishu:FeishuConnector",
    sso_app="kjda.accounts.sso.feishu", sso_provider="feishu",
    sso_env=SsoEnv("KJDA_FEISHU_", "APP_ID", "APP_SECRET",
                   {"accounts_base_url": "ACCOUNTS_BASE_URL", "api_base_url": "API_BASE_URL",
                    "jsapi_url": "JSAPI_URL"}),
    sso_login_origins=("https://accounts.feishu.cn",))  # accounts/sso/feishu/views.ACCOUNTS
WEAVER = Platform(kind="weaver", label_zh="泛微 e-cology", label_en="Weaver e-cology", order=40,
                  connector="kjda.connectors.weaver:WeaverConnector")
WEBHOOK = Platform(kind="webhook", label_zh="通用签名 Webhook", label_en="Signed webhook",
                   order=50, connector="kjda.connectors.webhook:WebhookConnector")
