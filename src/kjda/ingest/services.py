"""Ingest: turn received metadata and files into a filed (or pending) record."""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from django.conf import settings
from django.db import IntegrityError, transaction

from kjda.accounts.selectors import actor_may_file
from kjda.archives import selectors as archive_selectors
from kjda.archives import services as archive_services
from kjda.archives.models import Fonds, Record, RecordFile, RecordStatus
from kjda.archives.reference import fonds_for_ingest
from kjda.audit.services import audit_log
from kjda.db.django_private import prefetched_set
from kjda.db.locks import xact_locks
from kjda.db.sqlite.group_commit import expecting, in_transaction
from kjda.errors import Conflict, DomainError, Forbidden
from kjda.formats import identify
from kjda.ingest import checks
from kjda.ingest.metadata import FileMetaIn, RecordMetadata, metadata_parse
from kjda.ingest.pipeline import STEPS, IncomingFile, IngestContext, ensure_files, order_files
from kjda.invoices.selectors import invoice_first_claims, invoices_of_record
from kjda.invoices.services import invoices_save
from kjda.storage.services import Digests, blob_put, blob_read_verified, blob_rows_add

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


def _new_file(f: IncomingFile) -> archive_services.NewFile:
    return archive_services.NewFile(
        sha256=f.sha256, sm3=f.sm3, size=f.size, filename=f.filename, role=f.meta.role,
        document_type=f.meta.document_type, format_name=f.format.name,
        format_version=f.format.version, mime=f.format.mime, puid=f.format.puid,
        creating_application=f.meta.creating_application, format_profile=f.format.profile,
        pdfa=f.probe.properties.get("pdfa"), derived_from=f.derived_from,
        signatures=f.signatures)


def _file(ctx: IngestContext, request: HttpRequest | None) -> Record:
    new_files = [_new_file(f) for f in ctx.files]
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


# --- Putting a pending record right; correcting a filed record's description (issue 17.1) ---

# RecordMetadata fields that are not the record's own description: the delivery's identity
# (the idempotency key of ingest), its entities, its per-file declarations, and `extra`, which
# holds what the sender found (e.g. the attachments missing, GD-2-8): that is answered by
# supplying the file, not by editing the finding away.
_NOT_CORRECTABLE = {"source_system", "external_id", "agents", "relations", "files", "file_count",
                    "total_bytes", "extra"}
# What an archivist may correct on a FILED record: its description. Not what its 档号, class
# code (类别号 = 门类·年度·期限) and term derive from — fonds, category, fiscal_year, retention,
# period: changing them would renumber a filed item (leaving a gap in its class) or shorten its
# term; not department/applicant, which decide who may read it; not date, amount, currency or
# voucher type, the accounting content its files prove (a wrong voucher is corrected by a new
# one, 红字更正, not by editing the archive).
FILED_CORRECTABLE = frozenset({
    "title", "parallel_title", "subtitle", "title_note", "descriptors", "keywords",
    "person_names", "abstract", "classification_no", "document_no", "responsible", "genre",
    "urgency", "main_recipient", "copy_recipient", "notes", "org_unit", "page_no", "page_count",
    "language", "manuscript", "preparer", "prepared_on", "reviewer", "reviewed_on",
    "system_description", "offline_carrier_no", "offline_carrier_location", "microform_no",
    "ip_statement", "authorized_agent", "authorized_action", "control_flag",
})
_MANDATE = "DA/T 94-2022 业务实体"


def _record_metadata_dict(record: Record) -> dict[str, Any]:
    """The record's metadata in the shape ingest receives it (RecordMetadata), so a correction
    or a re-check validates it exactly as ingest did."""
    data: dict[str, Any] = {k: getattr(record, k) for k in RecordMetadata.model_fields
                            if k not in _NOT_CORRECTABLE | {"fonds", "category"}}
    data["fonds"], data["category"] = record.fonds.code, record.rule.name
    data["source_system"], data["external_id"] = record.source_system, record.external_id
    data["extra"] = record.extra
    return data


def _shown(value: Any) -> Any:
    """A metadata value as it is kept in an event or audit detail (JSON: dates and money as text)."""
    if value is None or isinstance(value, (str, int, bool, list, dict)):
        return value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _not_pending(record: Record) -> DomainError:
    if record.status == RecordStatus.FILED:
        return Conflict("record_filed",
                        "已归档档案的内容不可更改（只有档案管理员可更正其描述性元数据）",
                        "a filed record's content cannot change (an archivist may correct its "
                        "descriptive metadata only)")
    return Conflict("record_not_pending",
                    f"档案当前状态为“{record.get_status_display()}”，不能再修改",
                    f"the record is {record.status}: it can no longer be changed")


def _corrector_or_403(actor: User | None, record: Record, *, filer_only: bool = False) -> str:
    kind = archive_selectors.record_corrector(actor=actor, record=record)
    if kind is None:
        raise Forbidden("out_of_scope",
                        f"无权处理该档案（须有向全宗 {record.fonds.code} 的“{record.department or '（无部门）'}”"
                        "归档的权限，或为其申请人）",
                        "you may not put this record right: it needs the right to file into its "
                        "fonds and department, or to be its applicant")
    if filer_only and kind != archive_selectors.CORRECTOR_FILER:
        raise Forbidden("applicant_limited",
                        "申请人只能补充或替换文件并重新检测；更正元数据或撤回请联系财务或档案人员",
                        "an applicant may add or replace files and re-check; for metadata or a "
                        "withdrawal ask the finance or archives staff")
    return kind


def record_file_add(*, record: Record, upload: IncomingFile, replace_file_id: int | None = None,
                    actor: User | None, request: HttpRequest | None = None) -> RecordFile:
    """Add a file to a pending record, or replace one of its files (`replace_file_id`): the
    replaced file's row and bytes stay, marked superseded, with its renditions. Audited
    (`record.file_add` / `record.file_replace`). The checks run again on `record_recheck`."""
    _corrector_or_403(actor, record)
    if record.status != RecordStatus.PENDING:
        raise _not_pending(record)
    ensure_files([upload])
    replaced = None
    if replace_file_id is not None:
        replaced = next((f for f in archive_selectors.record_files_active(record=record)
                         if f.pk == replace_file_id), None)
        if replaced is None or replaced.role == "rendition":
            raise DomainError("file_not_replaceable",
                              f"档案中没有可替换的文件 {replace_file_id}（转换件由系统重新生成）",
                              f"the record has no replaceable file {replace_file_id} (renditions "
                              "are made again by the system)", status=404)
        if not upload.meta.document_type:  # a replacement stands where the file stood
            upload.meta = upload.meta.model_copy(update={"document_type": replaced.document_type,
                                                         "role": replaced.role})
    # Stored first, outside the transaction (streaming and fsync): nothing received is lost.
    stored = blob_put(source=upload.stream, max_bytes=settings.KJDA_MAX_FILE_BYTES, actor=actor)
    upload.sha256, upload.sm3, upload.size = stored.sha256, stored.sm3, stored.size
    upload.format = identify(upload.stream)  # what it is; the re-check reads the rest
    with transaction.atomic():
        locked = archive_services.record_lock(record_id=record.pk)
        if locked.status != RecordStatus.PENDING:
            raise _not_pending(locked)
        blob_rows_add([Digests(upload.sha256, upload.sm3, upload.size)])
        row = archive_services.record_file_row_add(record=locked, file=_new_file(upload))
        name = actor.get_username() if actor else ""
        if replaced is not None:
            archive_services.record_files_supersede(
                files=[replaced, *archive_selectors.record_renditions_of(file=replaced)])
            description = (f"以 {row.filename} 替换 {replaced.filename}（原文件保留） / replaced "
                           f"{replaced.filename} by {row.filename} (the old file is kept)")
        else:
            description = f"补充文件 {row.filename} / file added: {row.filename}"
        archive_services.record_event_add(record=locked,
                                          action="替换文件" if replaced else "补充文件",
                                          description=description, agent_name=name,
                                          mandate=_MANDATE)
        audit_log(action="record.file_replace" if replaced else "record.file_add", actor=actor,
                  request=request, object_type="record", object_id=str(locked.pk),
                  detail={"file_id": row.pk, "filename": row.filename, "sha256": row.sha256,
                          "replaced_file_id": replaced.pk if replaced else None})
    return row


def _spooled(row: RecordFile) -> BinaryIO:
    """The stored bytes of a file, verified as they are read (fixity), held for the pipeline."""
    out = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 - returned
    for chunk in blob_read_verified(sha256=row.sha256, sm3=row.sm3, size=row.size):
        out.write(chunk)
    out.seek(0)
    return cast(BinaryIO, out)


def _attachments_reconcile(ctx: IngestContext) -> None:
    """GD-2-8 on a re-check: an attachment reported missing on receipt counts as supplied when
    the files now hold it (an invoice read from a file, or a file of that document type)."""
    extra = dict(ctx.metadata.extra)
    missing = [str(m) for m in extra.get("missing_attachments") or []]
    if not missing:
        return
    def held(item: str) -> bool:
        name = item.split(" / ")[0].strip()
        if any(name and name == f.meta.document_type for f in ctx.files):
            return True
        return "发票" in name and any(f.invoice for f in ctx.files)
    supplied = [m for m in missing if held(m)]
    extra["missing_attachments"] = [m for m in missing if m not in supplied]
    extra["supplied_attachments"] = [*extra.get("supplied_attachments", []), *supplied]
    ctx.metadata.extra = extra
    ctx.values["extra"] = extra


def record_recheck(*, record: Record, actor: User | None,
                   request: HttpRequest | None = None) -> Record:
    """Run the 四性 checks of a pending record again, through the ingest pipeline's own steps
    (identify, extract, inspect, invoices, renditions, check) over its current files: a new check
    report, the old one kept in the record's history. Passed, the record is filed exactly as a
    fresh filing is (档号 by item, or its class's open volume). Audited (`record.recheck`)."""
    _corrector_or_403(actor, record)
    if record.status != RecordStatus.PENDING:
        raise _not_pending(record)
    active = archive_selectors.record_files_active(record=record)
    originals = [f for f in active if f.role != "rendition"]
    if not originals:
        raise DomainError("files_missing", "档案没有可检测的文件，请先补充文件",
                          "the record has no files to check: add one first")
    meta = metadata_parse(_record_metadata_dict(record))
    rule = record.rule
    retention = archive_services.retention_resolve(rule=rule, requested=record.retention)
    files = [IncomingFile(stream=_spooled(row), filename=row.filename,
                          meta=FileMetaIn(role=row.role,  # type: ignore[arg-type]
                                          document_type=row.document_type,
                                          creating_application=row.creating_application),
                          sha256=row.sha256, sm3=row.sm3, size=row.size,
                          stored_sha256=row.sha256)
             for row in originals]
    row_of = {id(f): row for f, row in zip(files, originals, strict=True)}
    # The declared count and bytes were the first delivery's; the files now are the corrector's.
    ctx = IngestContext(metadata=meta, files=files, actor=actor, fonds=record.fonds, rule=rule,
                        values=_values(meta, retention, record.fonds))
    try:
        with _cpu_turn():  # the same CPU work as a filing, outside the transaction
            for step in STEPS[1:-1]:
                step.run(ctx)
            _attachments_reconcile(ctx)
            _invoice_lookups(ctx)
            ctx.duplicate_claims = {k: r for k, r in ctx.duplicate_claims.items()
                                    if r.pk != record.pk}  # its own invoices are no duplicate
            STEPS[-1].run(ctx)
        return _recheck_file(ctx, record, active, row_of, request)
    finally:
        for f in files:
            f.stream.close()


def _recheck_file(ctx: IngestContext, record: Record, active: list[RecordFile],
                  row_of: dict[int, RecordFile], request: HttpRequest | None) -> Record:
    actor = ctx.actor
    name = actor.get_username() if actor else ""
    with transaction.atomic():
        locked = archive_services.record_lock(record_id=record.pk)
        if locked.status != RecordStatus.PENDING:
            raise _not_pending(locked)
        if {f.pk for f in archive_selectors.record_files_active(record=locked)} != {
                f.pk for f in active}:
            raise Conflict("files_changed", "检测期间文件有变动，请重新检测",
                           "the files changed while they were checked: re-check again",
                           retryable=True)
        previous = list(locked.check_report.get("blocking_failures", []))
        archive_services.record_report_supersede(record=locked, by=name)
        ctx.record = locked
        renditions = [f for f in ctx.files if f.derived_from is not None]
        blob_rows_add([Digests(f.sha256, f.sm3, f.size) for f in renditions])
        _lookups(ctx)
        ctx.same_content_records = [i for i in ctx.same_content_records if i != locked.pk]
        ctx.results += checks.run_checks(ctx, stage=checks.FILING)
        passed = not any(r.blocking for r in ctx.results)
        if passed:
            archive_services.record_assign_number(record=locked)
            ctx.results += checks.run_checks(ctx, stage=checks.AFTER)
            if any(r.blocking for r in ctx.results):
                raise DomainError("archive_no_fault", "档号分配异常，已回滚",
                                  "archive number allocation failed and was rolled back",
                                  status=500)
        locked.check_report = checks.report(ctx.results)
        locked.check_report["files"] = [
            {"filename": f.filename, "format": f.format.name, "signatures": f.signatures,
             **f.details} for f in ctx.files if f.signatures or f.details]
        locked.check_report["recheck"] = True
        locked.extra = ctx.values["extra"]
        locked.save()
        # Kept files: what was read of them now; renditions: made again, the old ones kept.
        for f in ctx.files:
            if f.derived_from is None:
                archive_services.record_file_properties_set(row=row_of[id(f)], file=_new_file(f))
        archive_services.record_files_supersede(
            files=[f for f in active if f.role == "rendition"])
        for f in renditions:
            original = row_of[id(ctx.files[f.derived_from])]  # type: ignore[index]
            row_of[id(f)] = archive_services.record_file_row_add(
                record=locked, file=_new_file(f), derived_from=original)
        held = {i.file_id for i in invoices_of_record(record=locked)}
        need = [f for f in ctx.files if f.invoice and row_of[id(f)].pk not in held]
        if need:
            invoices_save(record=locked, files=need, first_claims=ctx.duplicate_claims,
                          file_rows=[row_of[id(f)] for f in need])
        archive_services.record_text_set(
            record=locked, text="\n".join(f.text for f in ctx.files if f.text))
        failures = locked.check_report["blocking_failures"]
        archive_services.record_event_add(
            record=locked, action="四性检测", agent_name=name, mandate="DA/T 70-2018; DA/T 94-2022",
            description="重新检测：通过 / re-checked: passed" if passed else
            "重新检测：未通过 / re-checked: failed: " + ", ".join(failures))
        archive_services.record_event_add(
            record=locked, action="归档" if passed else "待处理", agent_name=name,
            description=locked.archive_no or (
                "已归档，待封卷编号 / filed, numbered when the volume closes" if passed else
                "检测未通过，待处理 / checks failed, pending"))
        audit_log(action="record.recheck", actor=actor, request=request, object_type="record",
                  object_id=str(locked.pk),
                  detail={"passed": passed, "status": locked.status,
                          "archive_no": locked.archive_no, "blocking_failures": failures,
                          "previous_blocking_failures": previous})
    return locked


def record_metadata_correct(*, record: Record, changes: dict[str, Any], actor: User | None,
                            request: HttpRequest | None = None) -> Record:
    """Correct a record's metadata, validated as ingest validates it (RecordMetadata). Pending:
    any field but the delivery's identity, by whoever may file into its scope (a new fonds,
    category or term is resolved as ingest resolves it); the checks run again on re-check.
    Filed: the descriptive fields only (FILED_CORRECTABLE), by an archivist of its scope.
    Each change is a 元数据更正 business event with before and after, audited (`record.correct`)."""
    if not isinstance(changes, dict) or not changes:
        raise DomainError("no_change", "没有要更正的字段", "no fields to correct")
    unknown = sorted(set(changes) - set(RecordMetadata.model_fields))
    if unknown:
        raise DomainError("field_unknown", f"未知字段：{', '.join(unknown)}",
                          f"unknown fields: {', '.join(unknown)}", status=422)
    if record.status == RecordStatus.FILED:
        if not archive_selectors.record_archivist_may_correct(actor=actor, record=record):
            raise Forbidden("archivist_only", "已归档档案的元数据只能由其范围内的档案管理员更正",
                            "a filed record's metadata is corrected by an archivist of its scope")
        locked_fields = sorted(set(changes) - FILED_CORRECTABLE)
        if locked_fields:
            raise Conflict("field_locked",
                           f"已归档档案的这些字段不可更正（档号、类别号、保管期限或内容由其决定）："
                           f"{', '.join(locked_fields)}",
                           f"these fields of a filed record cannot be corrected (its archive "
                           f"number, class, term or content derive from them): "
                           f"{', '.join(locked_fields)}")
    elif record.status == RecordStatus.PENDING:
        _corrector_or_403(actor, record, filer_only=True)
        locked_fields = sorted(set(changes) & _NOT_CORRECTABLE)
        if locked_fields:
            raise DomainError("field_locked", f"这些字段不可更正：{', '.join(locked_fields)}",
                              f"these fields cannot be corrected: {', '.join(locked_fields)}")
    else:
        raise _not_pending(record)
    meta = metadata_parse({**_record_metadata_dict(record), **changes})  # 422 as on ingest
    with transaction.atomic():
        locked = archive_services.record_lock(record_id=record.pk)
        if locked.status != record.status:
            raise _not_pending(locked)
        before = {k: _shown(v) for k, v in _record_metadata_dict(locked).items()}
        if locked.status == RecordStatus.FILED:
            _filed_duplicate_check(locked, meta)
            values = {k: getattr(meta, k) for k in changes}
            if "responsible" in values and not values["responsible"]:
                values["responsible"] = locked.responsible  # M32 is mandatory
            for k, v in values.items():
                setattr(locked, k, v)
        else:
            fonds = fonds_for_ingest(meta.fonds)
            if fonds is None:
                raise DomainError("fonds_unknown", f"全宗 {meta.fonds} 不存在",
                                  f"fonds {meta.fonds} does not exist", status=400)
            if not actor_may_file(actor, fonds_code=fonds.code, department=meta.department):
                raise Forbidden("out_of_scope",
                                f"无权向全宗 {fonds.code} 的“{meta.department or '（无部门）'}”归档",
                                f"filing into fonds {fonds.code}, department "
                                f"'{meta.department}' is outside your scope")
            rule = archive_services.rule_for_category(name=meta.category)
            retention = archive_services.retention_resolve(rule=rule, requested=meta.retention)
            for k, v in _values(meta, retention, fonds).items():
                setattr(locked, k, v)
            archive_services.record_class_set(record=locked, fonds=fonds, rule=rule)
        after = {k: _shown(v) for k, v in _record_metadata_dict(locked).items()}
        changed = {k: {"before": before[k], "after": after[k]} for k in after
                   if before.get(k) != after[k]}
        if not changed:
            raise DomainError("no_change", "更正后的值与原值相同", "the values given are unchanged")
        locked.save()
        name = actor.get_username() if actor else ""
        archive_services.record_event_add(
            record=locked, action="元数据更正", agent_name=name, mandate=_MANDATE,
            description="; ".join(f"{k}: {c['before']!r} → {c['after']!r}"
                                  for k, c in changed.items()))
        archive_services.record_text_set(record=locked)  # the title, numbers … are indexed
        audit_log(action="record.correct", actor=actor, request=request, object_type="record",
                  object_id=str(locked.pk), detail={"status": locked.status, "changes": changed})
    return locked


def _filed_duplicate_check(record: Record, meta: RecordMetadata) -> None:
    """A corrected voucher number must not duplicate another filed record's (GD-1-8)."""
    if not meta.document_no or meta.document_no == record.document_no:
        return
    other = archive_selectors.record_filed_with_document_no(
        fonds_id=record.fonds_id, rule_id=record.rule_id, fiscal_year=record.fiscal_year,
        voucher_type=record.voucher_type, document_no=meta.document_no)
    if other is not None and other != record.pk:
        raise Conflict("document_no_duplicate", f"凭证/文件编号 {meta.document_no} 已被其他档案使用",
                       f"document number {meta.document_no} is already used by another record")
