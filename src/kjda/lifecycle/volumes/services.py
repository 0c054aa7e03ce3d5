"""组卷 writes: rules and the number format per fonds, assembly, moving an item, closing a volume
with its 卷内目录 and 备考表. Each is one transaction that writes its audit event."""

from __future__ import annotations

import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.http import HttpRequest
from django.utils import timezone
from django_tasks import task

from kjda.accounts.roles import Role
from kjda.accounts.selectors import users_with_roles
from kjda.archives import numbering
from kjda.archives import services as archives_services
from kjda.archives.models import (
    Category,
    Fonds,
    Record,
    RecordFile,
    RecordStatus,
    Retention,
    Volume,
    VolumeStatus,
)
from kjda.audit.services import audit_log
from kjda.errors import Conflict, DomainError
from kjda.lifecycle.registers import Column, Register, Signature, register_pdf, register_xlsx
from kjda.lifecycle.todos import oa_todo_notify
from kjda.lifecycle.volumes.models import (
    ManualPlacement,
    Period,
    VolumeDescription,
    VolumeDocument,
    VolumeDocumentKind,
    VolumeNumbering,
    VolumeRule,
)
from kjda.storage.services import blob_store

Actor = AbstractBaseUser | AnonymousUser
CHUNK = 5000  # ids per UPDATE … WHERE id IN (…): well under SQLite's variable limit

REGISTER_COLUMNS = [Column("序号", 0.5, "center"), Column("档号/件号", 2.2),
                    Column("文件编号(凭证号)", 1.2), Column("责任者", 1.2), Column("题名", 3),
                    Column("日期", 1, "center"), Column("页数/件数", 0.8, "right"),
                    Column("备注", 1.2)]
NOTES_COLUMNS = [Column("项目", 1), Column("数量", 1, "right")]


def _name(actor: Actor | None) -> str:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return ""
    return str(actor.get_username())


def _user(actor: Actor | None) -> Any:
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


# ── rules and the number format ──────────────────────────────────────────────────────────────

@transaction.atomic
def volume_rule_set(*, actor: Actor, fonds: Fonds, category: Category, period: str,
                    max_items: int | None = None, max_bytes: int | None = None,
                    by_voucher_word: bool = False, request: HttpRequest | None = None) -> VolumeRule:
    """Set how one category of a fonds is put into volumes (audited with before/after)."""
    if period not in Period.values:
        raise DomainError("volume_rule_period", "组卷周期只能是按月、按季或按年",
                          "period must be month, quarter or year")
    for value, zh, en in ((max_items, "每卷最多件数", "max_items"),
                          (max_bytes, "每卷最多字节", "max_bytes")):
        if value is not None and value < 1:
            raise DomainError("volume_rule_limit", f"{zh}须为正整数", f"{en} must be positive")
    rule = VolumeRule.objects.select_for_update().filter(fonds=fonds, category=category).first()
    before = _rule_dict(rule) if rule else None
    if rule is None:
        rule = VolumeRule(fonds=fonds, category=category)
    rule.period, rule.max_items, rule.max_bytes = period, max_items, max_bytes
    rule.by_voucher_word, rule.updated_by = by_voucher_word, _user(actor)
    rule.save()
    audit_log(action="volume_rule.set", actor=actor, request=request, object_type="volume_rule",
              object_id=str(rule.pk), detail={"fonds": fonds.code, "category": category.name,
                                              "before": before, "after": _rule_dict(rule)})
    return rule


def _rule_dict(rule: VolumeRule) -> dict[str, Any]:
    return {"period": rule.period, "max_items": rule.max_items, "max_bytes": rule.max_bytes,
            "by_voucher_word": rule.by_voucher_word}


@transaction.atomic
def volume_rule_delete(*, actor: Actor, rule: VolumeRule,
                       request: HttpRequest | None = None) -> None:
    """Drop a rule: the category goes back to the default (one volume per month)."""
    detail = {"fonds": rule.fonds.code, "category": rule.category.name,
              "before": _rule_dict(rule)}
    rule_id = rule.pk
    rule.delete()
    audit_log(action="volume_rule.delete", actor=actor, request=request,
              object_type="volume_rule", object_id=str(rule_id), detail=detail)


@transaction.atomic
def volume_numbering_set(*, actor: Actor, fonds: Fonds, template: str,
                         request: HttpRequest | None = None) -> str:
    """Set the fonds' 案卷档号 format (empty: back to the DA/T 94 §8.7 default). Volumes already
    closed keep their numbers. Returns the format now in force."""
    template = template.strip()
    row = VolumeNumbering.objects.select_for_update().filter(fonds=fonds).first()
    before = row.template if row else numbering.volume_template_default(fonds=fonds)
    if template:
        problem = numbering.volume_template_problem(template)
        if problem:
            raise DomainError("volume_template_invalid", f"案卷档号格式无效：{problem[0]}",
                              f"invalid volume number format: {problem[1]}")
        if row is None:
            row = VolumeNumbering(fonds=fonds)
        row.template, row.updated_by = template, _user(actor)
        row.save()
        after = template
    else:
        if row is not None:
            row.delete()
        after = numbering.volume_template_default(fonds=fonds)
    audit_log(action="volume_numbering.set", actor=actor, request=request, object_type="fonds",
              object_id=fonds.code, detail={"before": before, "after": after})
    return after


def _template_for(fonds: Fonds) -> str:
    row = VolumeNumbering.objects.filter(fonds=fonds).first()
    return row.template if row else numbering.volume_template_default(fonds=fonds)


# ── assembly ─────────────────────────────────────────────────────────────────────────────────

@dataclass
class AssemblyResult:
    volumes: int = 0  # open volumes holding the assembled items
    created: int = 0
    moved: int = 0
    removed: int = 0  # emptied open volumes deleted
    items: int = 0
    volume_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Item:
    id: int
    category_id: int
    class_code: str
    retention: str
    date: date
    document_no: str
    voucher_type: str
    period: int | None
    volume_id: int | None


def _group_of(item: _Item, rule: VolumeRule) -> tuple[str, str, str]:
    """(group key, period label, voucher word) of an item under its rule."""
    month = item.period if item.period and 1 <= item.period <= 12 else item.date.month
    if rule.period == Period.YEAR:
        key, label = "Y", ""
    elif rule.period == Period.QUARTER:
        q = (month - 1) // 3 + 1
        key, label = f"Q{q}", f"第{q}季度"
    else:
        key, label = f"M{month:02d}", f"{month:02d}月"
    word = (item.voucher_type or "无字") if rule.by_voucher_word else ""
    return (f"{key}|{word}" if word else key), label, word


@transaction.atomic
def volumes_assemble(*, fonds: Fonds, fiscal_year: int, actor: Actor,
                     category: Category | None = None,
                     request: HttpRequest | None = None) -> AssemblyResult:
    """组卷: put the filed records of a fonds' year (one category, or all) that are in no closed
    volume into open volumes by their category's rule — grouped by class (门类·年度·期限, so
    different terms never share a volume), period and voucher word, ordered by date then voucher
    number (DA/T 94 §8.4), split at the size limit. Set-based: one read of the items, one UPDATE
    per target volume and id chunk. Idempotent: a second run moves nothing. Items moved by hand
    stay where they were put. Emptied open volumes are removed."""
    rules = {r.category_id: r for r in VolumeRule.objects.filter(fonds=fonds)}
    default_rule = VolumeRule(fonds=fonds, period=Period.MONTH)
    items_qs = Record.objects.filter(fonds=fonds, fiscal_year=fiscal_year,
                                     status=RecordStatus.FILED).filter(
        Q(volume__isnull=True) | Q(volume__status=VolumeStatus.OPEN))
    if category is not None:
        items_qs = items_qs.filter(category=category)
    pinned = set(ManualPlacement.objects.filter(
        record__in=items_qs, volume__status=VolumeStatus.OPEN).values_list("record_id", flat=True))
    items = [_Item(*row) for row in items_qs.values_list(
        "id", "category_id", "class_code", "retention", "date", "document_no", "voucher_type",
        "period", "volume_id").iterator(chunk_size=10000) if row[0] not in pinned]
    sizes: dict[int, int] = {}
    if any(r.max_bytes for r in rules.values()):
        for record_id, total in (RecordFile.objects.filter(record__in=items_qs)
                                 .values("record_id").annotate(total=Sum("size"))
                                 .values_list("record_id", "total").iterator(chunk_size=10000)):
            sizes[record_id] = total or 0

    groups: dict[tuple[str, str], list[_Item]] = defaultdict(list)
    labels: dict[tuple[str, str], tuple[str, str, int, str]] = {}
    for item in items:
        rule = rules.get(item.category_id, default_rule)
        key, label, word = _group_of(item, rule)
        groups[(item.class_code, key)].append(item)
        labels[(item.class_code, key)] = (label, word, item.category_id, item.retention)

    # Where each item should be: (class, group, part) → its items, in DA/T 94 order.
    plan: dict[tuple[str, str, int], list[_Item]] = {}
    for (class_code, key), members in sorted(groups.items()):
        members.sort(key=lambda i: (i.date, i.document_no, i.id))
        rule = rules.get(members[0].category_id, default_rule)
        part, count, used = 1, 0, 0
        for item in members:
            size = sizes.get(item.id, 0)
            full = ((rule.max_items and count + 1 > rule.max_items)
                    or (rule.max_bytes and used + size > rule.max_bytes))
            if full and count:
                part, count, used = part + 1, 0, 0
            plan.setdefault((class_code, key, part), []).append(item)
            count, used = count + 1, used + size

    open_qs = Volume.objects.filter(fonds=fonds, fiscal_year=fiscal_year,
                                    status=VolumeStatus.OPEN)
    if category is not None:
        open_qs = open_qs.filter(category=category)
    existing = {(d.volume.class_code, d.group_key, d.part): d for d in
                VolumeDescription.objects.filter(volume__in=open_qs).select_related("volume")}
    categories = {c.pk: c for c in Category.objects.all()}
    parts_of: dict[tuple[str, str], int] = defaultdict(int)
    for class_code, key, part in plan:
        parts_of[(class_code, key)] = max(parts_of[(class_code, key)], part)
    result = AssemblyResult(items=len(items))
    now, who = timezone.now(), _name(actor)
    for (class_code, key, part), members in sorted(plan.items()):
        label, word, category_id, retention = labels[(class_code, key)]
        cat = categories[category_id]
        title = (f"{fiscal_year}年{label}{cat.name}" + (f"（{word}字）" if word else "")
                 + (f"第{part}册" if parts_of[(class_code, key)] > 1 else ""))
        desc = existing.get((class_code, key, part))
        if desc is None:
            volume = Volume.objects.create(fonds=fonds, category=cat, class_code=class_code,
                                           fiscal_year=fiscal_year, retention=retention,
                                           title=title[:500])
            desc = VolumeDescription.objects.create(
                volume=volume, group_key=key, part=part, period_label=label, voucher_word=word,
                assembled_by=who, assembled_at=now)
            result.created += 1
        elif desc.volume.title != title:
            Volume.objects.filter(pk=desc.volume_id).update(title=title[:500])
        target = desc.volume_id
        to_move = [i.id for i in members if i.volume_id != target]
        for start in range(0, len(to_move), CHUNK):
            Record.objects.filter(pk__in=to_move[start:start + CHUNK]).update(volume_id=target)
        if to_move:
            VolumeDescription.objects.filter(pk=desc.pk).update(assembled_by=who,
                                                                assembled_at=now)
        result.moved += len(to_move)
        result.volume_ids.append(target)
    # Open volumes left with nothing in them (the filing's per-month volumes, or parts no
    # longer needed) go: they were never numbered, so no number is lost.
    empty = list(open_qs.exclude(pk__in=result.volume_ids)
                 .annotate(n=Count("records")).filter(n=0).values_list("pk", flat=True))
    if empty:
        VolumeDescription.objects.filter(volume_id__in=empty).delete()
        Volume.objects.filter(pk__in=empty).delete()
    result.removed = len(empty)
    result.volumes = len(result.volume_ids)
    audit_log(action="volume.assemble", actor=actor, request=request, object_type="fonds",
              object_id=fonds.code,
              detail={"fiscal_year": fiscal_year, "category": category.name if category else None,
                      "items": result.items, "volumes": result.volumes,
                      "created": result.created, "moved": result.moved,
                      "removed": result.removed})
    return result


# ── moving an item by hand ───────────────────────────────────────────────────────────────────

@transaction.atomic
def volume_item_move(*, actor: Actor, record: Record, to_volume: Volume,
                     request: HttpRequest | None = None) -> Record:
    """Move an item between two open volumes of the same class; a closed volume is fixed."""
    record = Record.objects.select_for_update().get(pk=record.pk)
    to_volume = Volume.objects.select_for_update().get(pk=to_volume.pk)
    # Both volumes locked, so neither closes while the item moves.
    source = (Volume.objects.select_for_update().get(pk=record.volume_id)
              if record.volume_id else None)
    if source is None:
        raise DomainError("record_not_in_volume", "该档案不在任何案卷中",
                          "the record is in no volume")
    if source.status == VolumeStatus.CLOSED or to_volume.status == VolumeStatus.CLOSED:
        raise Conflict("volume_closed", "已封卷的案卷不能移入或移出",
                       "a closed volume cannot take or give up items")
    if source.pk == to_volume.pk:
        raise DomainError("volume_same", "档案已在该案卷中", "the record is already in that volume")
    if (source.fonds_id, source.class_code) != (to_volume.fonds_id, to_volume.class_code):
        raise DomainError("volume_class_mismatch", "只能在同一全宗、同一类别号的案卷之间移动",
                          "items move only between volumes of the same fonds and class")
    record.volume = to_volume
    Record.objects.filter(pk=record.pk).update(volume=to_volume)
    ManualPlacement.objects.update_or_create(record=record, defaults={
        "volume": to_volume, "moved_by": _user(actor)})
    audit_log(action="volume.item_move", actor=actor, request=request, object_type="record",
              object_id=str(record.pk),
              detail={"from_volume": source.pk, "to_volume": to_volume.pk,
                      "document_no": record.document_no})
    return record


# ── closing ──────────────────────────────────────────────────────────────────────────────────

@transaction.atomic
def volume_close(*, actor: Actor, volume: Volume, request: HttpRequest | None = None) -> Volume:
    """封卷 with the fonds' 案卷档号 format (numbers gap-free, archives.services.volume_close),
    then the volume-level metadata (DA/T 94: 起止日期, 件数, 页数 …), its 卷内目录 and 备考表 as
    PDF/A and Excel in the blob store. A closed volume can't be closed again (409)."""
    locked = Volume.objects.select_for_update().get(pk=volume.pk)
    if locked.status == VolumeStatus.CLOSED:
        raise Conflict("volume_closed", "案卷已封卷", "the volume is already closed")
    user = _user(actor)
    volume = archives_services.volume_close(volume=locked, actor=user, request=request,
                                            archive_no_template=_template_for(locked.fonds))
    # Plain rows, not model instances: a volume can hold thousands of items.
    items = [_Row(*row) for row in volume.records.filter(status=RecordStatus.FILED)
             .order_by("item_no").annotate(files_n=Count("files"), bytes_n=Sum("files__size"))
             .values_list("item_no", "archive_no", "document_no", "responsible", "title", "date",
                          "page_count", "notes", "files_n", "bytes_n")]
    agg = volume.records.filter(status=RecordStatus.FILED).aggregate(
        start=Min("date"), end=Max("date"))
    desc, _ = VolumeDescription.objects.get_or_create(volume=volume)
    now = volume.closed_at or timezone.now()
    desc.start_date, desc.end_date = agg["start"], agg["end"]
    desc.item_count = len(items)
    desc.file_count = sum(i.files_n for i in items)
    desc.total_bytes = sum(i.bytes_n or 0 for i in items)
    desc.page_count = sum(i.page_count or 0 for i in items)
    desc.checked_by = _name(actor)
    if not desc.assembled_by:
        desc.assembled_by, desc.assembled_at = desc.checked_by, now
    desc.save()
    documents = _volume_documents(volume, desc, items)
    stored = {}
    for kind, data in documents.items():
        blob = blob_store(source=io.BytesIO(data), actor=user)
        VolumeDocument.objects.update_or_create(volume=volume, kind=kind, defaults={
            "blob_id": blob.sha256, "size": blob.size})
        stored[kind] = blob.sha256
    audit_log(action="volume.registers", actor=actor, request=request, object_type="volume",
              object_id=str(volume.pk),
              detail={"archive_no": volume.archive_no, "items": desc.item_count,
                      "pages": desc.page_count, "bytes": desc.total_bytes, "documents": stored})
    return volume


@dataclass(frozen=True)
class _Row:
    item_no: int | None
    archive_no: str | None
    document_no: str
    responsible: str
    title: str
    date: date
    page_count: int | None
    notes: str
    files_n: int
    bytes_n: int | None


def _volume_documents(volume: Volume, desc: VolumeDescription,
                      items: list[_Row]) -> dict[str, bytes]:
    particulars = [("全宗号", volume.fonds.code), ("案卷档号", volume.archive_no or ""),
                   ("案卷题名", volume.title), ("年度", str(volume.fiscal_year)),
                   ("保管期限", Retention(volume.retention).label)]
    rows = [[i.item_no, i.archive_no, i.document_no, i.responsible, i.title, i.date,
             i.page_count if i.page_count else f"{i.files_n}件", i.notes[:100]] for i in items]
    when = volume.closed_at
    contents = Register(title="卷内目录", columns=REGISTER_COLUMNS, rows=rows,
                        particulars=particulars, summary=[("共计", f"{len(items)} 件")],
                        created=when)
    span = (f"{desc.start_date:%Y-%m-%d} 至 {desc.end_date:%Y-%m-%d}"
            if desc.start_date and desc.end_date else "")
    statement = (f"本卷为{volume.title}，共 {desc.item_count} 件，{desc.file_count} 个文件，"
                 f"{desc.page_count} 页，{desc.total_bytes} 字节；起止日期 {span}。")
    notes = Register(
        title="备考表", columns=NOTES_COLUMNS, landscape=False, created=when,
        rows=[["件数", desc.item_count], ["文件数", desc.file_count],
              ["页数", desc.page_count], ["字节数", desc.total_bytes]],
        particulars=particulars, extra_sections=[("本卷情况说明", statement)],
        signatures=[Signature("立卷人", desc.assembled_by, desc.assembled_at),
                    Signature("检查人", desc.checked_by, when)],
        summary=[("立卷时间", f"{desc.assembled_at:%Y-%m-%d}" if desc.assembled_at else "")])
    return {VolumeDocumentKind.REGISTER_PDF: register_pdf(contents),
            VolumeDocumentKind.REGISTER_XLSX: register_xlsx(contents),
            VolumeDocumentKind.NOTES_PDF: register_pdf(notes),
            VolumeDocumentKind.NOTES_XLSX: register_xlsx(notes)}


@transaction.atomic
def volume_update(*, actor: Actor, volume: Volume, title: str,
                  request: HttpRequest | None = None) -> Volume:
    """Correct an open volume's title (案卷题名); a closed volume is fixed (409)."""
    volume = Volume.objects.select_for_update().get(pk=volume.pk)
    if volume.status == VolumeStatus.CLOSED:
        raise Conflict("volume_closed", "已封卷的案卷不能修改", "a closed volume cannot be changed")
    title = title.strip()
    if not title:
        raise DomainError("volume_title_required", "案卷题名不能为空", "the title is required")
    before, volume.title = volume.title, title[:500]
    volume.save(update_fields=["title"])
    audit_log(action="volume.update", actor=actor, request=request, object_type="volume",
              object_id=str(volume.pk), detail={"before": {"title": before},
                                                "after": {"title": volume.title}})
    return volume


def volumes_unclosed_notify(*, today: date | None = None) -> list[tuple[str, int]]:
    """The daily job: for each fonds and ended fiscal year that still has open volumes with
    items, an OA to-do (once per fonds and year) for those who close volumes in that fonds
    (archivists, accountants; Art.10 整理立卷). Audited (`volume.unclosed_notify`) when a to-do
    is queued; the (fonds, year) pairs notified."""
    year_now = (today or timezone.localdate()).year
    open_years = (Volume.objects.filter(status=VolumeStatus.OPEN, fiscal_year__lt=year_now,
                                        records__isnull=False)
                  .values_list("fonds__code", "fiscal_year").annotate(n=Count("id", distinct=True))
                  .order_by("fonds__code", "fiscal_year"))
    notified = []
    with transaction.atomic():
        for fonds_code, fiscal_year, n in open_years:
            users = users_with_roles(roles=[Role.ARCHIVIST, Role.ACCOUNTANT],
                                     fonds_code=fonds_code, excluding=[Role.CASHIER])
            queued = oa_todo_notify(
                users=users, title=f"封卷：{fonds_code} {fiscal_year} 年度尚有 {n} 卷未封卷",
                text=f"{fiscal_year} 年度已结束，请整理并封卷（卷内目录、备考表随封卷生成）。",
                url=f"/volumes/?year={fiscal_year}&status=open",
                dedupe_key=f"volumes-open:{fonds_code}:{fiscal_year}")
            if queued:
                audit_log(action="volume.unclosed_notify", object_type="fonds",
                          object_id=fonds_code, detail={"fiscal_year": fiscal_year,
                                                        "open_volumes": n})
                notified.append((fonds_code, fiscal_year))
    return notified


@task()
def volumes_unclosed_task() -> list[tuple[str, int]]:
    return volumes_unclosed_notify()
