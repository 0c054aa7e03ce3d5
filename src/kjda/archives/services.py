"""Writes to the archive. Callers own the transaction (one per request or task)."""

from __future__ import annotations

import dataclasses
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
    RETENTION_RANK,
    Agent,
    Arrangement,
    BusinessEvent,
    Category,
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
)
from kjda.archives.reference import rule_by_name
from kjda.archives.search import search_index_bulk, search_index_record
from kjda.audit.services import audit_log
from kjda.db.django_private import prefetched_set
from kjda.db.insert import rows_insert
from kjda.errors import Conflict, DomainError

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


def rule_for_category(*, name: str) -> RetentionRule:
    rule = rule_by_name(name)
    if rule is None:
        raise DomainError("category_unknown", f"未知的档案类别：{name}（应为保管期限表中的档案名称）",
                          f"unknown category: {name} (use an item name from the retention table)")
    return rule


def retention_resolve(*, rule: RetentionRule, requested: str | None) -> str:
    """A record may be kept longer than its rule, never shorter (《会计档案管理办法》 Art. 15)."""
    if not requested or requested == rule.retention:
        return rule.retention
    if rule.retention == Retention.FA5 and requested != Retention.PERMANENT:
        raise DomainError("retention_too_short",
                          "固定资产卡片只能改为永久保管", "a fixed-asset card can only be made permanent")
    if RETENTION_RANK[Retention(requested)] < RETENTION_RANK[Retention(rule.retention)]:
        raise DomainError(
            "retention_too_short",
            f"保管期限 {requested} 短于《保管期限表》规定的 {rule.retention}",
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
