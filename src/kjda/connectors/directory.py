"""Directory sync: an OA platform's directory keeps KJDA's departments and people current.

For each enabled connector whose platform has a directory (`OAConnector.read_directory`:
DingTalk, WeCom, Feishu) the connector reads the whole directory (any API error aborts the read,
and the sync then changes nothing: a partial directory must never look like a mass departure),
and `kjda.accounts.directory.directory_apply` brings departments and SSO-linked users in line
with it. Audited as `directory.sync`, in the same transaction.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest

from kjda.accounts.directory import directory_apply
from kjda.audit.services import audit_log
from kjda.connectors.models import Connector
from kjda.connectors.registry import connector_class
from kjda.connectors.services import connector_build
from kjda.errors import DomainError

log = logging.getLogger(__name__)


def directory_connectors() -> list[Connector]:
    """The enabled connectors whose platform has a directory to sync."""
    return [c for c in Connector.objects.filter(enabled=True).order_by("created_at")
            if connector_class(c.kind).has_directory()]


def directory_sync(*, connector: Connector, actor: User | None = None,
                   request: HttpRequest | None = None) -> dict[str, int]:
    """Sync one connector's directory; returns counts. Raises (changing nothing) when the
    platform can't be read completely."""
    directory = connector_build(connector).read_directory()
    if not directory.people:  # an empty directory is a permission problem, not an exodus
        raise DomainError("directory_empty", "通讯录为空：请检查应用的通讯录权限",
                          "the directory lists nobody: check the app's contact permissions")
    with transaction.atomic():
        counts = directory_apply(source=connector.kind, directory=directory, actor=actor,
                                 request=request)
        audit_log(action="directory.sync", actor=actor, request=request, object_type="connector",
                  object_id=str(connector.pk), detail={"kind": connector.kind, **counts})
    return counts


def directory_sync_due() -> list[dict]:
    """Sync every enabled directory connector not synced in the last
    KJDA_DIRECTORY_SYNC_MINUTES (periodic loop); a failure is logged and audited, and the
    others still run."""
    results: list[dict] = []
    every = settings.KJDA_DIRECTORY_SYNC_MINUTES * 60
    if every <= 0:
        return results
    for connector in directory_connectors():
        # The shared cache table is the clock: add() succeeds once per interval.
        if not cache.add(f"kjda:directory-sync:{connector.pk}", "1", timeout=every):
            continue
        try:
            results.append({"connector": str(connector.pk), **directory_sync(connector=connector)})
        except Exception as exc:  # one platform failing must not stop the others
            log.warning("directory sync of %s failed: %s", connector.pk, exc)
            audit_log(action="directory.sync", object_type="connector",
                      object_id=str(connector.pk), outcome="failure",
                      detail={"kind": connector.kind, "error": str(exc)[:300]})
            results.append({"connector": str(connector.pk), "error": str(exc)})
    return results
