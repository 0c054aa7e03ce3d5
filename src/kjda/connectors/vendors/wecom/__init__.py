"""WeCom (企业微信): connector, API client, callback parsing and SSO provider in one package,
registered through the `kjda.oa_platforms` entry point (pyproject.toml). Its simulator is
kjda_oasim.wecom (the kjda-oasim distribution). No Django imports here: settings.py reads it."""

from kjda.platforms import Platform, SsoEnv

# WeCom's public login hosts (its SSO views default to them)
LOGIN = "https://login.work.weixin.qq.com"
OPEN = "https://open.weixin.qq.com"

PLATFORM = Platform(
    kind="wecom", label_zh="企业微信", label_en="WeCom", order=20,
    connector="kjda.connectors.vendors.wecom.connector:WeComConnector",
    sso_app="kjda.connectors.vendors.wecom.sso", sso_provider="wecom",
    sso_env=SsoEnv("KJDA_WECOM_", "CORP_ID", "SECRET",
                   {"agent_id": "AGENT_ID", "mode": "MODE", "api_base_url": "API_BASE_URL",
                    "login_base_url": "LOGIN_BASE_URL", "open_base_url": "OPEN_BASE_URL"}),
    sso_login_origins=(LOGIN, OPEN))
