"""Alarms (issue 19 item 5): the list for the system administrator (and, read-only, the
storage and fixity alarms for the archivists), and the acknowledgement."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Router, Schema

from kjda.accounts.requests import AuthedRequest
from kjda.accounts.roles import Perm
from kjda.errors import NotFound
from kjda.preservation.monitoring import selectors
from kjda.preservation.monitoring.models import Alarm
from kjda.preservation.monitoring.services import alarm_acknowledge

from .permissions import require

router = Router(tags=["alarms"])


class AlarmOut(Schema):
    id: int
    kind: str
    subject: str
    severity: str
    title_zh: str
    title_en: str
    detail_zh: str
    detail_en: str
    data: dict[str, Any]
    first_raised_at: datetime
    last_seen_at: datetime
    times_seen: int
    cleared_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_note: str


class AcknowledgeIn(Schema):
    note: str = ""


def _out(alarm: Alarm) -> dict[str, Any]:
    return {"id": alarm.pk, "kind": alarm.kind, "subject": alarm.subject,
            "severity": alarm.severity, "title_zh": alarm.title_zh, "title_en": alarm.title_en,
            "detail_zh": alarm.detail_zh, "detail_en": alarm.detail_en, "data": alarm.data,
            "first_raised_at": alarm.first_raised_at, "last_seen_at": alarm.last_seen_at,
            "times_seen": alarm.times_seen, "cleared_at": alarm.cleared_at,
            "acknowledged_at": alarm.acknowledged_at,
            "acknowledged_by": alarm.acknowledged_by.get_username()
            if alarm.acknowledged_by else None, "ack_note": alarm.ack_note}


@router.get("/alarms", response=list[AlarmOut],
            summary="Alarms, open ones first (state: open | acknowledged | all)")
def alarm_list(request: AuthedRequest, state: Literal["open", "acknowledged", "all"] = "open",
               limit: int = 200):
    require(request, Perm.STORAGE_READ)
    return [_out(a) for a in selectors.alarm_list(actor=request.user, state=state)
            [:max(1, min(limit, 1000))]]


@router.post("/alarms/{alarm_id}/acknowledge", response=AlarmOut,
             summary="Acknowledge an alarm (system administrator; token scope admin)")
def alarm_ack(request: AuthedRequest, alarm_id: int, body: AcknowledgeIn):
    require(request, Perm.ALARM_ACKNOWLEDGE)
    if selectors.alarm_get(actor=request.user, alarm_id=alarm_id) is None:
        raise NotFound("alarm_not_found", "告警不存在", "no such alarm")
    return _out(alarm_acknowledge(alarm_id=alarm_id, actor=request.user, note=body.note,
                                  request=request))
