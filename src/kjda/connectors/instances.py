"""An approval instance as JSON and back: stored in the inbox row of events that carry the
instance (Weaver's Action push, the generic webhook) and filed as the record's form data.

Below the services and the processing, which both use it."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from kjda.connectors.base import ApprovalInstance, AttachmentRef, FormField, TrailEntry


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def instance_to_json(instance: ApprovalInstance) -> dict:
    return _jsonable(dataclasses.asdict(instance))


def _dt(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def instance_from_json(data: dict) -> ApprovalInstance:
    return ApprovalInstance(
        instance_id=data["instance_id"], process_code=data.get("process_code", ""),
        title=data.get("title", ""), status=data.get("status", ""),
        result=data.get("result", ""), originator_id=data.get("originator_id", ""),
        originator_name=data.get("originator_name", ""), department=data.get("department", ""),
        created_at=_dt(data.get("created_at")), finished_at=_dt(data.get("finished_at")),
        fields=[FormField(**f) for f in data.get("fields", [])],
        attachments=[AttachmentRef(**a) for a in data.get("attachments", [])],
        trail=[TrailEntry(**{**t, "time": _dt(t.get("time"))}) for t in data.get("trail", [])],
        raw=data.get("raw", {}))
