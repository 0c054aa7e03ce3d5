"""The access log of archive reads: record views, searches and exports, file downloads, and
their refusals. Reads change no state, so no service owns them; these helpers are the one way
the web pages and the API write them, so both channels record the same event with the same
outcome (a record out of the reader's scope is `denied` on either)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from kjda.audit.models import Action, Outcome
from kjda.audit.services import audit_log

_REFUSED = {"reason": "not found or out of scope"}


def record_view_log(*, request: HttpRequest, record_id: int | str,
                    refused: bool = False) -> None:
    audit_log(action=Action.RECORD_VIEW, request=request, object_type="record",
              object_id=str(record_id), outcome=Outcome.DENIED if refused else Outcome.SUCCESS,
              detail=_REFUSED if refused else None)


def file_download_log(*, request: HttpRequest, file_id: int | str,
                      record_id: int | None = None, sha256: str = "", inline: bool = False,
                      refused: bool = False) -> None:
    if refused:
        audit_log(action=Action.FILE_DOWNLOAD, request=request, object_type="file",
                  object_id=str(file_id), outcome=Outcome.DENIED, detail=_REFUSED)
        return
    audit_log(action=Action.FILE_DOWNLOAD, request=request, object_type="file",
              object_id=str(file_id),
              detail={"record": record_id, "sha256": sha256, "inline": inline})


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
