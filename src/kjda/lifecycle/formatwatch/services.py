"""格式监测: flag a format at risk, and migrate its files.

`format_risk_flag` records the archivist's judgement and, when a format is flagged, enqueues the
migration after commit. `format_migrate` is the job: every current file of the format in a filed
record that has no current rendition in the target format gets one, made by the ingest rendition
converters (`kjda.ingest.longterm`, which refuse anything the PDF/A checker faults), identified
and probed as ingest does, stored, and added to the record by the archives service that keeps
the original untouched — one transaction per file, with a DA/T 94 迁移 event. A file that cannot
be converted is reported in the run's summary and, when the refusal is the converter's own
verdict, not tried again; a run that stops half-way is finished by the next (the candidates are
always "files without a rendition").
"""

from __future__ import annotations

import io
import logging
import os
from collections import Counter
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone
from django_tasks import task

from kjda.accounts.roles import Perm
from kjda.accounts.selectors import actor_can
from kjda.archives.models import RecordFile
from kjda.archives.services import NewFile, record_preservation_rendition_add
from kjda.audit.services import audit_log
from kjda.errors import Conflict, DomainError, Forbidden, NotFound
from kjda.formats import handler_for, identify
from kjda.ingest import longterm
from kjda.lifecycle.formatwatch.models import (
    FileMigration,
    FileOutcome,
    FormatEntry,
    MigrationRun,
    RunState,
)
from kjda.lifecycle.formatwatch.registry import TARGETS
from kjda.lifecycle.formatwatch.selectors import (
    format_candidates,
    format_entry_get,
    format_given_up_count,
)
from kjda.storage.services import StorageError, blob_put, blob_read_verified, blob_rows_add

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import HttpRequest

log = logging.getLogger(__name__)

MAX_BYTES = 64 * 1024 * 1024  # as the ingest Convert step (kjda.ingest.pipeline)
MAX_ATTEMPTS = 3  # a file that failed for a passing reason (the store) is tried this often
FAILURES_KEPT = 200  # files listed in a run's summary (the counts cover all)
MANDATE = "GB/T 39784-2021 保存：格式迁移与转换；DA/T 94-2022 §6.4"


def format_risk_flag(*, entry: FormatEntry, at_risk: bool, reason: str,
                     by: User | None = None, request: HttpRequest | None = None) -> FormatEntry:
    """Flag a format at risk (or clear the flag), with the reason; audited (`format.risk`).
    Flagging enqueues the migration after commit; a cleared flag stops the runs to come (a run
    under way stops at its next batch). `by` None: the operator's command line."""
    if by is not None and not actor_can(by, Perm.FORMAT_MANAGE):
        raise Forbidden("forbidden", "只有档案管理员或系统管理员可以标记格式风险",
                        "only an archivist or the system administrator flags a format")
    reason = (reason or "").strip()
    if at_risk and not reason:
        raise DomainError("reason_missing", "标记风险须说明原因", "flagging a format needs a reason")
    if len(reason) > 2000:
        raise DomainError("reason_too_long", "原因不得超过 2000 字", "the reason is over 2000 characters")
    with transaction.atomic():
        entry = FormatEntry.objects.select_for_update().get(pk=entry.pk)
        was = entry.at_risk
        entry.at_risk = at_risk
        entry.risk_reason = reason if at_risk else (reason or entry.risk_reason)
        entry.flagged_by = by if at_risk else entry.flagged_by
        entry.flagged_at = timezone.now() if at_risk else None
        entry.save()
        audit_log(action="format.risk", actor=by, request=request,
                  actor_name=None if by else "命令行 / cli", object_type="format",
                  object_id=entry.format_id,
                  detail={"at_risk": at_risk, "was": was, "reason": reason,
                          "target": entry.target_format, "converter": entry.has_converter})
        if at_risk:
            format_id = entry.format_id
            transaction.on_commit(lambda: format_migrate_task.enqueue(format_id, "flag"))
    return entry


def format_migrate(*, format_id: str, trigger: str = "cli", actor: User | None = None,
                   batch: int = 200) -> MigrationRun:
    """Migrate the flagged format's files now: the run's summary. Audited (`format.migrate`,
    once a run; each rendition is `record.rendition_add` on its record)."""
    entry = format_entry_get(format_id=format_id)
    if not entry.at_risk:
        raise Conflict("format_not_at_risk", f"{entry.format_id} 未标记为风险格式，不迁移",
                       f"{entry.format_id} is not flagged at risk: nothing is migrated")
    run = MigrationRun.objects.create(entry=entry, target_format=entry.target_format,
                                      trigger=trigger, started_by=actor,
                                      started_at=timezone.now())
    given_up = format_given_up_count(entry=entry)
    reasons: Counter[str] = Counter()
    failures: list[dict[str, Any]] = []
    if entry.target_format not in TARGETS or not entry.has_converter:
        run.candidates = format_candidates(entry=entry).count()
        run.state = RunState.NO_CONVERTER
        if run.candidates:
            reasons["无可用转换工具 / no converter for this format"] = run.candidates
    else:
        run.state = _migrate_all(entry, run, reasons, failures, actor, batch)
    run.given_up, run.reasons, run.failures = given_up, dict(reasons), failures[:FAILURES_KEPT]
    run.failed = len(failures)
    run.finished_at = timezone.now()
    run.save()
    audit_log(action="format.migrate", actor=actor, actor_name=None if actor else "系统",
              object_type="format", object_id=entry.format_id,
              detail={"run": run.pk, "state": run.state, "candidates": run.candidates,
                      "migrated": run.migrated, "failed": run.failed, "given_up": given_up,
                      "reasons": dict(reasons)})
    return run


def _migrate_all(entry: FormatEntry, run: MigrationRun, reasons: Counter[str],
                 failures: list[dict[str, Any]], actor: User | None, batch: int) -> str:
    run.candidates = format_candidates(entry=entry).count()
    after = 0  # files in id order: each is tried once a run, whatever its outcome
    while True:
        if not FormatEntry.objects.filter(pk=entry.pk, at_risk=True).exists():
            return RunState.STOPPED  # unflagged meanwhile: stop between batches
        files = list(format_candidates(entry=entry).filter(pk__gt=after)
                     .select_related("record")[:batch])
        if not files:
            return RunState.DONE
        for f in files:
            after = f.pk
            problem = _migrate_one(entry, f, run, actor)
            if problem is None:
                run.migrated += 1
            else:
                reasons[problem] += 1
                failures.append({"file": f.pk, "record": f.record_id, "filename": f.filename,
                                 "reason": problem})
        MigrationRun.objects.filter(pk=run.pk).update(migrated=run.migrated)  # progress


def _tools(format_name: str) -> str:
    def v(dist: str) -> str:
        try:
            return f"{dist} {version(dist)}"
        except PackageNotFoundError:
            return dist
    libs = {"jpeg": ("img2pdf", "pillow", "pikepdf"), "png": ("img2pdf", "pillow", "pikepdf"),
            "tiff": ("img2pdf", "pillow", "pikepdf"), "ofd": ("reportlab", "pikepdf"),
            "pdf": ("pikepdf",)}.get(format_name, ())
    return f"{v('kjda')} ({', '.join(v(d) for d in libs)})"


def _convert(entry: FormatEntry, f: RecordFile) -> bytes:
    if f.size > MAX_BYTES:
        raise longterm.RenditionRefused("rendition_too_large", "文件过大，未生成转换件",
                                        "too large for a rendition")
    data = b"".join(blob_read_verified(sha256=f.sha256, sm3=f.sm3, size=f.size))
    convert = longterm.converter_for(f.format_name)
    kwargs: dict[str, Any] = {"pdfa": f.pdfa} if f.format_name == "pdf" else {}
    result: bytes = convert(data, title=f.record.title, author=f.record.responsible or "",
                            **kwargs)
    return result


def _fail(f: RecordFile, entry: FormatEntry, run: MigrationRun, reason: str, *,
          final: bool) -> str:
    row, _ = FileMigration.objects.get_or_create(
        source=f, target_format=entry.target_format,
        defaults={"outcome": FileOutcome.FAILED})
    row.outcome, row.reason, row.run = FileOutcome.FAILED, reason, run
    row.attempts += 1
    row.given_up = final or row.attempts >= MAX_ATTEMPTS
    row.save()
    return reason


def _migrate_one(entry: FormatEntry, f: RecordFile, run: MigrationRun,
                 actor: User | None) -> str | None:
    """None when the file now has its rendition; else why not."""
    try:
        data = _convert(entry, f)
    except longterm.RenditionRefused as exc:  # the converter's verdict: trying again won't help
        return _fail(f, entry, run, exc.message, final=True)
    except StorageError as exc:  # the original's bytes are missing or damaged: the fixity alarm
        return _fail(f, entry, run, f"原文件无法读取 / source unreadable: {exc}", final=False)
    except Exception as exc:  # a converter bug must not end the job for the other files
        log.exception("format migration of file %s failed", f.pk)
        return _fail(f, entry, run, f"转换出错 / conversion error: {type(exc).__name__}: {exc}",
                     final=True)
    info = identify(io.BytesIO(data))  # as ingest reads its renditions (kjda.ingest.pipeline)
    handler = handler_for(info.name)
    probe = handler.probe(io.BytesIO(data)) if handler else None
    info = probe.format if probe and probe.format else info
    pdfa = probe.properties.get("pdfa") if probe else None
    if info.puid != entry.target_format or not (pdfa and pdfa.get("compliant")):
        return _fail(f, entry, run, f"转换件未通过校验（{info.puid or info.name}） / the rendition "
                     f"failed verification ({info.puid or info.name})", final=True)
    stored = blob_put(source=io.BytesIO(data), max_bytes=MAX_BYTES, actor=actor)
    stem = os.path.splitext(f.filename)[0] or "file"
    tools = _tools(f.format_name)
    new = NewFile(sha256=stored.sha256, sm3=stored.sm3, size=stored.size,
                  filename=f"{stem}.pdfa.pdf", role="rendition", document_type=f.document_type,
                  format_name=info.name, format_version=info.version, mime=info.mime,
                  puid=info.puid, creating_application=f"KJDA 格式迁移 / format migration: {tools}",
                  format_profile=info.profile, pdfa=pdfa)
    source_fmt = f"{entry.name} ({entry.format_id})"
    target_fmt = f"{entry.target_name} ({entry.target_format})"
    description = (f"格式迁移 / format migration: {source_fmt} → {target_fmt}; "
                   f"工具 / tool: {tools}; "
                   f"源文件 / source: {f.filename} SHA-256 {f.sha256} SM3 {f.sm3}; "
                   f"转换件 / result: {new.filename} SHA-256 {new.sha256} SM3 {new.sm3}; "
                   "原件保留不变 / the original is kept unchanged")
    reason = (entry.risk_reason or "")[:120]
    with transaction.atomic():
        blob_rows_add([stored])
        row = record_preservation_rendition_add(
            record_id=f.record_id, source_id=f.pk, file=new, description=description,
            mandate=f"格式风险：{reason}；{MANDATE}"[:200], agent_name="系统（格式监测）",
            actor=actor, detail={"format": entry.format_id, "target": entry.target_format,
                                 "run": run.pk, "tool": tools})
        if row is not None:
            FileMigration.objects.update_or_create(
                source=f, target_format=entry.target_format,
                defaults={"outcome": FileOutcome.DONE, "result": row, "run": run,
                          "reason": "", "given_up": False})
    return None


@task()
def format_migrate_task(format_id: str, trigger: str = "flag") -> dict[str, Any]:
    """The migration job (enqueued when a format is flagged). A format unflagged before the job
    runs is left alone."""
    try:
        run = format_migrate(format_id=format_id, trigger=trigger)
    except (Conflict, NotFound) as exc:
        return {"format": format_id, "skipped": exc.code}
    return {"format": format_id, "run": run.pk, "state": run.state, "migrated": run.migrated,
            "failed": run.failed}


@task()
def format_migrate_flagged_task() -> list[dict[str, Any]]:
    """Daily: every flagged format with files still to migrate (filed since the last run)."""
    out = []
    for entry in FormatEntry.objects.filter(at_risk=True).order_by("format_id"):
        if entry.has_converter and format_candidates(entry=entry).exists():
            out.append(format_migrate_task.call(entry.format_id, "daily"))
    return out
