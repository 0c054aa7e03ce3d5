"""Connector kinds → their classes, from the platforms registered through entry points
(kjda.platforms). Adding a platform: one package and one entry point, nothing here."""

from __future__ import annotations

from kjda.connectors.base import OAConnector
from kjda.errors import DomainError
from kjda.platforms import platforms


def connector_class(kind: str) -> type[OAConnector]:
    platform = platforms().get(kind)
    if platform is None:
        raise DomainError("connector_kind_unknown", f"未知的连接器类型：{kind}",
                          f"unknown connector kind: {kind}")
    return platform.connector_class()
