"""The access log of archive reads: record views, searches and exports, file downloads, and
their refusals. Reads change no state, so no service owns them; these helpers are the one way
the web pages and the API write them, so both channels record the same event with the same
outcome (a record out of the reader's scope is `denied` on either).

Each successful view, preview, download and print is also a DA/T 94 business event of the
record (M88 业务行为 利用, issue 18 item 5): one INSERT beside the audit event, naming the loan
(借阅单号) when the reader holds one."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from kjda.accounts.grants import actor_grant
from kjda.archives.models import USE_ACTION, BusinessEvent
from kjda.audit.models import Action, Outcome
from kjda.audit.services import audit_log

_REFUSED = {"reason": "not found or out of scope"}
USE_MANDATE = "《会计档案管理办法》第十三条"


class FileUse:
    """What a reader does with a file, each its own audit action."""

    PREVIEW = "preview"  # inline, in the record page (file.preview, issue 18 item 6)
    DOWNLOAD = "download"
    PRINT = "print"

    ACTIONS = {"preview": "file.preview", "download": Action.FILE_DOWNLOAD, "print": "file.print"}
    WORDS = {"view": "查看", "preview": "预览", "download": "下载", "print": "打印"}


def use_event_log(*, request: HttpRequest, record_id: int, use: str, loan_no: str = "",
                  file_id: int | str | None = None, marked: bool = False) -> None:
    """The record's 利用 business event (M87–M91), agent the reader; the description is
    `中文 / English` like the other events'."""
    user = request.user
    agent = user.get_username() if user.is_authenticated else ""
    zh, en = [FileUse.WORDS.get(use, use)], [use]
    if file_id is not None:
        zh.append(f"文件 {file_id}")
        en.append(f"file {file_id}")
    if marked:
        zh.append("带水印")
        en.append("watermarked")
    if loan_no:
        zh.append(f"借阅单号 {loan_no}")
        en.append(f"loan {loan_no}")
    BusinessEvent.objects.bulk_create([BusinessEvent(
        record_id=record_id, action=USE_ACTION, occurred_at=timezone.now(),
        mandate=USE_MANDATE, agent_name=agent[:150],
        description=f"{'，'.join(zh)} / {', '.join(en)}")])


def record_view_log(*, request: HttpRequest, record_id: int | str,
                    refused: bool = False) -> None:
    audit_log(action=Action.RECORD_VIEW, request=request, object_type="record",
              object_id=str(record_id), outcome=Outcome.DENIED if refused else Outcome.SUCCESS,
              detail=_REFUSED if refused else None)
    if not refused:
        grant = actor_grant(request.user, int(record_id))
        use_event_log(request=request, record_id=int(record_id), use="view",
                      loan_no=grant.loan_no if grant is not None else "")


def file_download_log(*, request: HttpRequest, file_id: int | str,
                      record_id: int | None = None, sha256: str = "", inline: bool = False,
                      refused: bool = False, use: str | None = None, loan_no: str = "",
                      mark_id: str = "", reason: str = "") -> None:
    """A file read: `file.preview` (inline), `file.download` or `file.print`; refused ones
    (out of scope, or a loan without the right: `reason`) are `denied`."""
    use = use or (FileUse.PREVIEW if inline else FileUse.DOWNLOAD)
    action = FileUse.ACTIONS.get(use, Action.FILE_DOWNLOAD)
    if refused:
        audit_log(action=action, request=request, object_type="file",
                  object_id=str(file_id), outcome=Outcome.DENIED,
                  detail={"reason": reason} if reason else _REFUSED)
        return
    detail: dict[str, Any] = {"record": record_id, "sha256": sha256, "inline": inline}
    if loan_no:
        detail["loan"] = loan_no
    if mark_id:
        detail["watermark"] = mark_id
    audit_log(action=action, request=request, object_type="file", object_id=str(file_id),
              detail=detail)
    if record_id is not None:
        use_event_log(request=request, record_id=record_id, use=use, loan_no=loan_no,
                      file_id=file_id, marked=bool(mark_id))


def file_watermark_log(*, request: HttpRequest, mark_id: str, detail: dict[str, Any]) -> None:
    """A watermarked copy given out: the mark id as the object, so `kjda watermark inspect`
    finds who received it even from a copy that lost its embedded data."""
    audit_log(action="file.watermark", request=request, object_type="watermark",
              object_id=mark_id, detail=detail)


def record_search_log(*, request: HttpRequest, detail: dict[str, Any]) -> None:
    """A filtered listing (the query, the filters, how many matched)."""
    audit_log(action=Action.RECORD_SEARCH, request=request, object_type="record", detail=detail)


def record_export_log(*, request: HttpRequest, action: str, record_id: int | None = None,
                      detail: dict[str, Any] | None = None) -> None:
    """A catalogue export (`record.export`) or one record's metadata (`record.export_metadata`)."""
    audit_log(action=action, request=request, object_type="record",
              object_id="" if record_id is None else str(record_id), detail=detail)


def register_download_log(*, request: HttpRequest, register: str, object_type: str,
                          object_id: str, file_format: str) -> None:
    """A register (移交清册, 保管清册, 鉴定意见书, 销毁清册, 卷内目录, 备考表) read as PDF or Excel:
    it lists archive numbers and titles, so each download is an access like a record's."""
    audit_log(action="register.download", request=request, object_type=object_type,
              object_id=object_id, detail={"register": register, "format": file_format})
