"""Ingest: turn received metadata and files into a filed (or pending) record."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError

from kjda.accounts.selectors import actor_may_file
from kjda.archives import selectors as archive_selectors
from kjda.archives import services as archive_services
from kjda.archives.models import Fonds, Record
from kjda.archives.reference import fonds_for_ingest
from kjda.audit.services import audit_log
from kjda.db.django_private import prefetched_set
from kjda.db.locks import xact_locks
from kjda.db.sqlite.group_commit import expecting, in_transaction
from kjda.errors import DomainError, Forbidden
from kjda.ingest import checks
from kjda.ingest.metadata import RecordMetadata
from kjda.ingest.pipeline import STEPS, IncomingFile, IngestContext, ensure_files, order_files
from kjda.invoices.selectors import invoice_first_claims
from kjda.invoices.services import invoices_save
from kjda.storage.services import Digests, blob_rows_add

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import HttpRequest

# Metadata keys that are not Record columns.
_NOT_COLUMNS = {"fonds", "category", "agents", "relations", "files", "file_count", "total_bytes"}


# Identify → check is CPU work under one GIL per process: pipelines running side by side only
# take the GIL from each other (every file and database call hands it over), so a process runs
# at most KJDA_INGEST_PARALLEL (2) of them at a time; the other requests wait their turn asleep,
# and the web threads stay free for uploads, downloads and callbacks. In the ingest benchmark
# (2 processes × 8 threads, 8 clients) 2 per process gave 2–10 % more records/s than no limit.
_turns: dict[int, threading.BoundedSemaphore] = {}
_turns_lock = threading.Lock()


def _cpu_turn() -> threading.BoundedSemaphore:
    size = max(1, settings.KJDA_INGEST_PARALLEL)
    with _turns_lock:
        return _turns.setdefault(size, threading.BoundedSemaphore(size))


@dataclass
class IngestResult:
    record: Record
    created: bool


def _values(meta: RecordMetadata, retention: str, fonds: Fonds) -> dict[str, Any]:
    values = meta.model_dump(exclude=_NOT_COLUMNS)
    values["retention"] = retention
    # 责任者 (M32) is mandatory; the preparer or applicant stands in, else the unit itself.
    values["responsible"] = (meta.responsible or meta.preparer or meta.applicant
                             or fonds.unit_name)
    return values


def _lookups(ctx: IngestContext) -> None:
    """Inside the filing transaction: the records this one may duplicate."""
    v = ctx.values
    if v.get("document_no"):
        number = (ctx.fonds.pk, ctx.rule.pk, v["fiscal_year"], v.get("voucher_type", ""),
                  v["document_no"])
        # Filings of one voucher number take turns from here to their COMMIT.
        xact_locks(["kjda-document-no:" + "\x1f".join(map(str, number))])
        ctx.duplicate_document_of = archive_selectors.record_filed_with_document_no(
            fonds_id=number[0], rule_id=number[1], fiscal_year=number[2],
            voucher_type=number[3], document_no=number[4])
    ctx.same_content_records = archive_selectors.record_ids_holding_blobs(
        sha256s=list({f.sha256 for f in ctx.files}))


def _invoice_lookups(ctx: IngestContext) -> None:
    """Records that already claimed one of these invoices (财会〔2020〕6号)."""
    identities = [f.invoice["identity"] for f in ctx.files if f.invoice and f.invoice["identity"]]
    if identities:
        ctx.duplicate_claims = invoice_first_claims(identities=identities)


def record_ingest(*, metadata: RecordMetadata, files: list[IncomingFile],
                  actor: User | None, request: HttpRequest | None = None) -> IngestResult:
    """Receive, identify, extract, check and file one record. Idempotent on
    (source_system, external_id): a retry returns the record filed the first time."""
    with expecting():  # the filing transaction may wait a moment for this one to join it
        return _ingest(metadata=metadata, files=files, actor=actor, request=request)


def _ingest(*, metadata: RecordMetadata, files: list[IncomingFile],
            actor: User | None, request: HttpRequest | None) -> IngestResult:
    ensure_files(files)
    existing = archive_selectors.record_find_existing(
        source_system=metadata.source_system, external_id=metadata.external_id)
    if existing is not None:
        return IngestResult(existing, created=False)

    fonds_code = metadata.fonds or None
    fonds = fonds_for_ingest(fonds_code)
    if fonds is None:
        raise DomainError("fonds_unknown", f"全宗 {fonds_code or ''} 不存在",
                          f"fonds {fonds_code or '(default)'} does not exist", status=400)
    if not actor_may_file(actor, fonds_code=fonds.code, department=metadata.department):
        raise Forbidden("out_of_scope", f"无权向全宗 {fonds.code} 的“{metadata.department or '（无部门）'}”归档",
                        f"filing into fonds {fonds.code}, department "
                        f"'{metadata.department}' is outside your scope")
    rule = archive_services.rule_for_category(name=metadata.category,
                                              schedule=fonds.retention_schedule)
    retention = archive_services.retention_resolve(rule=rule, requested=metadata.retention)

    ctx = IngestContext(metadata=metadata, files=order_files(files), actor=actor, fonds=fonds,
                        rule=rule, values=_values(metadata, retention, fonds))
    STEPS[0].run(ctx)  # receive: streaming and fsync, mostly waiting on the disk
    with _cpu_turn():
        for step in STEPS[1:-1]:
            step.run(ctx)
        _invoice_lookups(ctx)
        STEPS[-1].run(ctx)
    try:
        # in a transaction shared with concurrent filings (SQLite: kjda.db.sqlite.group_commit)
        return IngestResult(in_transaction(lambda: _file(ctx, request)), created=True)
    except IntegrityError:
        # A concurrent delivery of the same (source_system, external_id) won the race.
        existing = archive_selectors.record_find_existing(
            source_system=metadata.source_system, external_id=metadata.external_id)
        if existing is None:
            raise
        return IngestResult(existing, created=False)


def _file(ctx: IngestContext, request: HttpRequest | None) -> Record:
    new_files = [
        archive_services.NewFile(
            sha256=f.sha256, sm3=f.sm3, size=f.size, filename=f.filename, role=f.meta.role,
            document_type=f.meta.document_type, format_name=f.format.name,
            format_version=f.format.version, mime=f.format.mime, puid=f.format.puid,
            creating_application=f.meta.creating_application, format_profile=f.format.profile,
            pdfa=f.probe.properties.get("pdfa"), derived_from=f.derived_from,
            signatures=f.signatures)
        for f in ctx.files
    ]
    blob_rows_add([Digests(f.sha256, f.sm3, f.size) for f in ctx.files])
    record = archive_services.record_build(fonds=ctx.fonds, rule=ctx.rule, values=ctx.values,
                                           actor=ctx.actor)
    ctx.record = record
    # Other records are looked at here, in the transaction: what filed meanwhile is seen, and
    # the connection of a thread whose filing another thread runs is not read again.
    _lookups(ctx)
    ctx.results += checks.run_checks(ctx, stage=checks.FILING)
    passed = not any(r.blocking for r in ctx.results)
    if passed:
        archive_services.record_assign_number(record=record)
        ctx.results += checks.run_checks(ctx, stage=checks.AFTER)
        if any(r.blocking for r in ctx.results):
            # A numbering fault is ours, not the user's: never keep a bad number.
            raise DomainError("archive_no_fault", "档号分配异常，已回滚",
                              "archive number allocation failed and was rolled back", status=500)
    record.check_report = checks.report(ctx.results)
    record.check_report["files"] = [
        {"filename": f.filename, "format": f.format.name, "signatures": f.signatures, **f.details}
        for f in ctx.files if f.signatures or f.details]
    actor_name = ctx.actor.get_username() if ctx.actor else ""
    events = [
        {"action": "四性检测", "agent_name": actor_name, "mandate": "DA/T 70-2018; DA/T 94-2022",
         "description": "通过 / passed" if passed else
         "未通过 / failed: " + ", ".join(record.check_report["blocking_failures"])},
        {"action": "归档" if passed else "待处理", "agent_name": actor_name,
         "description": record.archive_no or ("已归档，待封卷编号 / filed, numbered when the "
                                              "volume closes" if passed else
                                              "检测未通过，待处理 / checks failed, pending")},
    ]
    archive_services.record_save_new(
        record=record, files=new_files, agents=[a.model_dump() for a in ctx.metadata.agents],
        relations=[r.model_dump() for r in ctx.metadata.relations], events=events,
        text="\n".join(f.text for f in ctx.files if f.text))
    invoice_rows = []
    if any(f.invoice for f in ctx.files):
        invoice_rows = invoices_save(record=record, files=ctx.files,
                                     first_claims=ctx.duplicate_claims)
    # what was just written is what the answer shows: no query for it (file order, as read)
    prefetched_set(record, "invoices", invoice_rows)
    audit_log(action="record.create", actor=ctx.actor, request=request, object_type="record",
              object_id=str(record.pk),
              detail={"archive_no": record.archive_no, "status": record.status,
                      "files": [f.sha256 for f in ctx.files],
                      "source_system": record.source_system, "external_id": record.external_id})
    return record
