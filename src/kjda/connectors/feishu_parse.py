"""Feishu (飞书) payloads into our types: the approval event of either envelope (schema 2.0 and
the v1 event_callback), form widgets (fieldList rows included) with their files, and the
timeline and comments as the approval record. Pure functions, no API calls."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from kjda.connectors.base import (
    ApprovalEvent,
    AttachmentRef,
    CallbackRejected,
    ConnectorError,
    EventAction,
    FormField,
    TrailEntry,
    epoch_seconds,
)

V1_APPROVAL, V2_APPROVAL = "approval_instance", "approval.instance.status_changed_v4"
TRIGGERS = {V1_APPROVAL, V2_APPROVAL}
ENDED = {"REJECTED", "CANCELED", "DELETED"}  # finished without approval  # either key in either envelope
NUMERIC = {"number", "amount", "formula"}
FILE_KINDS = {"attachmentV2", "attachment", "image", "imageV2"}
RESULTS = {"APPROVED": "agree", "REJECTED": "refuse", "REVERTED": "revoked",
           "CANCELED": "terminated", "DELETED": "deleted"}
TIMELINE = {  # timeline type → (action, result)
    "START": ("发起", "none"), "PASS": ("审批", "agree"), "REJECT": ("审批", "refuse"),
    "AUTO_PASS": ("自动通过", "agree"), "AUTO_REJECT": ("自动拒绝", "refuse"),
    "REMOVE_REPEAT": ("去重通过", "agree"), "TRANSFER": ("转交", "redirect"),
    "ADD_APPROVER_BEFORE": ("加签", "none"), "ADD_APPROVER": ("加签", "none"),
    "ADD_APPROVER_AFTER": ("加签", "none"), "DELETE_APPROVER": ("减签", "none"),
    "ROLLBACK_SELECTED": ("退回", "rollback"), "ROLLBACK": ("退回", "rollback"),
    "CANCEL": ("撤回", "cancel"), "DELETE": ("删除", "none"), "CC": ("抄送", "none"),
}


def rejected(code: str, zh: str, en: str, status: int = 400) -> CallbackRejected:
    return CallbackRejected(code, zh, en, status=status)


def from_ms(value: Any) -> datetime | None:
    stamp = to_int(value)
    if stamp <= 0:
        return None
    return datetime.fromtimestamp(epoch_seconds(stamp), tz=UTC)


def to_int(value: Any) -> int:
    try:
        return int(Decimal(str(value)))
    except (InvalidOperation, ValueError, TypeError):
        return 0


def _decimal(value: Any) -> Any:
    if value in (None, "") or isinstance(value, bool):
        return value
    try:
        return Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        return value


def _date(value: Any) -> Any:
    if not isinstance(value, str) or not value:
        return value
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return parsed.date().isoformat() if parsed.time() == datetime.min.time() else value


def _text(comment: Any) -> str:
    """Timeline and comment text: plain, or a JSON string {"text": …} in some tenants."""
    if isinstance(comment, str) and comment.startswith("{"):
        try:
            return str(json.loads(comment).get("text", comment))
        except (ValueError, AttributeError):
            return comment
    return str(comment or "")


def _file_names(ext: Any, count: int) -> list[str]:
    names: list[str] = []
    if isinstance(ext, list):
        names = [str(x) for x in ext]
    elif isinstance(ext, str) and ext:
        parts = ext.split(",")
        names = [ext] if count <= 1 else (parts if len(parts) == count else [])
    return [names[i] if i < len(names) and names[i] else f"附件{i + 1}" for i in range(count)]


def form_items(value: Any) -> list[dict]:
    if isinstance(value, str):
        try:
            value = json.loads(value or "[]", parse_float=Decimal)
        except ValueError as exc:
            raise ConnectorError("platform_bad_response", "飞书审批表单不是合法的 JSON",
                                 "Feishu approval form is not valid JSON") from exc
    return [w for w in value or [] if isinstance(w, dict)]


def _native(value: Any) -> Any:
    """The vendor's widget as plain JSON types (the form is parsed with exact Decimals)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _native(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_native(v) for v in value]
    return value


def _cell(f: FormField) -> dict[str, Any]:
    return {"id": f.id, "name": f.name, "kind": f.kind, "type": f.kind, "value": f.value}


def _without_token(payload: dict[str, Any]) -> dict[str, Any]:
    """The inbox keeps the event, never the Verification Token."""
    clean = {k: v for k, v in payload.items() if k != "token"}
    if isinstance(clean.get("header"), dict):
        clean["header"] = {k: v for k, v in clean["header"].items() if k != "token"}
    return clean


def parse_event(payload: dict[str, Any]) -> ApprovalEvent:
    """The approval event a (decrypted, verified) callback carries, in either envelope."""
    if payload.get("schema") == "2.0":
        header = payload.get("header") or {}
        event, event_type = payload.get("event"), str(header.get("event_type") or "")
        event_id, trigger = header.get("event_id"), event_type in TRIGGERS
        fallback_time = header.get("create_time")
    elif payload.get("type") == "event_callback":
        event = payload.get("event")
        event_type = str((event or {}).get("type") or "") if isinstance(event, dict) else ""
        event_id, trigger = payload.get("uuid"), event_type in TRIGGERS
        fallback_time = None
    else:
        raise rejected("malformed", "无法识别的飞书事件格式", "unrecognised Feishu event envelope")
    if not isinstance(event, dict):
        raise rejected("malformed", "飞书事件缺少 event", "Feishu event without an event body")
    instance_id = str(event.get("instance_code") or "")
    status = str(event.get("status") or "").upper()
    if trigger and not instance_id:
        raise rejected("malformed", "审批事件缺少 instance_code", "approval event without "
                        "instance_code")
    operate_time = event.get("operate_time") or event.get("instance_operate_time")
    action: EventAction = "ignored"
    reason = ""
    if trigger and status == "APPROVED":
        action = "approved"
    elif trigger and status == "REVERTED":
        action, reason = "revoked", "飞书审批通过后被撤销（REVERTED）"
    elif trigger and status in ENDED:
        action = "finished"  # not archived; an approval KJDA started learns its end
    event_id = str(event_id or f"{event_type}:{instance_id}:{status}:{operate_time or ''}")
    return ApprovalEvent(
        event_id=event_id, instance_id=instance_id, action=action,
        process_code=str(event.get("approval_code") or ""), event_type=event_type,
        occurred_at=from_ms(operate_time) or from_ms(fallback_time), reason=reason,
        payload=_without_token(payload))


def parse_widget(widget: dict, attachments: list[AttachmentRef], where: str) -> FormField:
    """One form widget; files (also inside fieldList rows) are appended to `attachments`."""
    kind, value = str(widget.get("type") or ""), widget.get("value")
    wid, name = str(widget.get("id") or ""), str(widget.get("name") or "")
    if kind in NUMERIC:
        value = _decimal(value)
    elif kind == "date":
        value = _date(value)
    elif kind in FILE_KINDS:
        urls = [value] if isinstance(value, str) else [u for u in value or []
                                                       if isinstance(u, str)]
        names = _file_names(widget.get("ext"), len(urls))
        for i, (url, filename) in enumerate(zip(urls, names, strict=True)):
            attachments.append(AttachmentRef(
                file_id=f"{where}{wid}#{i}", filename=filename, field_id=wid,
                field_name=name, extra={"url": url, "table": where.split("/")[0]}))
        value = names
    elif kind == "fieldList":
        value = [[_cell(parse_widget(cell, attachments, f"{wid}/{r}/"))
                  for cell in row if isinstance(cell, dict)]
                 for r, row in enumerate(value or []) if isinstance(row, list)]
    return FormField(id=wid, name=name, value=value, kind=kind, raw=_native(widget))


def parse_trail(data: dict, attachments: list[AttachmentRef], name_of: Callable[[str], str]) -> list[TrailEntry]:
    """Timeline and comments in time order; `name_of` resolves an open_id to a name."""
    nodes = {str(t.get("id")): str(t.get("node_name") or "") for t in data.get("task_list") or []
             if isinstance(t, dict)}
    steps: list[tuple[str, str, str, str, Any, str, str, list]] = []
    for t in data.get("timeline") or []:
        actor = str(t.get("open_id") or t.get("user_id") or "")
        if not actor and t.get("cc_user_list"):
            cc = t["cc_user_list"][0] or {}
            actor = str(cc.get("open_id") or cc.get("user_id") or "")
        action, result = TIMELINE.get(str(t.get("type")), (str(t.get("type") or ""), "none"))
        steps.append((actor, action, result, "timeline", t.get("create_time"),
                      _text(t.get("comment")), nodes.get(str(t.get("task_id")), ""),
                      t.get("files") or []))
    for c in data.get("comment_list") or []:
        steps.append((str(c.get("open_id") or c.get("user_id") or ""), "评论", "none",
                      "comment", c.get("create_time"), _text(c.get("comment")), "",
                      c.get("files") or []))
    steps.sort(key=lambda s: to_int(s[4]))
    trail = []
    for n, (actor, action, result, source, when, remark, node, files) in enumerate(steps):
        trail.append(TrailEntry(actor, name_of(actor), action, result, from_ms(when),
                                remark, node))
        for j, f in enumerate(f for f in files if isinstance(f, dict) and f.get("url")):
            attachments.append(AttachmentRef(
                file_id=f"{source}/{n}#{j}", filename=str(f.get("title") or f"附件{j + 1}"),
                size=int(f["file_size"]) if str(f.get("file_size", "")).isdigit() else None,
                extra={"url": f["url"], "source": source, "actor": actor}))
    return trail
