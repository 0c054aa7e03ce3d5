from __future__ import annotations

import tempfile
from datetime import date
from decimal import Decimal
from typing import Any, BinaryIO, cast

from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from ninja import Body, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile

from kjda.accounts.requests import AuthedRequest
from kjda.accounts.roles import Perm
from kjda.accounts.selectors import Actor
from kjda.archives import selectors
from kjda.archives.access_log import (
    FileUse,
    file_download_log,
    record_export_log,
    record_search_log,
    record_view_log,
)
from kjda.archives.downloads import FILE_HEADERS
from kjda.archives.export import catalogue_csv, catalogue_xlsx, record_metadata_xml
from kjda.archives.models import Record, RecordFile
from kjda.archives.services import record_withdraw
from kjda.ingest.metadata import FileMetaIn, metadata_file_parse, metadata_parse
from kjda.ingest.pipeline import IncomingFile
from kjda.ingest.selectors import check_report_for, existing_record_for
from kjda.ingest.services import (
    record_file_add,
    record_ingest,
    record_metadata_correct,
    record_recheck,
)
from kjda.invoices.selectors import (
    InvoiceFilters,
    invoice_duplicates_for,
    invoice_record_condition,
    invoices_of_record,
)
from kjda.invoices.services import invoice_public
from kjda.lifecycle.file_use import file_use_response
from kjda.lifecycle.volumes.selectors import volume_of_record

from .permissions import require, require_token_scope
from .schemas import RecordListOut, RecordOut, RecordWithdrawIn

router = Router(tags=["records"])

_DETAIL_FIELDS = [
    "class_code", "volume_no", "item_no", "retention_expires_on", "custody", "custody_since",
    "document_no", "voucher_type",
    "responsible", "security_level", "preparer", "prepared_on", "reviewer", "reviewed_on",
    "base_currency", "keywords", "abstract", "notes", "filed_at",
]
_METADATA_FIELDS = [
    "catalogue_no", "org_unit", "page_no", "parallel_title", "subtitle", "title_note",
    "descriptors", "person_names", "classification_no", "genre", "urgency", "main_recipient",
    "copy_recipient", "secrecy_period", "page_count", "language", "manuscript",
    "system_description", "digitized_form", "scan_resolution", "scan_color_mode",
    "image_compression", "offline_carrier_no", "offline_carrier_location", "microform_no",
    "ip_statement", "authorized_agent", "authorized_action", "control_flag", "asset_disposed_on",
    "extra",
]


def record_summary(r: Record) -> dict:
    return {
        "id": r.pk, "record_no": str(r.record_no), "archive_no": r.archive_no, "status": r.status,
        "fonds": r.fonds.code, "category": r.rule.name, "category_group": r.category.name,
        "fiscal_year": r.fiscal_year, "period": r.period, "title": r.title, "date": r.date,
        "amount": r.amount, "currency": r.currency, "department": r.department,
        "applicant": r.applicant, "retention": r.retention, "source_system": r.source_system,
        "external_id": r.external_id, "created_at": r.created_at,
    }


def file_dict(f: RecordFile) -> dict:
    return {
        "id": f.pk, "sequence": f.sequence, "role": f.role, "document_type": f.document_type,
        "filename": f.filename, "size": f.size, "sha256": f.sha256, "sm3": f.sm3,
        "format": f.format_name, "format_version": f.format_version, "mime": f.mime,
        "puid": f.puid, "profile": f.format_profile, "pdfa": f.pdfa,
        "signatures": f.signatures, "derived_from": f.derived_from_id,
        "content_url": f"/api/v1/files/{f.pk}/content", "superseded_at": f.superseded_at,
    }


def _pick(obj, *names: str) -> dict:
    return {n: getattr(obj, n) for n in names}


def _events(r: Record, attr: str) -> list:
    if hasattr(r, attr):  # prefetched by selectors.record_get
        return list(getattr(r, attr))
    events = r.business_events.all()
    return [e for e in events if (e.action == "利用") == (attr == "uses_recent")]


def record_detail(r: Record, actor: Actor) -> dict:
    """A record as `actor` sees it: other records it names (relations, duplicate claims, the
    check report) are named only when they are in the actor's scope."""
    data = record_summary(r)
    data.update({k: getattr(r, k) for k in _DETAIL_FIELDS})
    data["metadata"] = {k: getattr(r, k) for k in _METADATA_FIELDS}
    data["files"] = [file_dict(f) for f in r.files.all()]
    data["agents"] = [_pick(a, "agent_type", "name", "org_code", "position", "role")
                      for a in r.agents.all()]
    data["relations"] = selectors.record_relations_for(actor=actor, record=r)
    # the events but uses, then the latest uses (the metadata export has them all)
    data["events"] = [_pick(e, "status", "action", "occurred_at", "mandate", "description",
                            "agent_name") for e in [*_events(r, "events_shown"),
                                                    *_events(r, "uses_recent")]]
    data["use_count"] = getattr(r, "use_count", None)
    data["check_report"] = check_report_for(actor=actor, report=r.check_report)
    invoices = invoices_of_record(record=r)
    claims = invoice_duplicates_for(actor=actor, invoices=invoices)
    # duplicate_of: the first claim's id when visible (else null); duplicate_claim: as
    # /invoices/check answers it ({visible: false} outside the actor's scope)
    data["invoices"] = [dict(invoice_public(i.data), file_id=i.file_id,
                             duplicate_of=(claim or {}).get("record_id"), duplicate_claim=claim)
                        for i, claim in zip(invoices, claims, strict=True)]
    data["invoice"] = data["invoices"][0] if data["invoices"] else None
    data["check_history"] = [
        {"superseded_at": h.superseded_at, "status": h.status,
         "report": check_report_for(actor=actor, report=h.report)}
        # only a re-checked record has a history (no query for every other record)
        for h in (selectors.record_past_reports(record=r) if r.check_report.get("recheck")
                  else [])]
    data["volume"] = volume_of_record(record=r)
    return data


@router.post("/records", response={200: RecordOut, 201: RecordOut},
             summary="File a record (multipart: metadata JSON + files)")
def record_create(request: AuthedRequest, metadata: Form[str | None] = None,
                  files: File[list[UploadedFile]] = None):  # type: ignore[assignment]
    """Receive, check (四性检测) and file one record. Returns 201 with the new record, or 200
    with the existing one when (`source_system`, `external_id`) was filed before."""
    require(request, Perm.RECORD_INGEST)
    meta = metadata_parse(metadata)
    uploads = list(files or [])
    incoming = [
        IncomingFile(stream=cast(BinaryIO, u),  # an UploadedFile reads as a binary file
                     filename=((meta.files[i].filename if i < len(meta.files) else None)
                               or u.name or f"file{i + 1}"),
                     meta=meta.files[i] if i < len(meta.files) else FileMetaIn(),
                     declared_mime=u.content_type or "")
        for i, u in enumerate(uploads)
    ]
    result = record_ingest(metadata=meta, files=incoming, actor=request.user, request=request)
    # A new record comes back with what was written; an existing one is read in the caller's
    # scope (outside it: 409, naming no record).
    record = result.record if result.created else existing_record_for(
        actor=request.user, record=result.record)
    return Status(201 if result.created else 200, record_detail(record, request.user))


_INVOICE_FILTERS = ("invoice_number", "seller", "buyer", "tax_id", "amount_min", "amount_max",
                    "issue_date_from", "issue_date_to")


class RecordQuery(Schema):
    fonds: str | None = None
    category: str | None = None
    fiscal_year: int | None = None
    status: str | None = None
    source_system: str | None = None
    external_id: str | None = None
    department: str | None = None
    applicant: str | None = None
    q: str | None = None
    invoice_number: str | None = None
    seller: str | None = None
    buyer: str | None = None
    tax_id: str | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    issue_date_from: date | None = None
    issue_date_to: date | None = None
    limit: int = 20
    offset: int = 0
    format: str = "json"  # json | csv | xlsx (the catalogue of every matching record)


@router.get("/records", response=RecordListOut, summary="List and search records")
def record_list(request: HttpRequest, query: Query[RecordQuery]):
    """`format=csv` or `format=xlsx` exports the catalogue (目录, DA/T 94 Table F.1) of every
    matching record in the caller's scope."""
    require(request, Perm.RECORD_READ)
    params = query.dict(exclude={"limit", "offset", "format"})
    invoice = invoice_record_condition(
        InvoiceFilters(**{k: params.pop(k) for k in _INVOICE_FILTERS}))
    filters = selectors.RecordFilters(**params, invoice=invoice)
    qs = selectors.record_list(actor=request.user, filters=filters)
    if query.format in ("csv", "xlsx"):
        return _catalogue_export(request, qs, query)
    limit = max(1, min(query.limit, 200))
    offset = max(0, query.offset)
    items = [record_summary(r) for r in qs[offset:offset + limit]]
    count = qs.count()
    if query.q:
        record_search_log(request=request, detail={"q": query.q[:200], "count": count})
    return {"items": items, "count": count}


def _catalogue_export(request: HttpRequest, qs: QuerySet[Record], query: RecordQuery
                      ) -> HttpResponseBase:
    filters = {k: str(v) for k, v in query.dict(exclude={"limit", "offset", "format"},
                                                exclude_none=True).items()}
    record_export_log(request=request, action="record.export",
                      detail={"format": query.format, "filters": filters})
    records = qs.prefetch_related("files").iterator(chunk_size=2000)
    if query.format == "csv":
        response = StreamingHttpResponse(
            catalogue_csv(records), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="kjda-catalogue.csv"'
        return response
    out = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it
    catalogue_xlsx(records, out)
    out.seek(0)
    return FileResponse(
        out, as_attachment=True, filename="kjda-catalogue.xlsx",
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@router.get("/records/{record_id}", response=RecordOut, summary="One record with its files")
def record_get(request: HttpRequest, record_id: int):
    record = _get(request, record_id)
    record_view_log(request=request, record_id=record.pk)
    return record_detail(record, request.user)


@router.get("/records/{record_id}/metadata.xml", summary="DA/T 94 metadata as XML")
def record_metadata(request: HttpRequest, record_id: int):
    record = _get(request, record_id)
    record_export_log(request=request, action="record.export_metadata", record_id=record.pk)
    relations = selectors.record_relations_for(actor=request.user, record=record)
    response = HttpResponse(record_metadata_xml(record, relations=relations),
                            content_type="application/xml; charset=utf-8")
    for name, value in FILE_HEADERS.items():  # a document, never a page: no script, no sniffing
        response[name] = value
    return response


def _get(request: HttpRequest, record_id: int) -> Record:
    require_token_scope(request, "read")
    try:
        return selectors.record_get(actor=request.user, record_id=record_id)
    except Exception:
        record_view_log(request=request, record_id=record_id, refused=True)
        raise


@router.get("/files/{file_id}/content", summary="Download a file (watermarked by policy)")
def file_content(request: HttpRequest, file_id: int, inline: bool = False,
                 for_print: bool = Query(False, alias="print")):
    """The file's exact bytes, or, under KJDA_WATERMARK (and a loan's rights), a watermarked
    copy (header X-KJDA-Watermark) of it or of its PDF/A rendition. `inline` previews, `print`
    is the print copy."""
    require_token_scope(request, "read")
    try:
        rf = selectors.record_file_get(actor=request.user, file_id=file_id)
    except Exception:
        file_download_log(request=request, file_id=file_id, refused=True)
        raise
    use = (FileUse.PRINT if for_print else FileUse.PREVIEW if inline else FileUse.DOWNLOAD)
    return file_use_response(request=request, rf=rf, use=use)


# --- Putting a pending record right (issue 17 item 1). Token scope `ingest`, as for filing; who
# may do what to which record is the services' decision (whoever may file into its scope; its
# applicant adds or replaces files and re-checks; a filed record's description: an archivist).

def _for_correction(request: AuthedRequest, record_id: int) -> Record:
    require_token_scope(request, "ingest")
    return _get(request, record_id)


def _answer(request: AuthedRequest, record: Record) -> dict:
    return record_detail(selectors.record_get(actor=request.user, record_id=record.pk),
                         request.user)


@router.patch("/records/{record_id}", response=RecordOut, summary="Correct a record's metadata")
def record_correct(request: AuthedRequest, record_id: int,
                   changes: Body[dict[str, Any]]):
    """Fields named as on ingest. Pending: any metadata field but the delivery's own
    (source_system, external_id, agents, relations, files, extra), validated as on ingest;
    re-check afterwards. Filed: the descriptive fields only, by an archivist; each change is a
    元数据更正 event with before and after. 409 for a field a filed record's 档号, class, term
    or content derive from."""
    record = _for_correction(request, record_id)
    record = record_metadata_correct(record=record, changes=changes,
                                     actor=request.user, request=request)
    return _answer(request, record)


@router.post("/records/{record_id}/files", response={201: RecordOut},
             summary="Add a file to a pending record, or replace one (multipart)")
def record_file_post(request: AuthedRequest, record_id: int,
                     file: File[UploadedFile],
                     replace: Form[int | None] = None, document_type: Form[str] = "",
                     role: Form[str] = "original"):
    """`file`: the new file; `replace=<file_id>`: the file it replaces (kept, marked superseded);
    `document_type`, `role` as in ingest's per-file metadata. A filed record's files: 409.
    The checks run again on `POST …/recheck`."""
    record = _for_correction(request, record_id)
    meta = metadata_file_parse({"document_type": document_type, "role": role})
    upload = IncomingFile(stream=cast(BinaryIO, file), filename=file.name or "file",
                          meta=meta, declared_mime=file.content_type or "")
    record_file_add(record=record, upload=upload, replace_file_id=replace, actor=request.user,
                    request=request)
    return Status(201, _answer(request, record))


@router.post("/records/{record_id}/recheck", response=RecordOut,
             summary="Run the 四性 checks of a pending record again")
def record_recheck_post(request: AuthedRequest, record_id: int):
    """A new check report (the old one is kept in `check_history`); passed, the record is
    filed with its 档号 (or joins its volume) as a fresh filing is."""
    record = _for_correction(request, record_id)
    return _answer(request, record_recheck(record=record, actor=request.user, request=request))


@router.post("/records/{record_id}/withdraw", response=RecordOut,
             summary="Withdraw a pending record with a reason")
def record_withdraw_post(request: AuthedRequest, record_id: int, body: RecordWithdrawIn):
    """The record is kept with status `withdrawn` (已撤回) and the reason as a business event."""
    record = _for_correction(request, record_id)
    record_withdraw(record=record, reason=body.reason, actor=request.user, request=request)
    return _answer(request, record)
