"""Record list and search, record detail, and file download / inline preview."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from kjda.accounts.grants import actor_grant
from kjda.accounts.roles import Perm
from kjda.archives import selectors
from kjda.archives.access_log import (
    FileUse,
    file_download_log,
    record_search_log,
    record_view_log,
)
from kjda.archives.downloads import FILE_HEADERS, file_previewable
from kjda.archives.models import Record, RecordFile, RecordStatus
from kjda.errors import DomainError, NotFound
from kjda.ingest.selectors import check_report_for
from kjda.invoices.selectors import invoice_duplicates_for, invoices_of_record
from kjda.lifecycle.file_use import (
    file_page_count,
    file_page_response,
    file_use_response,
    use_allowed,
)
from kjda.lifecycle.formatwatch.selectors import migration_renditions
from kjda.lifecycle.mentions import mentions_of_record
from kjda.lifecycle.preservation.selectors import fixity_items
from kjda.web import presenters
from kjda.web.forms import RecordFilterForm
from kjda.web.permissions import perm_required
from kjda.web.requests import HtmxRequest
from kjda.web.views.correction import correction_form_fields
from kjda.web.views.loans import record_request_access

PAGE_SIZE = 20


@perm_required(Perm.RECORD_READ)
def record_list(request: HtmxRequest) -> HttpResponse:
    form = RecordFilterForm(request.GET, fonds_list=selectors.fonds_list(actor=request.user),
                            rules=selectors.retention_rule_list())
    filters = form.filters()
    records = selectors.record_list(actor=request.user, filters=filters)
    page = Paginator(records, PAGE_SIZE).get_page(request.GET.get("page"))
    if form.is_filtered():
        record_search_log(request=request, detail={
            "q": (filters.q or "")[:200], "fonds": filters.fonds, "category": filters.category,
            "fiscal_year": filters.fiscal_year, "status": filters.status,
            "count": page.paginator.count})
    template = "web/_record_results.html" if request.htmx else "web/record_list.html"
    response = render(request, template, {"form": form, "page": page})
    patch_vary_headers(response, ["HX-Request"])
    return response


def _record_or_404(request: HttpRequest, record_id: int) -> Record:
    try:
        return selectors.record_get(actor=request.user, record_id=record_id)
    except NotFound as exc:
        record_view_log(request=request, record_id=record_id, refused=True)
        raise Http404(exc.en) from exc


@login_required
def record_detail(request: HttpRequest, record_id: int) -> HttpResponse:
    try:
        record = _record_or_404(request, record_id)
    except Http404:  # out of scope: offer to borrow it (issue 18), naming only the id
        if (page := record_request_access(request, record_id)) is not None:
            return page
        raise
    record_view_log(request=request, record_id=record.pk)
    files = list(record.files.all())
    loan = actor_grant(request.user, record.pk)  # read once per request (record_view_log too)
    invoices = invoices_of_record(record=record)
    report = check_report_for(actor=request.user, report=record.check_report)
    # other records this one names appear only when they are in the reader's scope
    return render(request, "web/record_detail.html", {
        "record": record,
        "files": files,
        # renditions made by the format watch (issue 19 item 6), marked under their original
        "migrated": migration_renditions(file_ids=[f.pk for f in files if f.derived_from_id]),
        "previews": [f for f in files if file_previewable(f)],
        "loan": loan,
        "may_download": use_allowed(loan, FileUse.DOWNLOAD),
        "may_print": use_allowed(loan, FileUse.PRINT),
        "report": report,
        # the 长期保存 stage: each current file's last fixity result (issue 19 item 1)
        "fixity_items": fixity_items(files=files),
        "relations": selectors.record_relations_for(actor=request.user, record=record),
        "groups": presenters.metadata_groups(record),
        "invoices": presenters.invoice_panels(
            invoices, invoice_duplicates_for(actor=request.user, invoices=invoices)),
        "trail": presenters.record_audit_trail(actor=request.user, record=record),
        "mentions": mentions_of_record(record),
        **_correction_context(request, record, files, report),
    })


def _correction_context(request: HttpRequest, record: Record, files: list[RecordFile],
                        report: dict[str, Any]) -> dict[str, Any]:
    """What the page offers to put the record right (issue 17 item 1), and its history of
    check reports."""
    kind = (selectors.record_corrector(actor=request.user, record=record)
            if record.status == RecordStatus.PENDING else None)
    archivist = (record.status == RecordStatus.FILED
                 and selectors.record_archivist_may_correct(actor=request.user, record=record))
    return {
        "corrector": kind,
        "may_edit": kind == selectors.CORRECTOR_FILER or archivist,
        "blocking": [i for i in report.get("items", []) if i.get("blocking")],
        "replaceable": [f for f in files if f.superseded_at is None and f.role != "rendition"],
        "edit_fields": correction_form_fields(record) if kind == selectors.CORRECTOR_FILER
        or archivist else [],
        "past_reports": [
            {"superseded_at": h.superseded_at, "status": h.status, "by": h.superseded_by,
             "report": check_report_for(actor=request.user, report=h.report)}
            # only a re-checked record has a history (no query for every other record)
            for h in (selectors.record_past_reports(record=record)
                      if record.check_report.get("recheck") else [])],
    }


def _file_or_404(request: HttpRequest, file_id: int) -> RecordFile:
    try:
        return selectors.record_file_get(actor=request.user, file_id=file_id)
    except NotFound as exc:
        file_download_log(request=request, file_id=file_id, refused=True)
        raise Http404(exc.en) from exc


@login_required
def file_content(request: HttpRequest, file_id: int) -> HttpResponseBase:
    """A file for the reader: `?inline=1` the preview, `?print=1` the print copy, else the
    download; watermarked and limited by a loan as kjda.lifecycle.file_use decides."""
    rf = _file_or_404(request, file_id)
    use = (FileUse.PRINT if request.GET.get("print") == "1"
           else FileUse.PREVIEW if request.GET.get("inline") == "1" else FileUse.DOWNLOAD)
    try:
        return file_use_response(request=request, rf=rf, use=use)
    except DomainError as exc:  # refused, missing or damaged: said plainly, never the bytes
        return _plain(exc)


def _plain(exc: DomainError) -> HttpResponse:
    response = HttpResponse(exc.message, status=exc.status,
                            content_type="text/plain; charset=utf-8")
    for name, value in FILE_HEADERS.items():
        response[name] = value
    return response


@login_required
def file_page(request: HttpRequest, file_id: int, page: int) -> HttpResponseBase:
    """One page of a PDF preview as a PNG (watermarked like the PDF), for phones."""
    rf = _file_or_404(request, file_id)
    try:
        return file_page_response(request=request, rf=rf, page=page)
    except DomainError as exc:
        return _plain(exc)


@login_required
def file_pages(request: HttpRequest, file_id: int) -> HttpResponse:
    """Every page of a PDF preview as images, one under the other (a phone's PDF viewer)."""
    rf = _file_or_404(request, file_id)
    try:
        count = file_page_count(actor=request.user, rf=rf)
    except DomainError as exc:
        return _plain(exc)
    return render(request, "web/file_pages.html",
                  {"file": rf, "record": rf.record, "pages": range(1, count + 1)})
