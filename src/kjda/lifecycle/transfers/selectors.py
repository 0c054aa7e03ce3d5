"""Reads of the hand-over and of temporary custody, scoped to the acting user."""

from __future__ import annotations

from datetime import date

from django.db.models import Count, QuerySet

from kjda.accounts.selectors import Actor, actor_profile, actor_roles
from kjda.archives.models import Custody, Fonds, Record, RecordStatus
from kjda.errors import NotFound
from kjda.lifecycle.transfers.models import (
    CustodyExtension,
    TransferBatch,
    TransferItem,
    TransferState,
)
from kjda.lifecycle.transfers.workflow import ACCOUNTING_ROLES, ARCHIVES_ROLES, TRANSFER

OPEN_STATES = (TransferState.DRAFT, TransferState.SUBMITTED, TransferState.CHECKED)
# Who sees transfers: both sides, the unit head and the auditors, within their fonds.
READERS = ACCOUNTING_ROLES | ARCHIVES_ROLES | {"head", "auditor", "inspector"}


def custody_default_deadline(fiscal_year: int) -> date:
    """Art.11: the accounting department keeps a year for 1 year after the year's end."""
    return date(fiscal_year + 1, 12, 31)


def custody_limit(fiscal_year: int) -> date:
    """Art.11: temporary custody never exceeds 3 years after the year's end."""
    return date(fiscal_year + 3, 12, 31)


def custody_deadline(fonds: Fonds | int, fiscal_year: int) -> date:
    """When the temporary custody of `fiscal_year` ends: the consented extension if any."""
    fonds_id = fonds.pk if isinstance(fonds, Fonds) else fonds
    until = (CustodyExtension.objects.filter(fonds_id=fonds_id, fiscal_year=fiscal_year)
             .values_list("until", flat=True).first())
    return until or custody_default_deadline(fiscal_year)


def custody_overdue(*, today: date) -> list[tuple[Fonds, int, date, int]]:
    """(fonds, year, deadline, records) for each year whose custody ended before `today` with
    filed records still in the accounting department's custody."""
    rows = (Record.objects.filter(status=RecordStatus.FILED, custody=Custody.ACCOUNTING,
                                  fiscal_year__lt=today.year - 1)
            .values("fonds_id", "fiscal_year").annotate(n=Count("id"))
            .order_by("fonds_id", "fiscal_year"))
    fonds = {f.pk: f for f in Fonds.objects.all()}
    out = []
    for row in rows:
        due = custody_deadline(row["fonds_id"], row["fiscal_year"])
        if due < today:
            out.append((fonds[row["fonds_id"]], row["fiscal_year"], due, row["n"]))
    return out


def _scoped(actor: Actor) -> QuerySet[TransferBatch]:
    if not actor_roles(actor) & READERS:
        return TransferBatch.objects.none()
    qs = TransferBatch.objects.select_related("fonds", "created_by")
    scope = actor_profile(actor).fonds
    return qs.filter(fonds__code__in=scope) if scope else qs


def transfer_list(*, actor: Actor, fonds: str = "", year: int | None = None,
                  state: str = "") -> QuerySet[TransferBatch]:
    qs = _scoped(actor)
    if fonds:
        qs = qs.filter(fonds__code=fonds)
    if year:
        qs = qs.filter(fiscal_year=year)
    if state:
        qs = qs.filter(state=state)
    return qs.annotate(item_count=Count("items")).order_by("-id")


def transfer_get(*, actor: Actor, batch_id: int) -> TransferBatch:
    batch = _scoped(actor).filter(pk=batch_id).first()
    if batch is None:
        raise NotFound("transfer_not_found", "移交批次不存在", "no such transfer")
    return batch


def transfer_items(*, batch: TransferBatch) -> QuerySet[TransferItem]:
    return batch.items.select_related("record", "record__volume", "decided_by").order_by("pk")


def transfer_next_steps(*, actor: Actor, batch: TransferBatch) -> list[str]:
    """The steps `actor` may take on `batch` now (buttons, to-dos)."""
    if "cashier" in actor_roles(actor):
        return []
    return [t.name for t in TRANSFER.allowed(state=batch.state, roles=actor_roles(actor))]


def transfers_of_record(record: Record) -> list[TransferItem]:
    return list(TransferItem.objects.filter(record=record).select_related("batch")
                .order_by("pk"))


def custody_records(*, fonds: Fonds, fiscal_year: int) -> QuerySet[Record]:
    """What a fonds holds of a year (the 保管清册): filed records, by archive number."""
    return (Record.objects.filter(fonds=fonds, fiscal_year=fiscal_year,
                                  status=RecordStatus.FILED)
            .select_related("volume", "rule").order_by("archive_no", "pk"))


def custody_fonds_get(*, actor: Actor, fonds_code: str) -> Fonds:
    scope = actor_profile(actor).fonds
    fonds = Fonds.objects.filter(code=fonds_code).first()
    if fonds is None or not actor_roles(actor) & READERS or (scope and fonds_code not in scope):
        raise NotFound("fonds_not_found", "全宗不存在或不在您的数据范围内",
                       "no such fonds in your scope")
    return fonds
