"""The blob store's health for the system administrator and the archivists (issue 19): the
fixity audit's last reports and the replica's lag."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from kjda.accounts.roles import Perm
from kjda.lifecycle.preservation.selectors import fixity_open_failures, fixity_runs
from kjda.storage.services import fixity_counts, replica_lag

from .permissions import require

router = Router(tags=["storage"])


@router.get("/storage/status", summary="Fixity audit reports, open damage and replica lag")
def storage_status(request: HttpRequest, runs: int = 10) -> dict:
    require(request, Perm.STORAGE_READ)
    return {
        "runs": [{"id": r.pk, "started_at": r.started_at.isoformat(),
                  "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                  "failed": r.failed, **fixity_counts(r)}
                 for r in fixity_runs(limit=max(1, min(runs, 100)))],
        "open_failures": [{"sha256": f.blob_id, "outcome": f.outcome,
                           "verified_at": f.verified_at.isoformat()}
                          for f in fixity_open_failures(limit=100)],
        "replica": replica_lag(),
    }
