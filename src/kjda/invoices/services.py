"""Writes and entry points of the invoices app: extraction for ingest and for checks, the
invoice rows of a filed record, and the duplicate-claim link (财会〔2020〕6号)."""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, cast

from kjda.archives.services import record_relation_add
from kjda.db.locks import xact_locks
from kjda.errors import Conflict
from kjda.formats import FormatInfo, Probe, identify
from kjda.invoices.extract import IMAGE_FORMATS
from kjda.invoices.extract import invoice_extract as _extract
from kjda.invoices.models import Invoice
from kjda.invoices.selectors import invoice_claim_for_actor, invoice_first_claims

if TYPE_CHECKING:
    from kjda.accounts.selectors import Actor
    from kjda.archives.models import Record, RecordFile

log = logging.getLogger(__name__)
INVOICE_FORMATS = ("ofd", "xml", "xbrl", "pdf", "pdfa", *IMAGE_FORMATS)
_INVOICE_WORDS = re.compile(r"发票|行程单|客票|回单|纳税人识别号|价税合计")
# Document types whose pictures are worth OCR (seconds a page) even without an invoice QR.
_OCR_DOCUMENT_TYPES = re.compile(r"发票|回单|票|原始凭证")


class IncomingFile(Protocol):
    """What invoices reads of ingest's file (`kjda.ingest.types.IncomingFile`): ingest is the
    layer above, so invoices names the shape instead of importing the class."""

    stream: BinaryIO
    format: FormatInfo
    probe: Probe
    text: str
    meta: Any  # kjda.ingest.metadata.FileMetaIn: its document_type
    invoice: dict[str, Any] | None


def invoice_extract(path: str | os.PathLike[str] | BinaryIO | bytes, fmt: str, *,
                    ocr_images: bool = True) -> dict[str, Any] | None:
    """The `invoice` object of a file (path, bytes or stream) of format `fmt`, or None.
    `ocr_images=False`: a picture is read only if it carries an invoice QR code."""
    try:
        return _extract(path, fmt, ocr_images=ocr_images)
    except Exception:  # noqa: BLE001 - a file we can't read an invoice from is just no invoice
        log.warning("invoice extraction failed", exc_info=True)
        return None


def invoice_for_incoming(f: IncomingFile) -> dict[str, Any] | None:
    """Ingest's step: only files that may hold an invoice pay for reading one."""
    fmt = f.format.name
    if fmt not in INVOICE_FORMATS or not f.probe.readable or f.probe.encrypted:
        return None
    if fmt in ("pdf", "pdfa") and f.text.strip() and not _INVOICE_WORDS.search(f.text):
        return None  # a text PDF that says nothing of invoices
    ocr = bool(_OCR_DOCUMENT_TYPES.search(f.meta.document_type or ""))
    return invoice_extract(f.stream, fmt, ocr_images=ocr)


def invoice_search_text(invoice: dict[str, Any]) -> str:
    """What of an invoice goes into the record's search index (OCR text included)."""
    parts = [invoice.get(k) or "" for k in ("kind", "invoice_code", "invoice_number",
                                             "seller_name", "seller_tax_id", "buyer_name",
                                             "buyer_tax_id")]
    parts += [i.get("name", "") for i in invoice.get("items", [])[:50]]
    parts.append((invoice.get("details") or {}).get("ocr_text", ""))
    return "\n".join(p for p in parts if p)


def _decimal(value: str | None) -> Decimal | None:
    return None if value in (None, "") else Decimal(value)


def invoices_save(*, record: Record, files: Sequence[IncomingFile],
                  first_claims: dict[str, Record],
                  file_rows: Sequence[RecordFile] | None = None) -> list[Invoice]:
    """One invoice row per file of the new record that holds one, linked to the record that
    claimed the same invoice first (if any), plus a 实体关系 row for each such link.
    `file_rows`: the stored row of each file, by position (a re-check of a pending record adds
    files after the first ones); without it files[i] is the record's file of sequence i + 1."""
    _claims_recheck(files=files, first_claims=first_claims)
    rows = []
    stored = ({i: rf for i, rf in enumerate(file_rows, start=1)} if file_rows is not None
              else {rf.sequence: rf for rf in record.files.all()})
    for seq, f in enumerate(files, start=1):
        inv = getattr(f, "invoice", None)
        rf = stored.get(seq)
        if not inv or rf is None:
            continue
        first = first_claims.get(inv.get("identity") or "")
        rows.append(Invoice(
            record=record, file=rf, kind=inv["kind"][:60], identity=inv["identity"],
            invoice_code=inv["invoice_code"], invoice_number=inv["invoice_number"],
            issue_date=date.fromisoformat(inv["issue_date"]) if inv["issue_date"] else None,
            total_excl_tax=_decimal(inv["total_excl_tax"]), total_tax=_decimal(inv["total_tax"]),
            total_incl_tax=_decimal(inv["total_incl_tax"]), seller_name=inv["seller_name"],
            seller_tax_id=inv["seller_tax_id"], buyer_name=inv["buyer_name"],
            buyer_tax_id=inv["buyer_tax_id"], data=_stored_data(inv),
            duplicate_of=first))
    Invoice.objects.bulk_create(rows)
    for first in {r.duplicate_of.pk: r.duplicate_of for r in rows if r.duplicate_of}.values():
        numbers = sorted({r.invoice_number for r in rows if r.duplicate_of == first})
        record_relation_add(
            record=record, target=first, relation_type="重复报销", relation="重复报销",
            entity_identifier=first.archive_no or str(first.record_no),
            description=f"发票 {'、'.join(numbers)} 已由档案 {first.archive_no or first.pk} "
                        f"报销 / invoice already claimed by record {first.pk}")
    return rows


def _claims_recheck(*, files: Sequence[IncomingFile], first_claims: dict[str, Record]) -> None:
    """Inside the filing transaction: an invoice that had no claim when the checks ran must
    still have none, or two concurrent claims of one invoice would both be filed: a lock per
    invoice (kjda.db.locks) makes the second claim wait for the first to commit."""
    unclaimed = sorted({inv["identity"] for f in files
                        if (inv := getattr(f, "invoice", None)) and inv["identity"]}
                       - set(first_claims))
    if not unclaimed:
        return
    xact_locks(f"kjda-invoice:{key}" for key in unclaimed)
    if invoice_first_claims(identities=unclaimed):
        raise Conflict("invoice_claim_race", "同一发票正由另一请求归档，请重试",
                       "the same invoice is being filed by another request: retry",
                       retryable=True)


def _stored_data(invoice: dict[str, Any]) -> dict[str, Any]:
    data = dict(invoice)
    details = dict(data.get("details") or {})
    details.pop("ocr_text", None)  # kept in the record's text, not twice
    if details:
        data["details"] = details
    else:
        data.pop("details", None)
    return data


def invoice_check(*, actor: Actor, upload: BinaryIO) -> dict[str, Any]:
    """`POST /invoices/check`: the invoice in an uploaded file and the record that already
    claimed it. Nothing is stored; the upload is read from a temporary copy."""
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as tmp:
        for chunk in iter(lambda: upload.read(1024 * 1024), b""):
            tmp.write(chunk)
        tmp.seek(0)
        # A binary file; typeshed types SpooledTemporaryFile as IO[bytes], not BinaryIO.
        fh = cast(BinaryIO, tmp)
        fmt = identify(fh).name
        invoice = invoice_extract(fh, fmt)
    if invoice is None:
        return {"format": fmt, "invoice": None, "duplicate": False, "duplicate_of": None}
    claim = invoice_claim_for_actor(actor=actor, identity=invoice["identity"]) \
        if invoice["identity"] else None
    return {"format": fmt, "invoice": invoice_public(invoice), "duplicate": claim is not None,
            "duplicate_of": claim}


def invoice_public(invoice: dict[str, Any]) -> dict[str, Any]:
    """The `invoice` object as the API shows it."""
    data = dict(invoice)
    details = dict(data.get("details") or {})
    details.pop("ocr_text", None)
    data["details"] = details
    return data
