"""Reads of invoice data. Record reads go through the archives selectors (the actor's scope);
the duplicate-claim lookup of ingest is not a user read and sees every record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Q

from kjda.archives import selectors as archive_selectors
from kjda.archives.models import Record, RecordStatus
from kjda.db.django_private import prefetched_get
from kjda.errors import NotFound
from kjda.invoices.models import Invoice

if TYPE_CHECKING:
    from kjda.accounts.selectors import Actor


@dataclass
class InvoiceFilters:
    invoice_number: str | None = None
    seller: str | None = None
    buyer: str | None = None
    tax_id: str | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    issue_date_from: date | None = None
    issue_date_to: date | None = None

    def any(self) -> bool:
        return any(v not in (None, "") for v in vars(self).values())


def invoice_record_condition(f: InvoiceFilters) -> Q | None:
    """A condition on Record (kjda.archives' RecordFilters.invoice): records holding an invoice
    that matches every given filter; None when `f` filters nothing. Built here so that archives,
    a lower layer, filters on invoices without importing them."""
    if not f.any():
        return None
    inv = Invoice.objects.all()
    if f.invoice_number:
        inv = inv.filter(invoice_number=f.invoice_number.strip())
    if f.seller:
        inv = inv.filter(seller_name__contains=f.seller.strip())
    if f.buyer:
        inv = inv.filter(buyer_name__contains=f.buyer.strip())
    if f.tax_id:
        tax_id = f.tax_id.strip().upper()
        inv = inv.filter(Q(seller_tax_id=tax_id) | Q(buyer_tax_id=tax_id))
    if f.amount_min is not None:
        inv = inv.filter(total_incl_tax__gte=f.amount_min)
    if f.amount_max is not None:
        inv = inv.filter(total_incl_tax__lte=f.amount_max)
    if f.issue_date_from:
        inv = inv.filter(issue_date__gte=f.issue_date_from)
    if f.issue_date_to:
        inv = inv.filter(issue_date__lte=f.issue_date_to)
    return Q(pk__in=inv.values("record_id"))


def invoice_first_claims(*, identities: list[str]) -> dict[str, Record]:
    """For each invoice identity, the earliest record (not revoked or withdrawn) that already
    holds it."""
    keys = [k for k in dict.fromkeys(identities) if k]
    if not keys:
        return {}
    out: dict[str, Record] = {}
    rows = (Invoice.objects.filter(identity__in=keys)
            .exclude(record__status__in=[RecordStatus.REVOKED, RecordStatus.WITHDRAWN])
            # a file replaced while its record was pending no longer claims its invoice
            .filter(file__superseded_at__isnull=True)
            .select_related("record").order_by("record_id"))
    for inv in rows:
        out.setdefault(inv.identity, inv.record)
    return out


def invoices_of_record(*, record: Record) -> list[Invoice]:
    """A record's invoices in file order (the record was read through a scoped selector; a
    record just filed carries the rows it was filed with)."""
    filed = prefetched_get(record, "invoices")
    if filed is not None:
        return list(filed)
    return list(Invoice.objects.filter(record=record, file__superseded_at__isnull=True)
                .order_by("file__sequence"))


def invoice_claim_for_actor(*, actor: Actor, identity: str) -> dict[str, Any] | None:
    """The record that already claimed `identity`: its id and number when the actor may see
    it, else only that it exists (no detail leaks across scopes); None when unclaimed."""
    first = invoice_first_claims(identities=[identity]).get(identity)
    if first is None:
        return None
    try:
        visible = archive_selectors.record_get(actor=actor, record_id=first.pk)
    except NotFound:
        return {"visible": False}
    return {"visible": True, "record_id": visible.pk, "archive_no": visible.archive_no,
            "title": visible.title, "status": visible.status}


def invoice_duplicates_for(*, actor: Actor, invoices: list[Invoice]
                           ) -> list[dict[str, Any] | None]:
    """For each invoice (in order): the earlier claim it duplicates as the actor may see it,
    `{visible, record_id, archive_no, title, status}` or `{visible: false}` (as /invoices/check
    answers), or None; one query for all of them."""
    visible = archive_selectors.records_visible(
        actor=actor, ids=[inv.duplicate_of_id for inv in invoices if inv.duplicate_of_id])
    return [archive_selectors.record_reference_for(actor=actor, record_id=inv.duplicate_of_id,
                                                   visible=visible)
            for inv in invoices]
