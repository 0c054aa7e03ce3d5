"""Weaver e-cology (泛微) payloads into our types: the REST workflow request (getWorkflowRequest)
and the Action push, with their fields, attachments (file fields and <a fileid> links in the
sign log) and the sign log as the approval record. Pure functions, no API calls."""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any

from kjda.connectors.base import (
    ApprovalInstance,
    AttachmentRef,
    FormField,
    TrailEntry,
)
from kjda.connectors.webhook import (
    CHINA,
    parse_time,
    rejected,
    to_decimal,
)

ARCHIVE_NODE = "3"  # e-cology node types: 0 创建, 1 批准, 2 提交, 3 归档
TEXT_KINDS = {"1": "text", "2": "int", "3": "float", "4": "money", "5": "money"}
BROWSER_KINDS = {"2": "date", "19": "time", "290": "datetime", "1": "hrm", "17": "hrm",
                 "4": "department", "57": "department", "164": "subcompany"}
HTML_KINDS = {"2": "textarea", "4": "check", "5": "select", "6": "attachment", "7": "link"}
NUMERIC = {"int", "float", "money"}
LOG_TYPES = {"0": ("批准", "agree"), "1": ("保存", "none"), "2": ("提交", "agree"),
             "3": ("退回", "refuse"), "4": ("重新打开", "none"), "5": ("删除", "none"),
             "6": ("激活", "none"), "7": ("转发", "none"), "9": ("批注", "none"),
             "e": ("强制归档", "agree"), "t": ("抄送", "none")}
ANCHOR = re.compile(r"""<a\b[^>]*href=["']([^"']*?fileid=(\w+)[^"']*)["'][^>]*>(.*?)</a>""",
                    re.I | re.S)


def field_kind(html_type: Any, type_: Any) -> str:
    html_type, type_ = str(html_type or ""), str(type_ or "")
    if html_type == "1":
        return TEXT_KINDS.get(type_, "text")
    if html_type == "3":
        return BROWSER_KINDS.get(type_, "browser")
    return HTML_KINDS.get(html_type, "")


def _value(kind: str, value: Any, show: Any = None) -> Any:
    if kind in NUMERIC:
        return to_decimal(value)
    if kind == "attachment":
        items = value if isinstance(value, list) else str(value or "").split(",")
        return [str(v).strip() for v in items if str(v).strip()]
    if kind in {"select", "browser", "hrm", "department", "subcompany"} and show not in (None, ""):
        return _text(show)
    return value


def _text(value: Any) -> str:
    """e-cology returns HTML in remarks and show values: strip tags, unescape."""
    text = re.sub(r"<br\s*/?>", "\n", str(value or ""), flags=re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def _anchors(markup: Any) -> list[tuple[str, str]]:
    """(imagefileid, file name) of each FileDownload link in an HTML show value."""
    return [(m.group(2), _text(m.group(3))) for m in ANCHOR.finditer(str(markup or ""))]


def _rest_field(item: dict[str, Any]) -> FormField:
    kind = field_kind(item.get("fieldHtmlType"), item.get("fieldType"))
    name = str(item.get("fieldName") or "")
    return FormField(id=name, name=str(item.get("fieldShowName") or name), kind=kind,
                     value=_value(kind, item.get("fieldValue"), item.get("fieldShowValue")),
                     raw=item)


def _rest_files(item: dict[str, Any], field: FormField) -> list[AttachmentRef]:
    if field.kind != "attachment":
        return []
    links = _anchors(item.get("filedHtmlShow") or item.get("fieldHtmlShow")
                     or item.get("fieldShowValue"))
    doc_ids = field.value if isinstance(field.value, list) else []
    refs = []
    for i, (file_id, name) in enumerate(links):
        doc_id = doc_ids[i] if i < len(doc_ids) else ""
        refs.append(AttachmentRef(file_id=file_id, filename=name or file_id, field_id=field.id,
                                  field_name=field.name,
                                  extra={"docId": doc_id, "imageFileId": file_id}))
    return refs


def _cell(field: FormField) -> dict[str, Any]:
    return {"id": field.id, "name": field.name, "value": field.value, "kind": field.kind}


def _log(item: dict[str, Any]) -> tuple[TrailEntry, list[AttachmentRef]]:
    code = str(item.get("logType") or item.get("operateTypeCode") or "")
    action, result = LOG_TYPES.get(code, (str(item.get("operateType") or code), "none"))
    when = " ".join(str(item.get(k) or "") for k in ("operateDate", "operateTime")).strip()
    entry = TrailEntry(actor_id=str(item.get("operatorId") or ""),
                       actor_name=str(item.get("operatorName") or ""),
                       action=str(item.get("operateType") or action), result=result,
                       time=parse_time(when), remark=_text(item.get("remark")),
                       node=str(item.get("nodeName") or ""))
    files = [AttachmentRef(file_id=fid, filename=name or fid,
                           extra={"imageFileId": fid, "trail": True})
             for fid, name in _anchors(item.get("annexDocHtmls"))]
    return entry, files


def _status(data: dict[str, Any]) -> tuple[str, str]:
    node_type = str(data.get("currentNodeType") or "")
    text = str(data.get("status") or "")
    if node_type == ARCHIVE_NODE or "归档" in text:
        return "approved", "agree"
    if "撤" in text:
        return "revoked", ""
    if "退回" in text:
        return "rejected", "refuse"
    return "running", ""


def instance_from_rest(data: dict[str, Any]) -> ApprovalInstance:
    """getWorkflowRequest `data` → ApprovalInstance."""
    fields: list[FormField] = []
    files: list[AttachmentRef] = []
    main = (data.get("workflowMainTableInfo") or {}).get("requestRecords") or []
    for record in main[:1]:
        for item in record.get("workflowRequestTableFields") or []:
            fields.append(field := _rest_field(item))
            files += _rest_files(item, field)
    for table in data.get("workflowDetailTableInfos") or []:
        rows = []
        for record in table.get("workflowRequestTableRecords") or []:
            row = []
            for item in record.get("workflowRequestTableFields") or []:
                row.append(_cell(field := _rest_field(item)))
                files += _rest_files(item, field)
            rows.append(row)
        db_name = str(table.get("tableDBName") or "")
        fields.append(FormField(id=db_name, name=str(table.get("tableTitle") or db_name),
                                value=rows, kind="table", raw={"tableDBName": db_name}))
    trail = []
    for item in data.get("workflowRequestLogs") or []:
        entry, annexes = _log(item)
        trail.append(entry)
        files += annexes
    status, result = _status(data)
    base = data.get("workflowBaseInfo") or {}
    return ApprovalInstance(
        instance_id=str(data.get("requestId") or ""),
        process_code=str(base.get("workflowId") or data.get("workflowId") or ""),
        title=str(data.get("requestName") or ""), status=status, result=result,
        originator_id=str(data.get("creatorId") or ""),
        originator_name=str(data.get("creatorName") or ""),
        department=str(data.get("creatorDepartmentName") or ""),
        created_at=parse_time(data.get("createTime")),
        finished_at=parse_time(data.get("lastOperateTime")) if status == "approved" else None,
        fields=fields, attachments=files, trail=trail, raw={"workflowBaseInfo": base})


def _action_field(name: str, value: Any, info: dict[str, Any]) -> FormField:
    if isinstance(value, dict):
        info, value = {**info, **value}, value.get("value")
    kind = str(info.get("kind") or field_kind(info.get("htmlType"), info.get("type")))
    return FormField(id=name, name=str(info.get("label") or name), kind=kind,
                     value=_value(kind, value, info.get("showValue")),
                     raw={"fieldName": name, "fieldValue": value, **info})


def _action_details(details: Any, info: dict[str, Any]) -> list[FormField]:
    tables = []
    for i, table in enumerate(details if isinstance(details, list) else []):
        meta = table if isinstance(table, dict) else {}
        rows = meta.get("rows", []) if meta else table
        db_name = str(meta.get("tableDBName") or f"dt{i + 1}")
        value = [[_cell(_action_field(str(k), v, info.get(str(k)) or {})) for k, v in row.items()]
                 for row in rows if isinstance(row, dict)]
        tables.append(FormField(id=db_name, name=str(meta.get("title") or f"明细表{i + 1}"),
                                value=value, kind="table", raw={"tableDBName": db_name}))
    return tables


def _action_file(item: dict[str, Any], fields: list[FormField]) -> AttachmentRef:
    doc_id = str(item.get("docId") or "")
    file_id = str(item.get("imageFileId") or doc_id)
    if not file_id:
        raise rejected("附件缺少 imageFileId / docId", "attachment without imageFileId / docId")
    owner = str(item.get("field") or "")
    field = next((f for f in fields if owner and owner in (f.id, f.name)), None) or next(
        (f for f in fields if not owner and f.kind in ("attachment", "")
         and doc_id in [v.strip() for v in (f.value if isinstance(f.value, list)
                                            else str(f.value or "").split(","))]), None)
    extra = {"docId": doc_id, "imageFileId": str(item.get("imageFileId") or "")}
    for src, dst in (("sha256", "sha256"), ("url", "url"), ("contentBase64", "content_base64")):
        if item.get(src):
            extra[dst] = item[src]
    size = str(item.get("size") or "")
    return AttachmentRef(file_id=file_id, filename=str(item.get("fileName") or file_id),
                         size=int(size) if size.isdigit() else None,
                         field_id=field.id if field else owner,
                         field_name=field.name if field else owner, extra=extra)


def instance_from_action(data: dict[str, Any], *, status: str, result: str) -> ApprovalInstance:
    """Our Action contract (§4.1 of oa-protocols.md, docs/integration/weaver-action.md)."""
    info = found if isinstance(found := data.get("fieldInfo"), dict) else {}
    main = found if isinstance(found := data.get("main"), dict) else {}
    creator = found if isinstance(found := data.get("creator"), dict) else {}
    try:
        fields = [_action_field(str(k), v, info.get(str(k)) or {}) for k, v in main.items()]
        fields += _action_details(data.get("details"), info)
        files = [_action_file(a, fields) for a in data.get("attachments") or []
                 if isinstance(a, dict)]
        trail = []
        for item in data.get("logs") or []:
            entry, annexes = _log(item)
            trail.append(entry)
            files += [a for a in annexes if a.file_id not in {f.file_id for f in files}]
    except (AttributeError, TypeError) as exc:
        raise rejected("推送内容不符合约定", "push does not follow the contract") from exc
    return ApprovalInstance(
        instance_id=str(data["requestId"]), process_code=str(data.get("workflowId") or ""),
        title=str(data.get("requestName") or ""), status=status, result=result,
        originator_id=str(creator.get("id") or ""),
        originator_name=str(creator.get("lastname") or ""),
        department=str(creator.get("departmentName") or ""),
        created_at=parse_time(data.get("createTime")),
        finished_at=parse_time(data.get("finishTime")) or (
            datetime.now(CHINA) if status == "approved" else None),
        fields=fields, attachments=files, trail=trail,
        raw={"nodeId": data.get("nodeId"), "src": data.get("src"), "creator": creator})


def lean_payload(data: dict[str, Any]) -> dict[str, Any]:
    files = [{k: v for k, v in a.items() if k != "contentBase64"} if isinstance(a, dict) else a
             for a in data.get("attachments") or []]
    return {**data, "attachments": files}
