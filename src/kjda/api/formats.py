"""格式监测 (issue 19 item 6): the format registry with how much of the archive is in each format,
and the risk flag. Thin over kjda.lifecycle.formatwatch."""

from __future__ import annotations

from typing import Any

from ninja import Router, Schema

from kjda.accounts.requests import AuthedRequest
from kjda.accounts.roles import Perm
from kjda.lifecycle.formatwatch import selectors, services
from kjda.lifecycle.formatwatch.models import FormatEntry, MigrationRun

from .permissions import require

router = Router(tags=["formats"])


class RiskIn(Schema):
    at_risk: bool = True
    reason: str = ""


def _entry(e: FormatEntry, files: int = 0, size: int = 0) -> dict[str, Any]:
    return {"id": e.pk, "format_id": e.format_id, "name": e.name, "mime": e.mime,
            "version": e.version, "category": e.category, "at_risk": e.at_risk,
            "risk_reason": e.risk_reason,
            "flagged_by": e.flagged_by.get_username() if e.flagged_by else None,
            "flagged_at": e.flagged_at.isoformat() if e.flagged_at else None,
            "target_format": e.target_format or None, "converter": e.has_converter,
            "files": files, "bytes": size}


def _run(r: MigrationRun) -> dict[str, Any]:
    return {"id": r.pk, "format_id": r.entry.format_id, "target_format": r.target_format,
            "trigger": r.trigger, "state": r.state, "started_at": r.started_at.isoformat(),
            "finished_at": r.finished_at.isoformat() if r.finished_at else None,
            "candidates": r.candidates, "migrated": r.migrated, "failed": r.failed,
            "given_up": r.given_up, "reasons": r.reasons}


@router.get("/formats", summary="The format registry: risk flags, targets, files per format")
def format_list(request: AuthedRequest) -> dict:
    require(request, Perm.FORMAT_READ)
    rows = selectors.format_registry(cached=True)
    return {"formats": [_entry(u.entry, u.files, u.bytes) for u in rows if u.entry],
            "unregistered": [{"format_id": u.format_id, "files": u.files, "bytes": u.bytes}
                             for u in rows if u.entry is None],
            "runs": [_run(r) for r in selectors.migration_runs(limit=20)]}


@router.post("/formats/{entry_id}/risk", summary="Flag a format at risk (enqueues the "
             "migration) or clear the flag")
def format_risk(request: AuthedRequest, entry_id: int, body: RiskIn) -> dict:
    require(request, Perm.FORMAT_MANAGE)
    entry = services.format_risk_flag(entry=selectors.format_entry_by_pk(pk=entry_id),
                                      at_risk=body.at_risk, reason=body.reason,
                                      by=request.user, request=request)
    return _entry(entry)
