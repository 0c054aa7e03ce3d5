"""Reads of holds and destruction batches, and the rules that decide what may be destroyed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet, Value
from django.utils import timezone

from kjda.accounts.roles import Role
from kjda.accounts.selectors import Actor, actor_roles
from kjda.archives.models import Record, RecordStatus, Retention, Volume
from kjda.errors import NotFound
from kjda.lifecycle.appraisal.models import AppraisalItem, AppraisalState, Outcome
from kjda.lifecycle.appraisal.selectors import records_appraised_for_destruction
from kjda.lifecycle.destruction.models import (
    DestructionBatch,
    DestructionItem,
    DestructionState,
    Hold,
    HoldState,
    ItemState,
)
from kjda.lifecycle.loans.selectors import records_in_open_loan as loans_in_open_loan
from kjda.lifecycle.registers import Column, Register, Signature

CHUNK = 500  # ids per IN (…) list: under SQLite's variable limit, few round trips
# Everyone who takes part in a destruction or a hold sees the batches and holds (the register
# they sign lists the items anyway); the records themselves stay behind their data scope.
LIFECYCLE_READERS = frozenset({Role.ARCHIVIST, Role.ACCOUNTANT, Role.AUDITOR, Role.HEAD,
                               Role.ARCHIVES_HEAD, Role.ACCOUNTING_HEAD, Role.INSPECTOR,
                               Role.IT_OFFICER})
OPEN_STATES = (DestructionState.DRAFT, DestructionState.UNDER_APPRAISAL,
               DestructionState.SIGNED, DestructionState.EXECUTING)


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    batch: list[int] = []
    for i in ids:
        batch.append(int(i))
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


# ---- holds -----------------------------------------------------------------------------------

HOLD_QUERY_KEYS = ("fonds", "fiscal_year", "category", "department", "text")


def hold_query_q(query: dict[str, Any]) -> Q:
    """The records a hold's query matches (every condition given must hold). An empty query
    matches nothing: a hold by query must say what it holds."""
    parts = {k: query.get(k) for k in HOLD_QUERY_KEYS if query.get(k) not in (None, "")}
    if not parts:
        return Q(pk__in=[])
    q = Q()
    if "fonds" in parts:
        q &= Q(fonds__code=str(parts["fonds"]))
    if "fiscal_year" in parts:
        q &= Q(fiscal_year=int(str(parts["fiscal_year"])))
    if "category" in parts:
        q &= Q(rule__name=str(parts["category"])) | Q(category__name=str(parts["category"]))
    if "department" in parts:
        q &= Q(department=str(parts["department"]))
    if "text" in parts:
        q &= Q(title__icontains=str(parts["text"]))
    return q


def holds_of_records(*, record_ids: Iterable[int]) -> dict[int, list[Hold]]:
    """The active holds on each of `record_ids` (those held only): named directly, through a
    volume, or matched by a hold's query now (records filed after the hold was placed too)."""
    active = list(Hold.objects.filter(state=HoldState.ACTIVE))
    if not active:
        return {}
    by_id = {h.pk: h for h in active}
    queries = [h for h in active if h.query]
    out: dict[int, list[Hold]] = {}

    def add(record_id: int, hold_id: int) -> None:
        holds = out.setdefault(record_id, [])
        if all(h.pk != hold_id for h in holds):
            holds.append(by_id[hold_id])

    direct = Hold.records.through.objects
    via_volume = Hold.volumes.through.objects
    for chunk in _chunks(record_ids):
        for rid, hid in direct.filter(hold_id__in=by_id, record_id__in=chunk).values_list(
                "record_id", "hold_id"):
            add(rid, hid)
        volumes: dict[int, list[int]] = {}
        for vid, hid in via_volume.filter(hold_id__in=by_id).values_list("volume_id", "hold_id"):
            volumes.setdefault(vid, []).append(hid)
        if volumes:
            for rid, vid in Record.objects.filter(pk__in=chunk, volume_id__in=volumes).values_list(
                    "pk", "volume_id"):
                for hid in volumes[vid]:
                    add(rid, hid)
        for hold in queries:
            for rid in Record.objects.filter(hold_query_q(hold.query), pk__in=chunk).values_list(
                    "pk", flat=True):
                add(rid, hold.pk)
    return out


def held_record_ids(*, record_ids: Iterable[int]) -> set[int]:
    """Of `record_ids`, those an active hold keeps from destruction (79号令 Art.19)."""
    return set(holds_of_records(record_ids=record_ids))


def hold_list(*, actor: Actor, state: str | None = None) -> QuerySet[Hold]:
    if not actor_roles(actor) & LIFECYCLE_READERS:
        return Hold.objects.none()
    qs = Hold.objects.select_related("owner", "created_by", "released_by")
    return qs.filter(state=state) if state else qs


def hold_get(*, actor: Actor, hold_id: int) -> Hold:
    hold = hold_list(actor=actor).filter(pk=hold_id).first()
    if hold is None:
        raise NotFound("hold_not_found", f"保全 {hold_id} 不存在", f"hold {hold_id} not found")
    return hold


def hold_record_count(hold: Hold) -> int:
    """Records the hold keeps now (named, through its volumes, or matched by its query)."""
    q = Q(pk__in=hold.records.values("pk")) | Q(volume__in=hold.volumes.all())
    if hold.query:
        q |= hold_query_q(hold.query)
    return Record.objects.filter(q).count()


def holds_of_volume(volume: Volume) -> list[Hold]:
    return list(Hold.objects.filter(volumes=volume))


def hold_query_matches(query: dict[str, Any], record: Record) -> bool:
    """`hold_query_q` evaluated on one loaded record (no query): the record page's mentions."""
    parts = {k: query.get(k) for k in HOLD_QUERY_KEYS if query.get(k) not in (None, "")}
    if not parts:
        return False
    checks = {
        "fonds": lambda v: record.fonds.code == str(v),
        "fiscal_year": lambda v: record.fiscal_year == int(str(v)),
        "category": lambda v: str(v) in (record.rule.name, record.category.name),
        "department": lambda v: record.department == str(v),
        "text": lambda v: str(v).lower() in record.title.lower(),
    }
    return all(checks[k](v) for k, v in parts.items())


def holds_of_record(record: Record) -> list[Hold]:
    """Every hold that names or matches the record, active or released (its history), in one
    query: holds naming it or its volume, and holds by query (matched here, on the record)."""
    named = Exists(Hold.records.through.objects.filter(hold_id=OuterRef("pk"),
                                                       record_id=record.pk))
    by_volume = (Exists(Hold.volumes.through.objects.filter(hold_id=OuterRef("pk"),
                                                            volume_id=record.volume_id))
                 if record.volume_id else Value(False))
    holds = Hold.objects.annotate(named=named, by_volume=by_volume).filter(
        Q(named=True) | Q(by_volume=True) | ~Q(query={}))
    return [h for h in holds
            if h.named or h.by_volume or hold_query_matches(h.query, record)]


# ---- what may be destroyed ---------------------------------------------------------------------

def records_in_open_loan(*, record_ids: Iterable[int]) -> set[int]:
    """Records in a requested, approved or active loan can never be destroyed (issue 18)."""
    return loans_in_open_loan(record_ids=record_ids)


@dataclass(frozen=True)
class Refusal:
    record_id: int
    archive_no: str
    code: str
    zh: str
    en: str

    def as_dict(self) -> dict[str, Any]:
        return {"record_id": self.record_id, "archive_no": self.archive_no, "code": self.code,
                "message_zh": self.zh, "message_en": self.en}


def destruction_refusals(*, record_ids: Sequence[int], today: date | None = None,
                         batch_id: int | None = None) -> list[Refusal]:
    """Why each of `record_ids` may not be destroyed (none: all may): not filed, already
    destroyed, permanent, term not ended, held (Art.19), out on loan, in another open batch, or
    not appraised for destruction by a decided appraisal (Art.16: only what the appraisal found
    of no further value is destroyed)."""
    today = today or timezone.localdate()
    refusals: list[Refusal] = []
    holds = holds_of_records(record_ids=record_ids)
    on_loan = records_in_open_loan(record_ids=record_ids)
    appraised = records_appraised_for_destruction(record_ids=record_ids)
    other_batches: dict[int, str] = {}
    for chunk in _chunks(record_ids):
        items = DestructionItem.objects.filter(record_id__in=chunk, batch__state__in=OPEN_STATES)
        if batch_id is not None:
            items = items.exclude(batch_id=batch_id)
        other_batches.update(items.values_list("record_id", "batch__number"))
    seen: set[int] = set()
    for chunk in _chunks(record_ids):
        rows = Record.objects.filter(pk__in=chunk).values_list(
            "pk", "archive_no", "status", "retention", "retention_expires_on")
        for rid, archive_no, status, retention, expires in rows:
            seen.add(rid)
            name = archive_no or f"#{rid}"

            def refuse(code: str, zh: str, en: str, rid: int = rid, name: str = name) -> None:
                refusals.append(Refusal(rid, name, code, f"{name}：{zh}", f"{name}: {en}"))

            if status == RecordStatus.DESTROYED:
                refuse("already_destroyed", "已销毁", "already destroyed")
            elif status != RecordStatus.FILED:
                refuse("not_filed", "未归档的记录不能销毁", "only filed records can be destroyed")
            elif retention == Retention.PERMANENT:
                refuse("permanent", "永久保管的档案不能销毁", "permanent records are never destroyed")
            elif expires is None or expires >= today:
                refuse("term_not_ended", f"保管期未满（期满日 {expires or '未定'}）",
                       f"its term has not ended (ends {expires or 'unknown'})")
            elif rid in holds:
                numbers = "、".join(h.number for h in holds[rid])
                refuse("held", f"处于保全中（{numbers}），不得销毁（第十九条）",
                       f"held ({numbers}); Art.19 forbids destroying it")
            elif rid in on_loan:
                refuse("on_loan", "正在借出，不能销毁", "it is out on an open loan")
            elif rid in other_batches:
                refuse("in_other_batch", f"已在销毁清册 {other_batches[rid]} 中",
                       f"already in destruction batch {other_batches[rid]}")
            elif rid not in appraised:
                refuse("not_appraised", "未经鉴定确认销毁（第十六条：须先鉴定）",
                       "no decided appraisal found it of no further value (Art.16)")
    for rid in record_ids:
        if int(rid) not in seen:
            refusals.append(Refusal(int(rid), f"#{rid}", "not_found", f"档案 {rid} 不存在",
                                    f"record {rid} not found"))
    return refusals


def destruction_candidates(*, actor: Actor, fonds: str = "", fiscal_year: int | None = None,
                           limit: int = 200) -> list[tuple[Record, list[Hold]]]:
    """Records in the actor's scope whose term has ended and that a decided appraisal marked
    for destruction (not permanent, not destroyed, in no open batch), oldest first, each with
    the holds that keep it (a held one is shown, not selectable)."""
    from kjda.archives.selectors import RecordFilters, record_list

    qs = record_list(actor=actor, filters=RecordFilters(fonds=fonds or None,
                                                        fiscal_year=fiscal_year or None))
    qs = (qs.filter(status=RecordStatus.FILED, retention_expires_on__lt=timezone.localdate())
          .exclude(retention=Retention.PERMANENT)
          .exclude(pk__in=DestructionItem.objects.filter(batch__state__in=OPEN_STATES)
                   .values("record_id"))
          .order_by("retention_expires_on", "archive_no")[:limit])
    rows = list(qs)
    appraised = records_appraised_for_destruction(record_ids=[r.pk for r in rows])
    rows = [r for r in rows if r.pk in appraised]
    holds = holds_of_records(record_ids=[r.pk for r in rows])
    return [(r, holds.get(r.pk, [])) for r in rows]


# ---- destruction batches ---------------------------------------------------------------------

def destruction_list(*, actor: Actor, state: str | None = None) -> QuerySet[DestructionBatch]:
    if not actor_roles(actor) & LIFECYCLE_READERS:
        return DestructionBatch.objects.none()
    qs = DestructionBatch.objects.select_related("fonds", "created_by", "register_record")
    return qs.filter(state=state) if state else qs


def destruction_get(*, actor: Actor, batch_id: int) -> DestructionBatch:
    batch = destruction_list(actor=actor).filter(pk=batch_id).first()
    if batch is None:
        raise NotFound("destruction_not_found", f"销毁批次 {batch_id} 不存在",
                       f"destruction batch {batch_id} not found")
    return batch


def destruction_progress(batch: DestructionBatch) -> dict[str, int]:
    counts = {s: 0 for s in ItemState.values}
    for state, n in _count_by_state(batch):
        counts[state] = n
    counts["total"] = sum(counts[s] for s in ItemState.values)
    return counts


def _count_by_state(batch: DestructionBatch) -> list[tuple[str, int]]:
    from django.db.models import Count

    return list(batch.items.values_list("state").annotate(n=Count("id")).values_list("state", "n"))


def batch_record_ids(batch: DestructionBatch) -> list[int]:
    return list(batch.items.values_list("record_id", flat=True))


REGISTER_COLUMNS = [
    Column("序号", 0.5, "center"), Column("名称", 2.8), Column("卷号", 1.6),
    Column("册数", 0.5, "center"), Column("起止年度", 0.9, "center"), Column("档案编号", 2.2),
    Column("应保管期限", 1.0, "center"), Column("已保管期限", 1.0, "center"),
    Column("销毁时间", 1.0, "center"), Column("备注", 1.4),
]
RETENTION_TEXT = dict(Retention.choices)


def _kept_years(fiscal_year: int, on: date) -> str:
    # The clock starts on 1 January after the fiscal year (standards.md §1.4).
    return f"{max(0, on.year - fiscal_year - 1)}年"


def register_rows(batch: DestructionBatch, *, on: date | None = None) -> Iterator[list[Any]]:
    """The 销毁清册's rows (79号令 Art.18 columns), streamed from the database in chunks: a
    100,000-item batch is never held as a list. Items a hold keeps are listed as withheld."""
    on = on or timezone.localdate()
    n = 0
    item_ids = batch.items.order_by("id").values_list("id", flat=True)
    last = 0
    while True:
        chunk = list(item_ids.filter(id__gt=last)[:2000])
        if not chunk:
            return
        last = chunk[-1]
        rows = list(DestructionItem.objects.filter(pk__in=chunk).order_by("id").values_list(
            "record_id", "state", "done_at", "record__title", "record__archive_no",
            "record__fiscal_year", "record__retention", "record__volume__archive_no",
            "record__volume_no"))
        holds = holds_of_records(record_ids=[r[0] for r in rows])
        for rid, state, done_at, title, archive_no, year, retention, vol_no, vol_seq in rows:
            n += 1
            note = ""
            if state == ItemState.WITHHELD or rid in holds:
                numbers = "、".join(h.number for h in holds.get(rid, []))
                note = f"暂缓销毁（保全 {numbers}）" if numbers else "暂缓销毁（保全）"
            yield [n, title, vol_no or (str(vol_seq) if vol_seq else ""), 1, str(year),
                   archive_no or "", RETENTION_TEXT.get(retention, retention),
                   _kept_years(year, on),
                   timezone.localtime(done_at).date() if done_at and not note else "", note]


def held_back_from_destruction(*, fonds_id: int) -> list[tuple[str, str, str]]:
    """Records of the fonds that a decided appraisal found of no further value but a hold keeps
    (Art.19: listed in the 销毁清册, kept apart until the matter is settled), as (档号, 题名,
    the holds)."""
    decided = AppraisalItem.objects.filter(batch__fonds_id=fonds_id,
                                           batch__state=AppraisalState.DECIDED,
                                           outcome=Outcome.DESTROY)
    appraised = Record.objects.filter(
        Q(pk__in=decided.filter(record__isnull=False).values("record_id"))
        | Q(volume__in=decided.filter(volume__isnull=False).values("volume_id"))).exclude(
        status=RecordStatus.DESTROYED)
    held = holds_of_records(record_ids=list(appraised.values_list("pk", flat=True)))
    rows = Record.objects.filter(pk__in=held).order_by("archive_no", "pk")
    return [(r.archive_no or str(r.record_no), r.title,
             "；".join(f"{h.number} {h.get_kind_display()}：{h.reason}" for h in held[r.pk]))
            for r in rows]


def destruction_register(batch: DestructionBatch, *, on: date | None = None) -> Register:
    """The 会计档案销毁清册 of the batch, with the five signatures and, once executed, the
    witnesses (监销人)."""
    from kjda.lifecycle.destruction.models import Signatory, Witness

    signed = {s.capacity: s for s in batch.signatures.select_related("user")}
    witnessed = {w.capacity: w for w in batch.witnesses.select_related("user")}
    signatures = [
        Signature(label, _person(signed[c].user) if c in signed else "",
                  signed[c].signed_at if c in signed else None,
                  signed[c].opinion if c in signed else "")
        for c, label in Signatory.choices
    ] + [
        Signature(label, _person(witnessed[c].user) if c in witnessed else "",
                  witnessed[c].confirmed_at if c in witnessed else None,
                  witnessed[c].note if c in witnessed else "")
        for c, label in Witness.choices
    ]
    total = batch.items.count()
    withheld = batch.items.filter(state=ItemState.WITHHELD).count()
    held_back = held_back_from_destruction(fonds_id=batch.fonds_id)
    sections = [("依第十九条不得销毁、单独转存的档案（已鉴定可销毁，因保全暂缓）",
                 "\n".join(f"{a}  {t}  {why}" for a, t, why in held_back))] if held_back else []
    return Register(
        title="会计档案销毁清册", columns=REGISTER_COLUMNS, rows=register_rows(batch, on=on),
        particulars=[("立档单位", batch.fonds.unit_name), ("全宗号", batch.fonds.code),
                     ("清册编号", batch.number), ("状态", "已销毁" if batch.destroyed_at else batch.get_state_display())],
        summary=[("共计", f"{total} 件"), ("暂缓销毁", f"{withheld} 件"),
                 ("保全未列入", f"{len(held_back)} 件")],
        signatures=signatures, extra_sections=tuple(sections),
        notes="依据《会计档案管理办法》第十八条编制；保全中的档案依第十九条单独转存，暂缓销毁。",
        created=batch.destroyed_at or batch.signed_at or batch.created_at)


def _person(user: Any) -> str:
    full = (user.get_full_name() or "").strip() if hasattr(user, "get_full_name") else ""
    return full or user.get_username()
