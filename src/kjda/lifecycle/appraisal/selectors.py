"""Reads of the appraisal app, scoped by the acting user: expired records and volumes, batches,
the administered retention rules and their versions, and the Art.8 evidence of a fonds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db.models import Exists, Max, OuterRef, Q, QuerySet
from django.utils import timezone

from kjda.accounts.selectors import Actor, actor_roles
from kjda.archives import selectors as archive_selectors
from kjda.archives.models import (
    Fonds,
    Record,
    RecordFile,
    RecordStatus,
    Relation,
    Retention,
    RetentionRule,
    Volume,
    VolumeStatus,
)
from kjda.audit.selectors import audit_chain_verify
from kjda.lifecycle.appraisal.models import (
    AppraisalBatch,
    AppraisalItem,
    AppraisalState,
    Outcome,
    RetentionChange,
)
from kjda.lifecycle.appraisal.workflow import APPRAISAL, PARTICIPANTS, SIDE_ROLES
from kjda.preservation.backup.selectors import backup_status

OPEN_STATES = (AppraisalState.DRAFT, AppraisalState.IN_REVIEW)


@dataclass(frozen=True)
class ExpiryFilters:
    fonds: str | None = None
    fiscal_year: int | None = None
    category: str | None = None  # 门类 name or a rule name


def _under_appraisal_q() -> Q:
    """Records already in an open batch, or marked for destruction by a decided one (waiting for
    the destruction batch): not listed again."""
    busy = AppraisalItem.objects.filter(
        Q(batch__state__in=OPEN_STATES)
        | Q(batch__state=AppraisalState.DECIDED, outcome=Outcome.DESTROY))
    return Q(Exists(busy.filter(record=OuterRef("pk")))) | Q(
        volume__isnull=False, volume__in=busy.filter(volume__isnull=False).values("volume"))


def expired_records(*, actor: Actor, filters: ExpiryFilters | None = None,
                    today: date | None = None, include_busy: bool = False) -> QuerySet[Record]:
    """Filed records in the actor's scope whose term has ended (retention_expires_on before
    `today`; permanent records never expire), not already under appraisal."""
    f = filters or ExpiryFilters()
    today = today or timezone.localdate()
    qs = (archive_selectors.record_list(actor=actor)
          .filter(status=RecordStatus.FILED, retention_expires_on__lt=today)
          .exclude(retention=Retention.PERMANENT))
    if f.fonds:
        qs = qs.filter(fonds__code=f.fonds)
    if f.fiscal_year:
        qs = qs.filter(fiscal_year=f.fiscal_year)
    if f.category:
        qs = qs.filter(Q(category__name=f.category) | Q(rule__name=f.category))
    if not include_busy:
        qs = qs.exclude(_under_appraisal_q())
    return qs.order_by("fonds__code", "fiscal_year", "archive_no", "id")


def expired_volumes(*, actor: Actor, filters: ExpiryFilters | None = None,
                    today: date | None = None) -> QuerySet[Volume]:
    """Closed volumes in the actor's fonds all of whose filed items have expired."""
    f = filters or ExpiryFilters()
    today = today or timezone.localdate()
    qs = Volume.objects.filter(fonds__in=archive_selectors.fonds_list(actor=actor),
                               status=VolumeStatus.CLOSED).exclude(retention=Retention.PERMANENT)
    unexpired = Record.objects.filter(volume=OuterRef("pk"), status=RecordStatus.FILED).filter(
        Q(retention_expires_on__isnull=True) | Q(retention_expires_on__gte=today))
    qs = (qs.annotate(expired_on=Max("records__retention_expires_on"))
          .filter(expired_on__isnull=False).exclude(Exists(unexpired)))
    if f.fonds:
        qs = qs.filter(fonds__code=f.fonds)
    if f.fiscal_year:
        qs = qs.filter(fiscal_year=f.fiscal_year)
    if f.category:
        qs = qs.filter(category__name=f.category)
    busy = AppraisalItem.objects.filter(
        Q(batch__state__in=OPEN_STATES)
        | Q(batch__state=AppraisalState.DECIDED, outcome=Outcome.DESTROY), volume__isnull=False)
    return qs.exclude(pk__in=busy.values("volume")).select_related("fonds", "category").order_by(
        "fonds__code", "fiscal_year", "archive_no")


def expiry_counts(*, fonds: Fonds, today: date) -> tuple[int, int]:
    """(records, volumes) of `fonds` whose term ended before `today` (the daily scan: the
    system looks at every record, whoever's scope)."""
    records = (Record.objects.filter(fonds=fonds, status=RecordStatus.FILED,
                                     retention_expires_on__lt=today)
               .exclude(retention=Retention.PERMANENT).count())
    unexpired = Record.objects.filter(volume=OuterRef("pk"), status=RecordStatus.FILED).filter(
        Q(retention_expires_on__isnull=True) | Q(retention_expires_on__gte=today))
    volumes = (Volume.objects.filter(fonds=fonds, status=VolumeStatus.CLOSED)
               .exclude(retention=Retention.PERMANENT)
               .annotate(last=Max("records__retention_expires_on")).filter(last__isnull=False)
               .exclude(Exists(unexpired)).count())
    return records, volumes


def appraisal_list(*, actor: Actor, state: str | None = None,
                   fonds: str | None = None) -> QuerySet[AppraisalBatch]:
    """Batches of the fonds the actor works in, for the roles that take part (Art.17)."""
    if not (actor_roles(actor) & PARTICIPANTS):
        return AppraisalBatch.objects.none()
    qs = AppraisalBatch.objects.filter(
        fonds__in=archive_selectors.fonds_list(actor=actor)).select_related("fonds", "created_by")
    if state:
        qs = qs.filter(state=state)
    if fonds:
        qs = qs.filter(fonds__code=fonds)
    return qs.order_by("-id")


def appraisal_get(*, actor: Actor, batch_id: int) -> AppraisalBatch | None:
    return appraisal_list(actor=actor).filter(pk=batch_id).first()


def appraisal_items(*, batch: AppraisalBatch) -> QuerySet[AppraisalItem]:
    return batch.items.select_related("record", "record__rule", "volume").order_by("id")


def appraisal_next_steps(*, actor: Actor, batch: AppraisalBatch) -> list[dict[str, Any]]:
    """What this user may do on the batch now, and what is still missing before a decision."""
    roles = actor_roles(actor)
    steps = [{"name": t.name, "label": t.label}
             for t in APPRAISAL.allowed(state=batch.state, roles=roles)]
    done = set(batch.opinions.values_list("side", flat=True))
    mine = [side for side, side_roles in SIDE_ROLES.items() if roles & side_roles]
    if not any(side not in done for side in mine):  # their side has spoken already
        steps = [s for s in steps if s["name"] != "opinion"]
    return steps


def appraisal_missing(*, batch: AppraisalBatch) -> dict[str, Any]:
    """The opinions and item outcomes a decision still needs."""
    done = set(batch.opinions.values_list("side", flat=True))
    return {"sides": [s for s in SIDE_ROLES if s not in done],
            "items": batch.items.filter(outcome=Outcome.UNDECIDED).count()}


def records_appraised_for_destruction(*, record_ids: Iterable[int]) -> set[int]:
    """Which of `record_ids` a decided appraisal marked for destruction (directly, or as an item
    of a volume so marked). Destruction batches are built only from these (Art.16: only records
    appraised as having no further value may be destroyed)."""
    ids = {int(i) for i in record_ids}
    if not ids:
        return set()
    destroy = AppraisalItem.objects.filter(batch__state=AppraisalState.DECIDED,
                                           outcome=Outcome.DESTROY)
    direct = set(destroy.filter(record_id__in=ids).values_list("record_id", flat=True))
    by_volume = set(Record.objects.filter(
        pk__in=ids, volume__in=destroy.filter(volume__isnull=False).values("volume"))
        .values_list("pk", flat=True))
    return (direct | by_volume) & ids


def retention_rules_all() -> QuerySet[RetentionRule]:
    """Both 保管期限表 with the local rules, statutory rows first."""
    return (RetentionRule.objects.select_related("category", "extends")
            .order_by("schedule", "extends_id", "seq"))


def retention_rule_get(*, rule_id: int) -> RetentionRule | None:
    return RetentionRule.objects.select_related("category", "extends").filter(pk=rule_id).first()


def retention_changes(*, rule: RetentionRule | None = None,
                      fonds: Fonds | None = None) -> QuerySet[RetentionChange]:
    qs = RetentionChange.objects.select_related("rule", "fonds", "changed_by")
    if rule is not None:
        qs = qs.filter(rule=rule)
    if fonds is not None:
        qs = qs.filter(fonds=fonds)
    return qs.order_by("-id")


# --- Art.8: may this fonds keep its records only electronically? -----------------------------

LONG_TERM_FORMATS = ("PDF/A", "OFD", "XML")


@dataclass
class Art8Condition:
    no: int
    title: str
    title_en: str
    status: str  # "ok" | "partial" | "missing" | "not_configured" | "flag"
    figures: dict[str, Any] = field(default_factory=dict)
    note: str = ""


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _long_term(f: Mapping[str, Any]) -> bool:
    name = (f.get("format_name") or "").upper()
    mime = (f.get("mime") or "").lower()
    pdfa = f.get("pdfa") or {}
    return (bool(pdfa.get("compliant")) or "PDF/A" in name or "OFD" in name or "ofd" in mime
            or "xml" in mime or name.startswith("XML"))


def art8_evidence(*, actor: Actor, fonds: Fonds) -> list[Art8Condition]:
    """For each of Art.8's six conditions, what the system holds as evidence for `fonds`'s filed
    records (standards.md §1.6). Counts cover the records the actor may read."""
    records = archive_selectors.record_list(actor=actor).filter(fonds=fonds,
                                                                status=RecordStatus.FILED)
    total = records.count()
    authentic = 0
    for report in records.values_list("check_report", flat=True).iterator():
        items = (report or {}).get("items") or []
        mine = [i for i in items if i.get("property") == "真实性"]
        if mine and not any(i.get("result") == "fail" for i in mine):
            authentic += 1
    files = RecordFile.objects.filter(record__in=records)
    sig_total = sig_valid = 0
    with_long_term: set[int] = set()
    for row in files.values("record_id", "format_name", "mime", "pdfa", "signatures").iterator():
        for s in row["signatures"] or []:
            sig_total += 1
            sig_valid += (s or {}).get("status") == "valid"
        if _long_term(row):
            with_long_term.add(row["record_id"])
    linked = records.filter(
        Q(offline_carrier_no__gt="") | Q(microform_no__gt="")
        | Q(Exists(Relation.objects.filter(record=OuterRef("pk"))))).count()
    permanent = records.filter(retention=Retention.PERMANENT).count()
    chain = audit_chain_verify(checkpoint=True)

    def level(share: float | None) -> str:
        if share is None:
            return "missing"
        return "ok" if share >= 0.999 else "partial"

    auth_share = _share(authentic, total)
    fmt_share = _share(len(with_long_term), total)
    link_share = _share(linked, total)
    return [
        Art8Condition(1, "来源真实有效，由计算机等电子设备形成和传输",
                      "genuine, valid source, created and transmitted electronically",
                      level(auth_share),
                      {"records": total, "authenticity_passed": authentic,
                       "share": auth_share, "signatures": sig_total,
                       "signatures_valid": sig_valid}),
        Art8Condition(2, "能准确、完整、有效接收和读取，能输出符合国家标准归档格式",
                      "read accurately; output in a national-standard archival format",
                      level(fmt_share),
                      {"records": total, "long_term_format": len(with_long_term),
                       "share": fmt_share, "formats": list(LONG_TERM_FORMATS)}),
        Art8Condition(3, "电子档案管理系统满足长期保存要求，建立电子档案与相关纸质档案的检索关系",
                      "long-term preservation; retrieval link to related paper archives",
                      level(link_share) if linked else "missing",
                      {"records": total, "linked": linked, "share": link_share}),
        Art8Condition(4, "采取有效措施，防止电子会计档案被篡改",
                      "effective measures against tampering",
                      "ok" if chain.ok else "missing",
                      {"audit_chain_ok": chain.ok, "events_checked": chain.checked,
                       "first_bad_seq": chain.first_bad_seq, "checkpoint_seq": chain.checkpoint_seq},
                      chain.reason if not chain.ok else ""),
        _art8_backup(),
        Art8Condition(6, "不属于具有永久保存价值或者其他重要保存价值的会计档案",
                      "not of permanent or otherwise major preservation value",
                      "flag" if permanent else "ok",
                      {"permanent_records": permanent, "records": total},
                      "永久保管的档案不应仅以电子形式保存。" if permanent else ""),
    ]


def _art8_backup() -> Art8Condition:
    """Condition (5): the backup regime's evidence is the last good `kjda backup` and its age."""
    status = backup_status()
    facts = status.as_dict()
    if status.last_ok is None:
        state, note = "missing", "尚无成功的备份（kjda backup DEST）。"
    elif status.overdue:
        state, note = "partial", "上次成功备份已超过 KJDA_BACKUP_MAX_AGE_HOURS 规定的时限。"
    else:
        state, note = "ok", ""
    return Art8Condition(5, "建立电子会计档案备份制度",
                         "a backup regime against disasters, accidents and deliberate damage",
                         state, facts, note)
