"""Writes to the archive. Callers own the transaction (one per request or task)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Model
from django.http import HttpRequest
from django.utils import timezone

from kjda.archives import numbering
from kjda.archives.models import (
    Agent,
    Arrangement,
    BusinessEvent,
    Category,
    CheckReportHistory,
    Fonds,
    FondsCategoryCode,
    Record,
    RecordFile,
    RecordStatus,
    RecordText,
    Relation,
    Retention,
    RetentionRule,
    Volume,
    VolumeStatus,
    retention_code_valid,
    retention_label,
    retention_rank,
)
from kjda.archives.reference import rule_by_name
from kjda.archives.search import search_index_bulk, search_index_record
from kjda.archives.selectors import CORRECTOR_FILER, record_corrector
from kjda.audit.services import audit_log
from kjda.db.django_private import prefetched_set
from kjda.db.insert import rows_insert
from kjda.errors import Conflict, DomainError, Forbidden
from kjda.storage.services import StorageError, blob_retention_extend

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import HttpRequest


def fonds_ensure(*, code: str | None = None, name: str | None = None) -> Fonds:
    """The fonds `kjda serve` seeds from KJDA_FONDS_CODE (default Z001)."""
    code = code or settings.KJDA_FONDS_CODE
    if len(code) != 4 or not code.isalnum():
        raise DomainError("fonds_code_invalid", f"全宗号必须是4位字母或数字：{code}",
                          f"a fonds code is 4 letters or digits: {code}")
    name = name or settings.KJDA_FONDS_NAME
    with transaction.atomic():
        fonds, created = Fonds.objects.get_or_create(code=code.upper(),
                                                     defaults={"name": name, "unit_name": name})
        if created:  # by the system (the seed), so no actor
            audit_log(action="fonds.create", object_type="fonds", object_id=fonds.code,
                      detail={"name": fonds.name})
    return fonds


def fonds_set_category_code(*, fonds: Fonds, category: Category, code: str) -> None:
    if not code.isalnum() or not code.isupper():
        raise DomainError("category_code_invalid", "门类代码须为大写拼音字母或数字",
                          "a category code is upper-case letters or digits")
    FondsCategoryCode.objects.update_or_create(fonds=fonds, category=category,
                                               defaults={"code": code})


@transaction.atomic
def fonds_update(*, fonds: Fonds, name: str | None = None, unit_name: str | None = None,
                 arrangement: str | None = None, archive_no_with_fonds: bool | None = None,
                 category_codes: dict[str, str] | None = None, actor: User | None = None,
                 request: HttpRequest | None = None) -> Fonds:
    """Configure a fonds; audited (`fonds.update`, the settings given). All or nothing: an
    unknown category rolls back the other changes."""
    given = {k: v for k, v in (("name", name), ("unit_name", unit_name),
                               ("arrangement", arrangement),
                               ("archive_no_with_fonds", archive_no_with_fonds),
                               ("category_codes", category_codes)) if v is not None}
    for field, value in (("name", name), ("unit_name", unit_name), ("arrangement", arrangement),
                         ("archive_no_with_fonds", archive_no_with_fonds)):
        if value is not None:
            setattr(fonds, field, value)
    fonds.full_clean()
    fonds.save()
    for category_name, code in (category_codes or {}).items():
        category = Category.objects.filter(name=category_name).first()
        if category is None:
            raise DomainError("category_unknown", f"未知门类：{category_name}",
                              f"unknown category: {category_name}")
        fonds_set_category_code(fonds=fonds, category=category, code=code)
    audit_log(action="fonds.update", actor=actor, request=request, object_type="fonds",
              object_id=fonds.code, detail=given)
    return fonds


def rule_for_category(*, name: str, schedule: str | None = None) -> RetentionRule:
    """The rule named `name` (or one of its aliases) in the fonds' 保管期限表 `schedule`
    (附表1 or 附表2); without a schedule, 附表1 first, then 附表2."""
    rule = rule_by_name(name, schedule)
    if rule is None:
        raise DomainError("category_unknown", f"未知的档案类别：{name}（应为保管期限表中的档案名称）",
                          f"unknown category: {name} (use an item name from the retention table)")
    return rule


def retention_resolve(*, rule: RetentionRule, requested: str | None) -> str:
    """A record may be kept longer than its rule, never shorter (《会计档案管理办法》 Art. 15)."""
    if not requested or requested == rule.retention:
        return rule.retention
    if not retention_code_valid(requested):
        raise DomainError("retention_invalid", f"保管期限代码无效：{requested}（应为 Y、D<年数> 或 FA5）",
                          f"invalid retention code {requested} (Y, D<years> or FA5)")
    if rule.retention == Retention.FA5 and requested != Retention.PERMANENT:
        raise DomainError("retention_too_short",
                          "固定资产卡片只能改为永久保管", "a fixed-asset card can only be made permanent")
    if retention_rank(requested) < retention_rank(rule.retention):
        raise DomainError(
            "retention_too_short",
            f"保管期限 {retention_label(requested)} 短于《保管期限表》规定的 "
            f"{retention_label(rule.retention)}",
            f"retention {requested} is shorter than the legal minimum {rule.retention}")
    return requested


@dataclass
class NewFile:
    sha256: str
    sm3: str
    size: int
    filename: str
    role: str
    document_type: str
    format_name: str
    format_version: str
    mime: str
    puid: str
    creating_application: str = ""
    format_profile: str = ""
    pdfa: dict[str, Any] | None = None
    signatures: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # M64–M71, kjda.ingest.signatures
    derived_from: int | None = None  # position (0-based) in the list of the file it renders


def record_build(*, fonds: Fonds, rule: RetentionRule, values: dict[str, Any], actor: User | None = None) -> Record:
    """An unsaved record with its class code and expiry (values are validated by the caller)."""
    retention = values["retention"]
    return Record(
        fonds=fonds, rule=rule, category=rule.category, created_by=actor,
        rule_version=rule.version,
        class_code=numbering.class_code_build(fonds=fonds, category=rule.category,
                                              fiscal_year=values["fiscal_year"],
                                              retention=retention),
        retention_expires_on=numbering.retention_expiry(
            fiscal_year=values["fiscal_year"], retention=retention,
            asset_disposed_on=values.get("asset_disposed_on")),
        **values,
    )


def record_assign_number(*, record: Record) -> None:
    """File an unsaved record that passed its checks: by item it gets its 档号 now; by volume
    it joins the class's open volume and gets its number when the volume is closed.
    Runs inside the filing transaction, so a rollback returns the number (gap-free)."""
    record.status = RecordStatus.FILED
    record.filed_at = timezone.now()
    if record.fonds.arrangement == Arrangement.BY_VOLUME:
        record.volume = _open_volume(record=record)
        return
    record.item_no = numbering.counter_next(fonds=record.fonds, scope=record.class_code,
                                            kind="item")
    record.archive_no = numbering.archive_no_format(fonds=record.fonds,
                                                    class_code=record.class_code,
                                                    item_no=record.item_no)


def record_save_new(*, record: Record, files: list[NewFile], agents: list[dict[str, Any]],
                    relations: list[dict[str, Any]], events: list[dict[str, Any]], text: str = "") -> Record:
    """Insert a built record with its files, entities and business events, and index it:
    one INSERT per table, its SQL built once (kjda.db.insert), so filing stays fast under load."""
    rows_insert([record])
    file_rows = [
        RecordFile(record=record, blob_id=f.sha256, sequence=i, sha256=f.sha256, sm3=f.sm3,
                   size=f.size, filename=f.filename, role=f.role, document_type=f.document_type,
                   format_name=f.format_name, format_version=f.format_version, mime=f.mime,
                   puid=f.puid, creating_application=f.creating_application,
                   format_profile=f.format_profile, pdfa=f.pdfa, signatures=f.signatures)
        for i, f in enumerate(files, start=1)
    ]
    rows_insert(file_rows)
    derived = [(row, file_rows[f.derived_from]) for row, f in zip(file_rows, files, strict=True)
               if f.derived_from is not None]
    if derived:  # a rendition points at the original it was made from (kept unchanged)
        for row, original in derived:
            row.derived_from = original
        RecordFile.objects.bulk_update([row for row, _ in derived], ["derived_from"])
    agent_rows = [Agent(record=record, **a) for a in agents]
    relation_rows = [Relation(record=record, **r) for r in relations]
    now = timezone.now()
    event_rows = [BusinessEvent(record=record, occurred_at=now, **e) for e in events]
    for rows in (agent_rows, relation_rows, event_rows):
        rows_insert(rows)
    if text:
        rows_insert([RecordText(record=record, content=text)])
    # What was just written is what a reader would fetch: keep it on the instance.
    written: tuple[tuple[str, Sequence[Model]], ...] = (
        ("files", file_rows), ("agents", agent_rows), ("relations", relation_rows),
        ("business_events", event_rows))
    for name, written_rows in written:
        prefetched_set(record, name, written_rows)
    search_index_record(record=record, text=text, new=True)
    if record.status == RecordStatus.FILED:
        _lock_for_term(record, [f.sha256 for f in files])
    return record


def _lock_for_term(record: Record, sha256s: list[str]) -> None:
    """After commit: the store keeps the record's blobs (S3 Object Lock) until its term ends,
    so the lock never outlasts the term a destruction ends (nothing on a local store; a
    permanent record has no end and keeps the store's default lock)."""
    until = record.retention_expires_on
    if until is None or not sha256s:
        return

    def extend() -> None:
        try:
            blob_retention_extend(sha256s=sha256s, until=until)
        except StorageError as exc:  # the record is filed; the lock is retried on a term change
            logger.warning("record %s: object lock not set: %s", record.pk, exc)

    transaction.on_commit(extend)


@transaction.atomic
def record_destroy(*, record: Record, reason: str, mandate: str = "", agent_name: str = "",
                   actor: User | None = None, request: HttpRequest | None = None) -> Record:
    """Mark a record destroyed (79号令 Art.18) once its bytes are gone: the record, its
    metadata, its file rows with their digests and its archive number stay as the tombstone,
    with a business event "销毁". Audited (`record.destroy`). Idempotent."""
    if record.status == RecordStatus.DESTROYED:
        return record
    record.status = RecordStatus.DESTROYED
    record.save(update_fields=["status"])
    # The text extracted from the files is their content: it goes with the bytes, and the
    # search index keeps only the metadata (the tombstone stays findable).
    RecordText.objects.filter(record_id=record.pk).delete()
    search_index_record(record=record, text="")
    BusinessEvent.objects.create(record=record, action="销毁", occurred_at=timezone.now(),
                                 mandate=mandate[:200], description=reason[:2000],
                                 agent_name=agent_name[:150])
    audit_log(action="record.destroy", actor=actor, request=request, object_type="record",
              object_id=str(record.pk), detail={"reason": reason, "mandate": mandate,
                                                 "archive_no": record.archive_no})
    return record


def record_relation_add(*, record: Record, target: Record | None, relation_type: str,
                        entity_identifier: str, relation: str = "", description: str = "") -> None:
    """One 实体关系 (M92–M95) row from `record` to `target`."""
    Relation.objects.create(record=record, target=target, relation_type=relation_type[:50],
                            entity_identifier=entity_identifier[:200], relation=relation[:50],
                            description=description[:500])


def _open_volume(*, record: Record) -> Volume:
    period = f"{record.period:02d}月" if record.period else ""
    title = f"{record.fiscal_year}年{period}{record.rule.name}"
    volume = (Volume.objects.filter(fonds=record.fonds, class_code=record.class_code,
                                    status=VolumeStatus.OPEN, title=title).first())
    if volume is None:
        volume = Volume.objects.create(fonds=record.fonds, category=record.category,
                                       class_code=record.class_code,
                                       fiscal_year=record.fiscal_year,
                                       retention=record.retention, title=title)
    return volume


# Numbers 500 items per statement (one round trip; UPDATE … FROM: SQLite ≥ 3.33, PostgreSQL):
# bulk_update's CASE … WHEN costs more to build than to run, executemany a round trip per item.
_NUMBER_ITEMS = ("WITH v(id, item_no, archive_no) AS (VALUES {values}) "
                 "UPDATE archives_record SET volume_no = %s, item_no = v.item_no, "
                 "archive_no = v.archive_no FROM v WHERE archives_record.id = v.id")


@transaction.atomic
def volume_close(*, volume: Volume, actor: User | None = None,
                 request: HttpRequest | None = None, archive_no_template: str | None = None) -> Volume:
    """封卷: the volume takes the next 案卷号 in its class, its items 件号 0001… in the order
    of DA/T 94 §8.4 (by date, then voucher number), and each item its 档号 — all at once.
    `archive_no_template`: the fonds' 案卷档号 format (numbering.volume_template_apply); the
    items' 档号 are the volume's followed by `-件号`."""
    volume = Volume.objects.select_for_update().get(pk=volume.pk)
    if volume.status == VolumeStatus.CLOSED:
        raise DomainError("volume_closed", "案卷已封卷", "the volume is already closed", status=409)
    items = list(volume.records.filter(status=RecordStatus.FILED).select_related("rule")
                 .order_by("date", "document_no", "id"))
    if not items:
        raise DomainError("volume_empty", "空卷不能封卷", "an empty volume cannot be closed")
    fonds = volume.fonds
    volume.volume_no = numbering.counter_next(fonds=fonds, scope=volume.class_code,
                                              kind="volume")
    volume.archive_no = numbering.volume_template_apply(
        archive_no_template or numbering.volume_template_default(fonds=fonds),
        fonds_code=fonds.code, class_code=volume.class_code,
        category_code=numbering.category_code(fonds=fonds, category=volume.category),
        year=volume.fiscal_year, retention=volume.retention, volume_no=volume.volume_no)
    volume.status, volume.closed_at = VolumeStatus.CLOSED, timezone.now()
    volume.save()
    if fonds.arrangement == Arrangement.BY_ITEM:
        # 按件整理: every item got its 档号 when it was filed and keeps it for good (it is how
        # the item is cited and found); the volume is the binding (装册) and takes its own number.
        audit_log(action="volume.close", actor=actor, request=request, object_type="volume",
                  object_id=str(volume.pk), detail={"archive_no": volume.archive_no,
                                                    "items_renumbered": False})
        return volume
    for index, item in enumerate(items, start=1):
        item.volume_no, item.item_no = volume.volume_no, index
        item.archive_no = f"{volume.archive_no}-{index:04d}"
    with connection.cursor() as cur:
        for start in range(0, len(items), 500):
            chunk = items[start:start + 500]
            cur.execute(_NUMBER_ITEMS.format(values=", ".join(["(%s, %s, %s)"] * len(chunk))),
                        [*(v for i in chunk for v in (i.pk, i.item_no, i.archive_no)),
                         volume.volume_no])
    # One pass over the volume's texts rather than a query per item (a volume can hold thousands).
    texts = dict(RecordText.objects.filter(record_id__in=[i.pk for i in items])
                 .values_list("record_id", "content"))
    search_index_bulk((item, texts.get(item.pk, "")) for item in items)
    audit_log(action="volume.close", actor=actor, request=request, object_type="volume",
              object_id=str(volume.pk), detail={"archive_no": volume.archive_no})
    return volume


@transaction.atomic
def record_set_asset_disposed(*, record: Record, disposed_on: date,
                              actor: AbstractBaseUser | None = None,
                              request: HttpRequest | None = None) -> Record:
    """Record when a fixed asset was disposed of: its card's retention starts to run. Audited
    (`record.change`, the date and the expiry it sets)."""
    if record.retention != Retention.FA5:
        raise DomainError("not_fixed_asset_card", "只有固定资产卡片记录报废日期",
                          "only fixed-asset cards record a disposal date")
    if record.asset_disposed_on:
        raise Conflict("already_set", "报废日期已记录", "the disposal date is already recorded")
    record.asset_disposed_on = disposed_on
    record.retention_expires_on = numbering.retention_expiry(
        fiscal_year=record.fiscal_year, retention=record.retention, asset_disposed_on=disposed_on)
    record.save(update_fields=["asset_disposed_on", "retention_expires_on"])
    _lock_for_term(record, list(RecordFile.objects.filter(record_id=record.pk)
                                .values_list("sha256", flat=True)))
    audit_log(action="record.change", actor=actor, request=request, object_type="record",
              object_id=str(record.pk),
              detail={"asset_disposed_on": disposed_on.isoformat(),
                      "retention_expires_on": record.retention_expires_on.isoformat()
                      if record.retention_expires_on else None})
    return record


@transaction.atomic
def record_revoke(*, record: Record, reason: str, agent_name: str = "",
                  actor: User | None = None, request: HttpRequest | None = None,
                  detail: dict[str, Any] | None = None) -> Record:
    """Mark a record revoked (e.g. an approval withdrawn after it was archived), audited
    (`record.revoke`, by `actor` or else by `agent_name`, e.g. `oa:dingtalk`). Never deletes:
    the record, its files and its archive number stay, with the reason as a business event."""
    if record.status == RecordStatus.REVOKED:
        return record
    record.status = RecordStatus.REVOKED
    record.save(update_fields=["status"])
    BusinessEvent.objects.create(record=record, action="撤销", occurred_at=timezone.now(),
                                 description=reason[:2000], agent_name=agent_name)
    audit_log(action="record.revoke", actor=actor, request=request,
              actor_name=(agent_name or None) if actor is None else None, object_type="record",
              object_id=str(record.pk), detail={"reason": reason, **(detail or {})})
    return record


def relations_resolve(*, record: Record) -> int:
    """Link relations given as `source_system:external_id` to the records they name, both ways:
    this record's own relations to records filed earlier, and earlier records' relations that
    named this one before it existed."""
    linked = 0
    for rel in Relation.objects.filter(record=record, target__isnull=True):
        source, _, external = rel.entity_identifier.partition(":")
        # exclude(…=""): the partial unique index's condition, so SQLite's planner uses it
        target = (Record.objects.filter(source_system=source, external_id=external)
                  .exclude(external_id="").first())
        if target is not None:
            linked += Relation.objects.filter(pk=rel.pk).update(target=target)
    if record.external_id:
        identifier = f"{record.source_system}:{record.external_id}"
        linked += Relation.objects.filter(entity_identifier=identifier,
                                          target__isnull=True).update(target=record)
    return linked


# --- Putting a pending record right (issue 17 item 1) ------------------------------------------
# Row-level steps of the audited services in kjda.ingest.services (record_file_add,
# record_recheck, record_metadata_correct): they run inside those services' transactions.


def record_lock(*, record_id: int) -> Record:
    """The record, locked for the rest of the transaction (a re-check and a file added at the
    same time take turns)."""
    return (Record.objects.select_for_update().select_related("fonds", "rule", "category")
            .get(pk=record_id))


def record_class_set(*, record: Record, fonds: Fonds, rule: RetentionRule) -> None:
    """A pending record's fonds, item type, class code and expiry after its metadata changed
    (as record_build sets them on ingest)."""
    record.fonds, record.rule, record.category = fonds, rule, rule.category
    record.class_code = numbering.class_code_build(fonds=fonds, category=rule.category,
                                                   fiscal_year=record.fiscal_year,
                                                   retention=record.retention)
    record.retention_expires_on = numbering.retention_expiry(
        fiscal_year=record.fiscal_year, retention=record.retention,
        asset_disposed_on=record.asset_disposed_on)


def record_file_row_add(*, record: Record, file: NewFile,
                        derived_from: RecordFile | None = None) -> RecordFile:
    """One more file row of a pending record, after the ones it has (superseded ones included:
    their sequence numbers stay theirs)."""
    last = (RecordFile.objects.filter(record=record).order_by("-sequence")
            .values_list("sequence", flat=True).first()) or 0
    return RecordFile.objects.create(
        record=record, blob_id=file.sha256, sequence=last + 1, sha256=file.sha256, sm3=file.sm3,
        size=file.size, filename=file.filename, role=file.role, document_type=file.document_type,
        format_name=file.format_name, format_version=file.format_version, mime=file.mime,
        puid=file.puid, creating_application=file.creating_application,
        format_profile=file.format_profile, pdfa=file.pdfa, signatures=file.signatures,
        derived_from=derived_from)


def record_files_supersede(*, files: Sequence[RecordFile]) -> None:
    """Take files out of their item; rows and blobs stay (nothing received is lost)."""
    now = timezone.now()
    RecordFile.objects.filter(pk__in=[f.pk for f in files], superseded_at__isnull=True).update(
        superseded_at=now)


def record_file_properties_set(*, row: RecordFile, file: NewFile) -> None:
    """What a re-check read of a file that is kept (its format, PDF/A verdict, signatures)."""
    for name in ("format_name", "format_version", "mime", "puid", "format_profile", "pdfa",
                 "signatures", "creating_application"):
        setattr(row, name, getattr(file, name))
    row.save(update_fields=["format_name", "format_version", "mime", "puid", "format_profile",
                            "pdfa", "signatures", "creating_application"])


def record_report_supersede(*, record: Record, by: str) -> CheckReportHistory | None:
    """Keep the record's current check report in its history before a new one replaces it."""
    if not record.check_report:
        return None
    return CheckReportHistory.objects.create(record=record, report=record.check_report,
                                             status=record.status, superseded_at=timezone.now(),
                                             superseded_by=by[:150])


def record_check_history_add(*, record: Record, report: dict[str, Any],
                             by: str) -> CheckReportHistory:
    """A check of a later stage (长期保存) in the record's check history, beside and without
    touching its archiving report."""
    return CheckReportHistory.objects.create(record=record, report=report, status=record.status,
                                             superseded_at=timezone.now(), superseded_by=by[:150])


def record_event_add(*, record: Record, action: str, description: str, agent_name: str = "",
                     mandate: str = "") -> BusinessEvent:
    """One 业务实体 (M87–M91) event of a record."""
    return BusinessEvent.objects.create(record=record, action=action[:50],
                                        occurred_at=timezone.now(), mandate=mandate[:200],
                                        description=description, agent_name=agent_name[:150])


def record_text_set(*, record: Record, text: str | None = None) -> None:
    """Replace the record's extracted text (None: keep it) and re-index the record."""
    if text is not None:
        RecordText.objects.update_or_create(record=record, defaults={"content": text})
    search_index_record(record=record, text=text)


@transaction.atomic
def record_withdraw(*, record: Record, reason: str, actor: User | None = None,
                    request: HttpRequest | None = None) -> Record:
    """撤回 a pending record with a reason, audited (`record.withdraw`). Never deletes: the
    record, its files and its check reports stay, the reason is a business event. Who may
    withdraw: whoever may file into its scope (not its applicant: see
    kjda.archives.selectors.record_corrector)."""
    if record_corrector(actor=actor, record=record) != CORRECTOR_FILER:
        raise Forbidden("out_of_scope", "无权撤回该档案（须有向其全宗和部门归档的权限）",
                        "withdrawing this record needs the right to file into its fonds and "
                        "department")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason_missing", "撤回须说明理由", "a withdrawal needs a reason")
    if len(reason) > 2000:
        raise DomainError("reason_too_long", "理由不得超过 2000 字", "the reason is over 2000 characters")
    record = record_lock(record_id=record.pk)
    if record.status != RecordStatus.PENDING:
        raise Conflict("record_not_pending",
                       f"只有待处理的档案可以撤回（当前：{record.get_status_display()}）",
                       f"only a pending record can be withdrawn (it is {record.status})")
    record.status = RecordStatus.WITHDRAWN
    record.save(update_fields=["status"])
    name = actor.get_username() if actor else ""
    record_event_add(record=record, action="撤回", agent_name=name, mandate="DA/T 94-2022",
                     description=f"撤回：{reason} / withdrawn: {reason}")
    audit_log(action="record.withdraw", actor=actor, request=request, object_type="record",
              object_id=str(record.pk), detail={"reason": reason})
    return record


# --- A preservation rendition of a filed record (issue 19 item 6, format watch) ----------------

MIGRATION_ACTION = "迁移"  # M88 业务行为 of a format migration (standards.md §3.4)


@transaction.atomic
def record_preservation_rendition_add(*, record_id: int, source_id: int, file: NewFile,
                                      description: str, mandate: str = "",
                                      agent_name: str = "系统", actor: User | None = None,
                                      detail: dict[str, Any] | None = None) -> RecordFile | None:
    """The one change a filed record's content allows: a rendition of one of its current files
    in a long-term format, ADDED beside it (the source file, its row and its bytes stay as they
    are), with a 迁移 business event (M87–M91) and an audit event (`record.rendition_add`).
    The caller has stored the bytes and their Blob row. None (nothing written) when the source
    already has a current rendition in that format (a second run, or two at once: the record is
    locked first)."""
    record = record_lock(record_id=record_id)
    if record.status != RecordStatus.FILED:
        raise Conflict("record_not_filed",
                       f"只有已归档的档案可以添加迁移转换件（当前：{record.get_status_display()}）",
                       f"only a filed record takes a migration rendition (it is {record.status})")
    source = RecordFile.objects.filter(pk=source_id, record_id=record.pk).first()
    if source is None or source.superseded_at is not None or source.derived_from_id is not None:
        raise DomainError("source_file_invalid", "源文件不是该档案的现行原始文件",
                          "the source is not a current original file of this record")
    if file.role != "rendition" or not file.puid:
        raise DomainError("rendition_invalid", "转换件须标明角色与 PRONOM 格式标识",
                          "a rendition needs its role and its PRONOM id")
    if RecordFile.objects.filter(derived_from=source, superseded_at__isnull=True,
                                 puid=file.puid).exists():
        return None
    row = record_file_row_add(record=record, file=file, derived_from=source)
    record_event_add(record=record, action=MIGRATION_ACTION, description=description,
                     agent_name=agent_name, mandate=mandate)
    _lock_for_term(record, [file.sha256])
    audit_log(action="record.rendition_add", actor=actor, actor_name=None if actor else agent_name,
              object_type="record", object_id=str(record.pk),
              detail={"source_file": source.pk, "source_sha256": source.sha256,
                      "rendition_file": row.pk, "rendition_sha256": row.sha256,
                      "puid": row.puid, **(detail or {})})
    return row
