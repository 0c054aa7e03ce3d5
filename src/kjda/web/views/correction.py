"""Putting a pending record right from its page (issue 17 item 1): add or replace a file,
correct metadata, re-check, withdraw; and the archivist's correction of a filed record's
description. Plain POST forms, answered by a redirect to the record page with a message; who
may do what is the services' decision (kjda.ingest.services, kjda.archives.services)."""

from __future__ import annotations

from typing import Any, BinaryIO, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Field
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kjda.archives import selectors
from kjda.archives.access_log import record_view_log
from kjda.archives.models import Record
from kjda.archives.services import record_withdraw
from kjda.errors import DomainError, NotFound
from kjda.ingest.metadata import metadata_file_parse
from kjda.ingest.pipeline import IncomingFile
from kjda.ingest.services import (
    FILED_CORRECTABLE,
    record_file_add,
    record_metadata_correct,
    record_recheck,
)
from kjda.web.requests import AuthedRequest
from kjda.web.templatetags.kjda_web import error_message

# The fields the page's metadata form offers (the API takes every field): a pending record's
# most common faults first; a filed record's the descriptive ones only.
PENDING_FORM_FIELDS = ("title", "category_name", "fiscal_year", "period", "date", "amount",
                       "document_no", "voucher_type", "department", "responsible", "preparer",
                       "reviewer", "keywords", "abstract", "notes")
FILED_FORM_FIELDS = tuple(f for f in ("title", "document_no", "responsible", "preparer",
                                      "reviewer", "keywords", "descriptors", "person_names",
                                      "abstract", "notes") if f in FILED_CORRECTABLE)
# Fields whose empty value means "none" (not an empty string) to the metadata validation.
_NULLABLE = {"period", "amount", "prepared_on", "reviewed_on", "page_count"}


def correction_form_fields(record: Record) -> list[dict[str, Any]]:
    """The metadata form's rows: name, label (the model's Chinese field name), current value."""
    names = FILED_FORM_FIELDS if record.status == "filed" else PENDING_FORM_FIELDS
    rows = []
    for name in names:
        if name == "category_name":
            rows.append({"name": "category", "label": "档案类别", "value": record.rule.name,
                         "long": False})
            continue
        field = cast(Field, Record._meta.get_field(name))  # a column, never a relation
        value = getattr(record, name)
        rows.append({"name": name, "label": str(field.verbose_name),
                     "value": "" if value is None else str(value),
                     "long": field.get_internal_type() == "TextField"})
    return rows


def _record_or_404(request: AuthedRequest, record_id: int) -> Record:
    try:
        return selectors.record_get(actor=request.user, record_id=record_id)
    except NotFound as exc:
        record_view_log(request=request, record_id=record_id, refused=True)
        raise Http404(exc.en) from exc


def _back(record_id: int, anchor: str = "fix") -> HttpResponse:
    return redirect(reverse("web:record_detail", args=[record_id]) + f"#{anchor}")


def _failed(request: AuthedRequest, exc: DomainError) -> None:
    messages.error(request, _("未能完成：%(message)s") % {"message": error_message(exc)})


@login_required
@require_POST
def record_file_post(request: AuthedRequest, record_id: int) -> HttpResponse:
    record = _record_or_404(request, record_id)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, _("请选择要上传的文件。"))
        return _back(record.pk)
    replace = request.POST.get("replace") or None
    try:
        meta = metadata_file_parse({"document_type": request.POST.get("document_type", "")})
        incoming = IncomingFile(stream=cast(BinaryIO, upload), filename=upload.name or "file",
                                meta=meta, declared_mime=upload.content_type or "")
        row = record_file_add(record=record, upload=incoming,
                              replace_file_id=int(replace) if replace else None,
                              actor=request.user, request=request)
    except (DomainError, ValueError) as exc:
        if isinstance(exc, ValueError):
            exc = DomainError("file_not_replaceable", "要替换的文件无效", "invalid file to replace")
        _failed(request, exc)
    else:
        messages.success(request, _("已上传 %(name)s。请重新检测。") % {"name": row.filename})
    return _back(record.pk)


@login_required
@require_POST
def record_correct_post(request: AuthedRequest, record_id: int) -> HttpResponse:
    record = _record_or_404(request, record_id)
    changes: dict[str, Any] = {}
    for row in correction_form_fields(record):
        posted = request.POST.get(row["name"])
        if posted is None or posted.strip() == row["value"].strip():
            continue
        changes[row["name"]] = None if row["name"] in _NULLABLE and not posted.strip() else posted
    if not changes:
        messages.warning(request, _("没有修改任何字段。"))
        return _back(record.pk)
    try:
        record_metadata_correct(record=record, changes=changes, actor=request.user,
                                request=request)
    except DomainError as exc:
        _failed(request, exc)
    else:
        messages.success(request, _("元数据已更正。"))
    return _back(record.pk)


@login_required
@require_POST
def record_recheck_post(request: AuthedRequest, record_id: int) -> HttpResponse:
    record = _record_or_404(request, record_id)
    try:
        record = record_recheck(record=record, actor=request.user, request=request)
    except DomainError as exc:
        _failed(request, exc)
        return _back(record.pk)
    if record.status == "filed":
        messages.success(request, _("检测通过，已归档：%(no)s")
                         % {"no": record.archive_no or _("待封卷编号")})
        return _back(record.pk, "summary")
    messages.warning(request, _("重新检测仍未通过，请查看阻断项。"))
    return _back(record.pk)


@login_required
@require_POST
def record_withdraw_post(request: AuthedRequest, record_id: int) -> HttpResponse:
    record = _record_or_404(request, record_id)
    try:
        record_withdraw(record=record, reason=request.POST.get("reason", ""), actor=request.user,
                        request=request)
    except DomainError as exc:
        _failed(request, exc)
    else:
        messages.success(request, _("档案已撤回（保留，不删除）。"))
    return _back(record.pk, "summary")
