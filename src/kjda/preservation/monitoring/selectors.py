"""Reads of the alarms, scoped by the acting user (the system administrator sees every alarm,
an archivist the storage and fixity ones), and the preservation status page's figures."""

from __future__ import annotations

import shutil
from typing import Any

from django.conf import settings
from django.db.models import F, QuerySet

from kjda.accounts.roles import Role
from kjda.accounts.selectors import Actor, actor_roles
from kjda.lifecycle.preservation.selectors import fixity_open_failures, fixity_runs
from kjda.preservation.backup.selectors import backup_status
from kjda.storage.services import fixity_counts, replica_lag, store_probe

from .models import STORAGE_KINDS, Alarm


def alarm_list(*, actor: Actor, state: str = "all") -> QuerySet[Alarm]:
    """The alarms `actor` may see, open ones first, then newest seen first. `state`: "open",
    "acknowledged" or "all"."""
    roles = actor_roles(actor)
    qs = Alarm.objects.select_related("acknowledged_by")
    if Role.SYSADMIN not in roles:
        qs = qs.filter(kind__in=STORAGE_KINDS) if Role.ARCHIVIST in roles else qs.none()
    if state == "open":
        qs = qs.filter(acknowledged_at__isnull=True)
    elif state == "acknowledged":
        qs = qs.filter(acknowledged_at__isnull=False)
    return qs.order_by(F("acknowledged_at").desc(nulls_first=True), "-last_seen_at", "-pk")


def alarm_get(*, actor: Actor, alarm_id: int) -> Alarm | None:
    return alarm_list(actor=actor).filter(pk=alarm_id).first()


def alarms_visible(actor: Actor) -> bool:
    return bool(actor_roles(actor) & {Role.SYSADMIN, Role.ARCHIVIST})


def _rate(run: Any) -> float | None:
    if not run.finished_at:
        return None
    seconds = (run.finished_at - run.started_at).total_seconds()
    return run.bytes_checked / seconds if seconds > 0 else None


def preservation_status(*, runs: int = 10) -> dict[str, Any]:
    """System-wide facts (no records are read): the latest fixity runs with their read rates,
    damage left, the replica's lag, the backup status, and each store's reachability and free
    space."""
    stores = []
    for name, url in (("primary", settings.STORAGE_URL), ("replica", settings.KJDA_REPLICA_URL)):
        if url:
            stores.append({"name": name, "probe": store_probe(url=url)})
    data = shutil.disk_usage(settings.DATA_DIR)
    return {
        "runs": [{"run": r, "counts": fixity_counts(r), "rate": _rate(r)}
                 for r in fixity_runs(limit=runs)],
        "open_failures": len(fixity_open_failures()),
        "replica": replica_lag(),
        "backup": backup_status(),
        "stores": stores,
        "data_dir": {"path": str(settings.DATA_DIR), "free_bytes": data.free,
                     "total_bytes": data.total},
    }


def alarms_open() -> list[Alarm]:
    """Every unacknowledged alarm, newest seen first: for the operator's own command line."""
    return list(Alarm.objects.filter(acknowledged_at__isnull=True).order_by("-last_seen_at"))
