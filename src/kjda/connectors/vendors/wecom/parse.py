"""WeCom (企业微信) payloads into our types: the callback envelope (XML or JSON) and its decrypted
message, the approval event, and the form contents (apply_data) with their attachments. Pure
functions, no API calls."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as _xml_fromstring

from kjda.connectors.base import (
    ApprovalEvent,
    AttachmentRef,
    CallbackRejected,
    CallbackRequest,
    FormField,
)

CHINA = timezone(timedelta(hours=8))  # WeCom day-dates are midnight in China time
SP_STATUS = {1: "running", 2: "approved", 3: "rejected", 4: "withdrawn", 6: "revoked",
             7: "deleted", 10: "approved"}  # 10 已支付: approved and then paid
SP_RESULT = {2: "agree", 3: "refuse", 6: "agree", 10: "agree"}
DETAIL_RESULT = {1: "pending", 2: "agree", 3: "refuse", 4: "redirect"}
FINAL = {2, 3, 4, 6, 7, 10}


def malformed(en: str, zh: str = "回调报文格式不正确") -> CallbackRejected:
    return CallbackRejected("malformed", zh, en, status=400)


# --- callback parsing ---------------------------------------------------------------------
def callback_query(request: CallbackRequest) -> dict[str, str]:
    """Query parameters URL-decoded exactly once with '+' kept (echostr is base64): from the
    raw query when there is one, else from `query` (repairing a form-style '+' → ' ')."""
    params = dict(request.query)
    if " " in params.get("echostr", ""):
        params["echostr"] = params["echostr"].replace(" ", "+")
    raw: dict[str, str] = {}
    for part in request.raw_query.split("&"):
        if part:
            name, _, value = part.partition("=")
            raw.setdefault(unquote(name), unquote(value))
    return {**params, **raw}


def _xml(data: bytes) -> Element:
    try:
        return _xml_fromstring(data, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise malformed("body is not well-formed XML", "回调报文不是合法的 XML") from exc


def envelope_encrypt(body: bytes) -> str:
    """The `Encrypt` text of the XML envelope, or `encrypt` of the JSON flavour, as received."""
    text = body.strip()
    encrypt: Any = None
    if text.startswith(b"{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise malformed("body is not valid JSON", "回调报文不是合法的 JSON") from exc
        if isinstance(data, dict):
            encrypt = data.get("encrypt", data.get("Encrypt"))
    elif text:
        node = _xml(text).find("Encrypt")
        encrypt = node.text if node is not None else None
    if not isinstance(encrypt, str) or not encrypt.strip():
        raise malformed("Encrypt missing", "回调报文缺少 Encrypt")
    return encrypt


def _xml_to_dict(elem: Element) -> Any:
    children = list(elem)
    if not children:
        return (elem.text or "").strip()
    out: dict[str, Any] = {}
    for child in children:
        value = _xml_to_dict(child)
        if child.tag not in out:
            out[child.tag] = value
        elif isinstance(out[child.tag], list):
            out[child.tag].append(value)
        else:
            out[child.tag] = [out[child.tag], value]
    return out


def parse_message(plain: bytes) -> dict[str, Any]:
    text = plain.strip()
    if text.startswith(b"{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise malformed("decrypted message is not JSON", "解密后的消息不是合法 JSON") from exc
    else:
        data = _xml_to_dict(_xml(text))
    if not isinstance(data, dict):
        raise malformed("decrypted message has no fields", "解密后的消息没有字段")
    return data


def _ci(data: Any, key: str) -> Any:
    if not isinstance(data, dict):
        return None
    if key in data:
        return data[key]
    lower = key.lower()
    return next((v for k, v in data.items() if str(k).lower() == lower), None)


def event_from(msg: dict[str, Any]) -> ApprovalEvent:
    event_type = str(_ci(msg, "Event") or _ci(msg, "MsgType") or "unknown")
    created = to_int(_ci(msg, "CreateTime"))
    info = _ci(msg, "ApprovalInfo")
    if event_type != "sys_approval_change" or not isinstance(info, dict):
        key = _ci(msg, "MsgId") or f"{event_type}:{_ci(msg, 'FromUserName') or ''}:{created}"
        return ApprovalEvent(event_id=f"wecom:{key}", instance_id="", action="ignored",
                             event_type=event_type, occurred_at=from_epoch(created),
                             payload={"msg_type": str(_ci(msg, "MsgType") or ""),
                                      "event": event_type, "create_time": created})
    sp_no = str(_ci(info, "SpNo") or _ci(info, "SpNoStr") or "").strip()
    if not sp_no:
        raise malformed("ApprovalInfo.SpNo missing", "审批事件缺少 SpNo")
    sp_status, change = to_int(_ci(info, "SpStatus")), to_int(_ci(info, "StatuChangeEvent"))
    reason = ""
    if sp_status == 6 or change == 8:
        action = "revoked"
        last = as_list(_ci(info, "Comments"))[-1:]
        note = str(_ci(last[0], "CommentContent") or "") if last else ""
        reason = f"企业微信审批单 {sp_no} 已通过后撤销" + (f"：{note}" if note else "")
    elif sp_status == 2:
        action = "approved"
    elif sp_status in (3, 4, 7):  # rejected, withdrawn, deleted: never archived, but an
        action = "finished"        # approval KJDA started must learn its end
    else:
        action = "ignored"
    # Stable across WeCom's redeliveries; the trigger and the reversal happen once per sheet,
    # other changes (agree at a middle node, comments, reminders) repeat, so they add the time.
    event_id = f"{sp_no}:{change}:{sp_status}" + (f":{created}" if action == "ignored" else "")
    return ApprovalEvent(
        event_id=event_id, instance_id=sp_no, action=action,  # type: ignore[arg-type]
        process_code=str(_ci(info, "TemplateId") or ""), event_type=event_type,
        occurred_at=from_epoch(created), reason=reason,
        payload={"sp_no": sp_no, "sp_name": str(_ci(info, "SpName") or ""),
                 "sp_status": sp_status, "statu_change_event": change,
                 "template_id": str(_ci(info, "TemplateId") or ""),
                 "apply_time": to_int(_ci(info, "ApplyTime")),
                 "_originator_id": str(_ci(_ci(info, "Applyer"), "UserId") or ""),
                 "create_time": created, "agent_id": str(_ci(msg, "AgentID") or "")})


# --- form parsing -------------------------------------------------------------------------
def parse_contents(contents: Any) -> tuple[list[FormField], list[AttachmentRef]]:
    """apply_data.contents → fields (money/number as Decimal, dates ISO, tables as lists of
    {column: value} rows) and the attachments of File controls (tables included)."""
    fields: list[FormField] = []
    files: list[AttachmentRef] = []
    for control in as_list(contents):
        if not isinstance(control, dict) or control.get("control") == "Tips":
            continue
        kind, cid = str(control.get("control") or ""), str(control.get("id") or "")
        title = _title(control.get("title"))
        value = control.get("value") or {}
        if kind == "Table":
            rows: list[dict[str, Any]] = []
            for i, child in enumerate(as_list(value.get("children"))):
                cells, refs = parse_contents((child or {}).get("list"))
                rows.append({c.name: c.value for c in cells})
                files += [dataclasses.replace(r, extra={**r.extra, "table": title, "row": i})
                          for r in refs]
            fields.append(FormField(cid, title, rows, kind, control))
            continue
        if kind == "File":
            found = [f for f in as_list(value.get("files")) if f.get("file_id")]
            ids = [str(f["file_id"]) for f in found]
            files += [AttachmentRef(file_id=str(f["file_id"]), field_id=cid, field_name=title,
                                    filename=str(f.get("file_name") or f.get("name") or ""))
                      for f in found]
            fields.append(FormField(cid, title, ids, kind, control))
            continue
        fields.append(FormField(cid, title, _control_value(kind, value), kind, control))
    return fields, files


def _control_value(kind: str, value: dict[str, Any]) -> Any:
    if kind == "Money":
        return _decimal(value.get("new_money"))
    if kind == "Number":
        return _decimal(value.get("new_number"))
    if kind == "Formula":
        return _decimal((value.get("formula") or {}).get("value"))
    if kind == "Date":
        return _date(value.get("date") or {})
    if kind == "DateRange":
        rng = value.get("date_range") or {}
        kind_ = rng.get("type", "day")
        return [_date({"type": kind_, "s_timestamp": rng.get(k)}) for k in ("new_begin", "new_end")]
    if kind == "Selector":
        sel = value.get("selector") or {}
        texts = [_title(o.get("value")) for o in as_list(sel.get("options"))]
        return texts if sel.get("type") == "multi" else (texts[0] if texts else "")
    if kind == "Contact":
        people = [m.get("name") or m.get("userid") for m in as_list(value.get("members"))]
        depts = [d.get("name") or d.get("openapi_id") for d in as_list(value.get("departments"))]
        return [str(x) for x in people + depts if x]
    if kind == "RelatedApproval":
        return [str(r.get("sp_no")) for r in as_list(value.get("related_approval"))]
    if kind == "Location":
        loc = value.get("location") or {}
        return str(loc.get("title") or loc.get("address") or "")
    if "text" in value and kind in ("Text", "Textarea", ""):
        return str(value.get("text") or "")
    return value.get("text") or value


def _title(title: Any) -> str:
    items = [t for t in as_list(title) if isinstance(t, dict)]
    zh = [t for t in items if str(t.get("lang", "")).lower().startswith("zh")]
    return str((zh or items or [{}])[0].get("text") or "")


def _date(date: dict[str, Any]) -> str:
    stamp = to_int(date.get("s_timestamp"))
    if not stamp:
        return ""
    moment = datetime.fromtimestamp(stamp, tz=CHINA)
    return moment.date().isoformat() if date.get("type", "day") == "day" else moment.isoformat()


def media_refs(media: Any, source: str, user_id: str) -> list[AttachmentRef]:
    return [AttachmentRef(file_id=str(m), filename="", extra={"source": source, "user": user_id})
            for m in as_list(media) if m]


# --- small helpers ------------------------------------------------------------------------
def as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


def to_int(value: Any, default: int = 0) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _decimal(value: Any) -> Decimal | str | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        return str(value)


def from_epoch(value: Any) -> datetime | None:
    stamp = to_int(value)
    if stamp <= 0:
        return None
    if stamp > 10**11:
        stamp //= 1000
    return datetime.fromtimestamp(stamp, tz=UTC)
