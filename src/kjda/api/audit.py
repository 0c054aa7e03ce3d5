"""The audit log for the security auditor (安全审计员): filter and export; never edit."""

from __future__ import annotations

import io
from datetime import datetime

from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema

from kjda.accounts.roles import Perm
from kjda.audit.selectors import audit_event_list
from kjda.audit.services import audit_log
from kjda.export_cells import SafeCsvWriter

from .permissions import require

router = Router(tags=["audit"])

_COLUMNS = ["seq", "occurred_at", "actor_name", "action", "object_type", "object_id", "outcome",
            "ip", "user_agent", "detail", "hash"]


class AuditQuery(Schema):
    user: str | None = None  # username
    action: str | None = None
    outcome: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0
    format: str = "json"  # json | csv


def _row(e) -> dict:
    return {"seq": e.seq, "occurred_at": e.occurred_at.isoformat(), "actor_name": e.actor_name,
            "action": e.action, "object_type": e.object_type, "object_id": e.object_id,
            "outcome": e.outcome, "ip": e.ip or "", "user_agent": e.user_agent,
            "detail": e.detail, "hash": e.hash}


@router.get("/audit", summary="Filter (and export as CSV) the audit log")
def audit_list(request: HttpRequest, query: Query[AuditQuery]):
    """Newest first. `format=csv` exports every matching event (UTF-8 with BOM, opens in
    Excel). Reading the log is itself logged."""
    require(request, Perm.AUDIT_READ)
    user = None
    if query.user:
        user = get_user_model().objects.filter(username=query.user).first()
        if user is None:
            return {"items": [], "count": 0}
    qs = audit_event_list(actor_user=request.user, user=user, action=query.action,
                          outcome=query.outcome, object_type=query.object_type,
                          object_id=query.object_id, since=query.since, until=query.until)
    filters = query.dict(exclude={"limit", "offset", "format"}, exclude_none=True)
    if query.format == "csv":
        audit_log(action="audit.export", request=request, object_type="audit",
                  detail={"filters": {k: str(v) for k, v in filters.items()}})
        out = io.StringIO()
        out.write("\ufeff")
        # Usernames of failed logins, user agents, object ids… are whatever a caller sent:
        # the writer neutralises cells that a spreadsheet would run as formulas.
        writer = SafeCsvWriter(out)
        writer.writerow(_COLUMNS)
        for e in qs.iterator(chunk_size=2000):
            row = _row(e)
            writer.writerow(row[c] for c in _COLUMNS)
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="kjda-audit.csv"'
        return response
    limit = max(1, min(query.limit, 1000))
    offset = max(0, query.offset)
    items = [_row(e) for e in qs[offset:offset + limit]]
    audit_log(action="audit.view", request=request, object_type="audit",
              detail={"filters": {k: str(v) for k, v in filters.items()}})
    return {"items": items, "count": qs.count()}
