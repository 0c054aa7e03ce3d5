"""DingTalk payloads into our types: callback events, form components (表单), the approval record
(审批记录) and the instance status. Pure functions over the decoded JSON, no API calls."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from kjda.connectors.base import (
    ApprovalEvent,
    AttachmentRef,
    FormField,
    TrailEntry,
    epoch_seconds,
)

CST = timezone(timedelta(hours=8))  # legacy "2022-06-19 23:21:17" times are Beijing time
NO_EVENT_TYPES = frozenset({"check_url", "check_create_suite_url", "check_update_suite_url",
                            "check_suite_license_code", "suite_ticket", "tmp_auth_code"})
NUMERIC_TYPES = frozenset({"MoneyField", "NumberField", "CalculateField"})
JSON_LIST_TYPES = frozenset({"DDMultiSelectField", "DDDateRangeField", "DDPhotoField"})
TRAIL_ACTIONS = {
    "START_PROCESS_INSTANCE": "发起", "EXECUTE_TASK_NORMAL": "审批", "EXECUTE_TASK_AGENT": "代理审批",
    "EXECUTE_TASK_AUTO": "自动审批", "PROCESS_CC": "抄送", "ADD_REMARK": "评论",
    "REDIRECT_TASK": "转交", "REDIRECT_PROCESS": "退回", "APPEND_TASK_BEFORE": "前加签",
    "APPEND_TASK_AFTER": "后加签", "TERMINATE_PROCESS_INSTANCE": "撤销",
    "FINISH_PROCESS_INSTANCE": "结束",
}


def _json_list(value: Any) -> list:
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            return []
        return parsed if isinstance(parsed, list) else []
    return []


def _decimal(value: Any) -> Decimal | None:
    text = str(value if value is not None else "").replace(",", "").replace("¥", "").strip()
    if not text or text == "null":
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def parse_time(value: Any) -> datetime | None:
    """ms epoch (int or digits), ISO-8601 ("2022-08-31T11:52Z") or legacy Beijing time."""
    if value in (None, "", "null"):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        number = int(value)
        return datetime.fromtimestamp(epoch_seconds(number), UTC)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=CST)


def _event_id(etype: str, payload: dict[str, Any], plain: bytes) -> str:
    pid = str(payload.get("processInstanceId") or "")
    when = payload.get("finishTime") or payload.get("createTime") or ""
    parts = [pid, str(payload.get("type") or ""), str(payload.get("result") or "-"), str(when)]
    if etype == "bpms_task_change":
        parts = ["task", pid, str(payload.get("taskId") or payload.get("staffId") or "")] + parts[1:]
    elif etype != "bpms_instance_change" or not pid:
        parts = [etype, hashlib.sha256(plain).hexdigest()[:32]]
    event_id = ":".join(parts)
    return event_id if len(event_id) <= 200 else hashlib.sha256(event_id.encode()).hexdigest()


def parse_event(payload: dict[str, Any], plain: bytes) -> ApprovalEvent | None:
    """The approval event a decrypted callback carries (None for handshakes and ISV plumbing)."""
    etype = str(payload.get("EventType") or payload.get("eventType") or "")
    if etype in NO_EVENT_TYPES:
        return None
    typ, result = str(payload.get("type") or ""), str(payload.get("result") or "")
    trigger = etype == "bpms_instance_change" and typ == "finish" and result == "agree"
    # refused or terminated: not archived, but an approval KJDA started must learn its end
    ended = etype == "bpms_instance_change" and (typ == "terminate" or (
        typ == "finish" and result == "refuse"))
    return ApprovalEvent(
        event_id=_event_id(etype, payload, plain),
        instance_id=str(payload.get("processInstanceId") or ""),
        action="approved" if trigger else "finished" if ended else "ignored",
        process_code=str(payload.get("processCode") or ""),
        event_type=etype,
        occurred_at=parse_time(payload.get("finishTime") or payload.get("createTime")
                               or payload.get("EventTime")),
        reason="" if trigger else f"not an archive trigger: {etype} type={typ} result={result}",
        payload=payload)


def _file_refs(value: Any, *, field_id: str, field_name: str, **extra: Any) -> list[AttachmentRef]:
    refs = []
    for item in _json_list(value):
        if isinstance(item, dict) and item.get("fileId"):
            size = item.get("fileSize")
            refs.append(AttachmentRef(
                file_id=str(item["fileId"]), filename=str(item.get("fileName") or item["fileId"]),
                size=int(str(size)) if str(size or "").isdigit() else None, field_id=field_id,
                field_name=field_name,
                extra={"spaceId": str(item.get("spaceId") or ""),
                       "fileType": str(item.get("fileType") or ""), **extra}))
    return refs


def _photo_refs(value: Any, *, field_id: str, field_name: str) -> list[AttachmentRef]:
    refs = []
    for n, url in enumerate(_json_list(value), 1):
        if isinstance(url, str) and url.startswith("http"):
            name = url.split("?")[0].rsplit("/", 1)[-1] or f"{field_name}-{n}.jpg"
            refs.append(AttachmentRef(file_id=hashlib.sha1(url.encode()).hexdigest()[:16],  # noqa: S324 - an id, not security
                                      filename=name, field_id=field_id, field_name=field_name,
                                      extra={"url": url}))
    return refs


def _normalise(ctype: str, value: Any, *, field_id: str, name: str
               ) -> tuple[Any, list[AttachmentRef]]:
    if ctype == "DDAttachment":
        refs = _file_refs(value, field_id=field_id, field_name=name)
        return [r.filename for r in refs], refs
    if ctype == "TableField":
        return _parse_table(value, table_name=name)
    if ctype == "DDPhotoField":
        return _json_list(value), _photo_refs(value, field_id=field_id, field_name=name)
    if ctype in NUMERIC_TYPES:
        number = _decimal(value)
        return (number if number is not None else (value or "")), []
    if ctype in JSON_LIST_TYPES:
        return _json_list(value), []
    return ("" if value in (None, "null") else value), []


def _parse_table(value: Any, *, table_name: str) -> tuple[list[dict[str, Any]], list[AttachmentRef]]:
    """TableField rows → [{column label: normalised value}], plus the files in its cells."""
    rows: list[dict[str, Any]] = []
    refs: list[AttachmentRef] = []
    for n, row in enumerate(_json_list(value), 1):
        cells = row.get("rowValue", []) if isinstance(row, dict) else []
        out: dict[str, Any] = {}
        for cell in cells if isinstance(cells, list) else []:
            label = str(cell.get("label") or cell.get("key") or "")
            ctype = str(cell.get("componentType") or "")
            if not ctype and _json_list(cell.get("value")) and "fileId" in str(cell.get("value")):
                ctype = "DDAttachment"
            norm, cell_refs = _normalise(ctype, cell.get("value"),
                                         field_id=str(cell.get("key") or ""), name=label)
            out[label] = norm
            refs += [AttachmentRef(r.file_id, r.filename, r.size, r.field_id, r.field_name,
                                   {**r.extra, "table": table_name, "row": n}) for r in cell_refs]
        rows.append(out)
    return rows, refs


def parse_form(values: list[dict[str, Any]]) -> tuple[list[FormField], list[AttachmentRef]]:
    fields, refs = [], []
    for comp in values or []:
        ctype = str(comp.get("componentType") or comp.get("component_type") or "")
        fid, name = str(comp.get("id") or ""), str(comp.get("name") or "")
        value, comp_refs = _normalise(ctype, comp.get("value"), field_id=fid, name=name)
        fields.append(FormField(id=fid, name=name, value=value, kind=ctype, raw=comp))
        refs += comp_refs
    return fields, refs


def parse_trail(records: list[dict[str, Any]], names: dict[str, str]
                ) -> tuple[list[TrailEntry], list[AttachmentRef]]:
    trail, refs = [], []
    for rec in records or []:
        user = str(rec.get("userId") or "")
        kind = str(rec.get("type") or "")
        trail.append(TrailEntry(
            actor_id=user, actor_name=names.get(user, ""), action=TRAIL_ACTIONS.get(kind, kind),
            result=str(rec.get("result") or "NONE").lower(), time=parse_time(rec.get("date")),
            remark=str(rec.get("remark") or ""), node=str(rec.get("showName") or "")))
        refs += _file_refs(rec.get("attachments"), field_id="", field_name="", comment=True,
                           actor_id=user)
    return trail, refs


def instance_status(raw: dict[str, Any]) -> str:
    status, result = str(raw.get("status") or ""), str(raw.get("result") or "").lower()
    if status == "COMPLETED":
        if str(raw.get("bizAction") or "") == "REVOKE" and result == "agree":
            return "revoked"
        return "approved" if result == "agree" else "rejected"
    if status in ("TERMINATED", "CANCELED"):
        return "revoked"
    return "running"
