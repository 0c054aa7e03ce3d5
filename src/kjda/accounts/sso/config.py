"""SSO providers configured from the environment (read by settings.py; no Django imports).

Each provider is on when its client id and secret are set. Providers can also be configured
as allauth `SocialApp` rows in the database (same `settings` keys) — see README.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from kjda.platforms import platforms


def _app(env: Mapping[str, str], prefix: str, *, id_var: str, key_var: str, name: str,
         settings: dict[str, str], provider_id: str = "") -> dict[str, Any] | None:
    cid, key = env.get(prefix + id_var, ""), env.get(prefix + key_var, "")
    if not cid or not key:
        return None
    app: dict[str, Any] = {"client_id": cid, "secret": key,
                           "name": env.get(prefix + "NAME", name),
                           "settings": {k: env[prefix + v] for k, v in settings.items()
                                        if env.get(prefix + v)}}
    if provider_id:
        app["provider_id"] = provider_id
    return app


# How the client authenticates at the IdP's token endpoint (allauth sends the secret either in
# an HTTP Basic header or in the form body; it has no private_key_jwt). Unset: allauth picks from
# the IdP's `token_endpoint_auth_methods_supported` (the body when both are offered).
TOKEN_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


def token_auth_method_check(value: str) -> None:
    """A misspelt or unsupported method would silently send the secret in the form body."""
    if value and value not in TOKEN_AUTH_METHODS:
        raise ValueError(f"KJDA_OIDC_TOKEN_AUTH_METHOD / token_auth_method {value!r}: use one "
                         f"of {', '.join(TOKEN_AUTH_METHODS)} (private_key_jwt is not supported)")


def sso_providers_from_env(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """`SOCIALACCOUNT_PROVIDERS` entries for the providers whose credentials are set."""
    providers: dict[str, dict[str, Any]] = {}
    token_auth_method_check(env.get("KJDA_OIDC_TOKEN_AUTH_METHOD", ""))
    oidc = _app(env, "KJDA_OIDC_", id_var="CLIENT_ID", key_var="CLIENT_SECRET",
                name="统一身份认证", provider_id=env.get("KJDA_OIDC_ID", "idp"),
                settings={"server_url": "SERVER_URL", "department_claim": "DEPARTMENT_CLAIM",
                          "token_auth_method": "TOKEN_AUTH_METHOD",
                          "directory": "DIRECTORY"})
    if oidc and oidc["settings"].get("server_url"):
        if scope := env.get("KJDA_OIDC_SCOPE"):
            oidc["settings"]["scope"] = scope.split()
        providers["oidc"] = {"APPS": [oidc]}
    for platform in platforms().values():  # DingTalk, WeCom, Feishu, … as registered
        if platform.sso_env and platform.sso_provider:
            conf = platform.sso_env
            app = _app(env, conf.prefix, id_var=conf.id_var, key_var=conf.key_var,
                       name=platform.label_zh, settings=conf.settings)
            if app:
                providers[platform.sso_provider] = {"APPS": [app]}
    if extra := env.get("KJDA_SSO_PROVIDERS_JSON"):  # several OIDC providers, or anything else
        for key, value in json.loads(extra).items():
            providers.setdefault(key, {}).setdefault("APPS", []).extend(value.get("APPS", []))
    return providers
