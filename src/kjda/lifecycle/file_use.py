"""How a reader gets a file (issue 18 items 4 and 6): the one place both channels (web, API)
decide whether a copy is watermarked, which file is given and what a loan allows.

Policy `settings.KJDA_WATERMARK`:
  off     never watermark;
  always  every preview, download and print by anyone;
  loans   (default) when the reader holds a loan grant on the record
          (`kjda.accounts.grants.actor_grant`).
A grant also limits the use: without `download` only the inline preview is given, without
`print` no print copy. A watermark goes on a PDF or image; for another original (OFD, XML…) the
PDF/A rendition is given instead, and where there is none the copy is refused, never given
unmarked. The stored original is never changed: each response is marked on the fly, gets its
own mark id, and the mark is audited (`file.watermark`) so it traces back even from a print-out.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.utils.http import content_disposition_header

from kjda.accounts.grants import Grant, Right, actor_grant
from kjda.accounts.selectors import Actor, actor_profile
from kjda.archives import selectors
from kjda.archives.access_log import FileUse, file_download_log, file_watermark_log
from kjda.archives.downloads import (
    FILE_HEADERS,
    INLINE_FORMATS,
    file_destroyed,
    file_previewable,
    file_response,
)
from kjda.archives.models import FileRole, RecordFile, RecordStatus
from kjda.audit.selectors import audit_object_events
from kjda.errors import Forbidden, NotFound
from kjda.formats.watermark import Found, Mark, watermark, watermark_read
from kjda.formats.watermark.pages import pdf_page_count, pdf_page_png
from kjda.storage.services import blob_read_verified

MARKABLE = {"pdf", "pdfa", "png", "jpeg", "tiff"}
INLINE_TYPES = {"application/pdf", "image/png", "image/jpeg"}
WATERMARK_OBJECT = "watermark"


def watermark_key() -> bytes:
    """The HMAC key of marks: KJDA_WATERMARK_KEY, else derived from SECRET_KEY (so a forged mark
    fails without another secret to keep)."""
    own = getattr(settings, "KJDA_WATERMARK_KEY", "")
    if own:
        return own.encode()
    return hmac.new(settings.SECRET_KEY.encode(), b"kjda.watermark.v1", hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Plan:
    """What one request is given: the file (the original or its rendition) and the mark, if
    any."""

    file: RecordFile
    grant: Grant | None
    mark: Mark | None


def use_allowed(grant: Grant | None, use: str) -> bool:
    """Whether a reader may make this use of a record's file: any use within their own scope
    (no grant), through a loan only the rights it grants (a preview always)."""
    if grant is None or use == FileUse.PREVIEW:
        return True
    return grant.allows({FileUse.DOWNLOAD: Right.DOWNLOAD, FileUse.PRINT: Right.PRINT}[use])


def file_use_plan(*, actor: Actor, rf: RecordFile, use: str) -> Plan:
    """Raises Forbidden when the loan does not allow the use, or a mark is required and only an
    unmarkable original could be given."""
    grant = actor_grant(actor, rf.record_id)
    if grant is not None and use == FileUse.DOWNLOAD and not use_allowed(grant, use):
        raise Forbidden("loan_no_download", f"借阅单 {grant.loan_no} 只允许在线查阅，不允许下载",
                        f"loan {grant.loan_no} allows viewing online only, not downloading")
    if grant is not None and use == FileUse.PRINT and not use_allowed(grant, use):
        raise Forbidden("loan_no_print", f"借阅单 {grant.loan_no} 不允许打印",
                        f"loan {grant.loan_no} does not allow printing")
    policy = getattr(settings, "KJDA_WATERMARK", "loans")
    if policy == "off" or (policy == "loans" and grant is None):
        return Plan(file=rf, grant=grant, mark=None)
    given = rf
    if rf.format_name not in MARKABLE:
        renditions = [r for r in selectors.record_renditions_of(file=rf)
                      if r.role == FileRole.RENDITION and r.format_name in MARKABLE]
        if not renditions:
            raise Forbidden("watermark_unavailable",
                            f"文件“{rf.filename}”无法加水印且没有 PDF/A 转换件，借阅期间不能提供",
                            f"the file '{rf.filename}' cannot be watermarked and has no PDF/A "
                            "rendition, so it cannot be given during a loan")
        given = renditions[0]
    return Plan(file=given, grant=grant, mark=_mark(actor, grant))


def _mark(actor: Actor, grant: Grant | None) -> Mark:
    profile = actor_profile(actor)
    full = getattr(actor, "get_full_name", lambda: "")()
    name = profile.person_name or (full or "").strip() or getattr(actor, "username", "")
    return Mark(mark_id=uuid.uuid4().hex[:16], person=name,
                department=getattr(profile, "department", "") or "",
                time=timezone.localtime().isoformat(timespec="seconds"),
                loan_no=grant.loan_no if grant is not None else "")


def _inline_possible(plan: Plan) -> bool:
    if plan.mark is None:
        return file_previewable(plan.file)
    return plan.file.format_name in INLINE_FORMATS


def file_use_response(*, request: HttpRequest, rf: RecordFile, use: str) -> HttpResponseBase:
    """The response for one preview, download or print of `rf` by request.user, logged (the
    audit event and the record's 利用 business event) before it is sent. A preview or print of
    what a browser cannot show inline is a download (and needs that right). Raises Forbidden
    (logged as denied), StorageError."""
    try:
        plan = file_use_plan(actor=request.user, rf=rf, use=use)
        if use != FileUse.DOWNLOAD and not _inline_possible(plan):
            use = FileUse.DOWNLOAD
            plan = file_use_plan(actor=request.user, rf=rf, use=use)
    except Forbidden as exc:
        file_download_log(request=request, file_id=rf.pk, record_id=rf.record_id, use=use,
                          refused=True, reason=exc.code)
        raise
    inline = use != FileUse.DOWNLOAD
    loan_no = plan.grant.loan_no if plan.grant is not None else ""
    if plan.mark is None:
        file_download_log(request=request, file_id=rf.pk, record_id=rf.record_id,
                          sha256=rf.sha256, inline=inline, use=use, loan_no=loan_no)
        return file_response(request=request, rf=rf, inline=inline)
    return _marked_response(request=request, rf=rf, plan=plan, use=use, mark=plan.mark)


def _marked_response(*, request: HttpRequest, rf: RecordFile, plan: Plan, use: str,
                     mark: Mark) -> HttpResponse:
    given = plan.file
    body, content_type = watermark(_bytes(rf, given), mark, key=watermark_key())
    _log_given(request, rf=rf, plan=plan, use=use, body=body)
    response = HttpResponse(body, content_type=content_type)
    as_attachment = use == FileUse.DOWNLOAD or content_type not in INLINE_TYPES
    name = given.filename or f"file-{given.pk}"
    response["Content-Disposition"] = content_disposition_header(as_attachment, name) or "inline"
    response["X-KJDA-Watermark"] = mark.mark_id
    for header, value in FILE_HEADERS.items():
        response[header] = value
    return response


def _bytes(rf: RecordFile, given: RecordFile) -> bytes:
    if rf.record.status == RecordStatus.DESTROYED:
        raise file_destroyed(rf)
    return b"".join(blob_read_verified(sha256=given.sha256, sm3=given.sm3, size=given.size))


def _log_given(request: HttpRequest, *, rf: RecordFile, plan: Plan, use: str, body: bytes,
               page: int | None = None) -> None:
    mark = plan.mark
    loan_no = plan.grant.loan_no if plan.grant is not None else ""
    file_download_log(request=request, file_id=rf.pk, record_id=rf.record_id,
                      sha256=rf.sha256, inline=use != FileUse.DOWNLOAD, use=use,
                      loan_no=loan_no, mark_id=mark.mark_id if mark else "")
    if mark is None:
        return
    file_watermark_log(request=request, mark_id=mark.mark_id, detail={
        "file": rf.pk, "given": plan.file.pk, "record": rf.record_id, "loan": loan_no,
        "loan_id": plan.grant.loan_id if plan.grant is not None else None,
        "person": mark.person, "department": mark.department, "time": mark.time, "use": use,
        "page": page, "sha256": hashlib.sha256(body).hexdigest()})


PAGEABLE = {"pdf", "pdfa"}


def _pageable_plan(actor: Actor, rf: RecordFile) -> Plan:
    """The plan of a preview whose given file is a PDF (the file itself or, when marked, its
    rendition); NotFound otherwise."""
    plan = file_use_plan(actor=actor, rf=rf, use=FileUse.PREVIEW)
    if plan.file.format_name not in PAGEABLE:
        raise NotFound("preview_not_pdf", f"文件 {rf.pk} 没有可逐页预览的 PDF",
                       f"file {rf.pk} has no PDF to preview page by page")
    return plan


def file_page_count(*, actor: Actor, rf: RecordFile) -> int:
    """How many pages the reader's page-image preview of `rf` has."""
    plan = _pageable_plan(actor, rf)
    return pdf_page_count(_bytes(rf, plan.file))


def file_page_response(*, request: HttpRequest, rf: RecordFile, page: int) -> HttpResponse:
    """Page `page` (1-based) of the preview as a PNG, watermarked as the PDF would be; logged
    as a preview. Raises Forbidden, NotFound, WatermarkError, StorageError."""
    plan = _pageable_plan(request.user, rf)
    png = pdf_page_png(_bytes(rf, plan.file), page - 1, mark=plan.mark, key=watermark_key())
    _log_given(request, rf=rf, plan=plan, use=FileUse.PREVIEW, body=png, page=page)
    response = HttpResponse(png, content_type="image/png")
    response["Content-Disposition"] = "inline"
    if plan.mark is not None:
        response["X-KJDA-Watermark"] = plan.mark.mark_id
    for header, value in FILE_HEADERS.items():
        response[header] = value
    return response


@dataclass(frozen=True, slots=True)
class Trace:
    """What a mark found in a copy traces back to in the audit log."""

    found: Found | None
    events: list[dict]


def watermark_trace(data: bytes, *, mark_id: str | None = None) -> Trace:
    """The mark in `data` (verified with this installation's key) and the audited responses
    that carried its mark id (or `mark_id`, when the copy lost its embedded data)."""
    found = watermark_read(data, key=watermark_key())
    wanted = mark_id or (found.mark.mark_id if found is not None else None)
    events = [] if not wanted else [
        {"seq": e.seq, "at": e.occurred_at.isoformat(), "user": e.actor_name, **e.detail}
        for e in audit_object_events(object_type=WATERMARK_OBJECT, object_id=wanted)]
    return Trace(found=found, events=events)
