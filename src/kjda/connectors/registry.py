"""Connector kinds → their classes. Adding a platform: one module + one line here."""

from __future__ import annotations

from importlib import import_module

from kjda.connectors.base import OAConnector
from kjda.errors import DomainError

KINDS: dict[str, str] = {
    "dingtalk": "kjda.connectors.dingtalk:DingTalkConnector",
    "wecom": "kjda.connectors.vendors.wecom.connector:WeComConnector",
    "feishu": "kjda.connectors.feishu:FeishuConnector",
    "weaver": "kjda.connectors.weaver:WeaverConnector",
    "webhook": "kjda.connectors.webhook:WebhookConnector",
}



def _load(path: str):
    module, _, name = path.partition(":")
    return getattr(import_module(module), name)


def connector_class(kind: str) -> type[OAConnector]:
    if kind not in KINDS:
        raise DomainError("connector_kind_unknown", f"未知的连接器类型：{kind}",
                          f"unknown connector kind: {kind}")
    return _load(KINDS[kind])
