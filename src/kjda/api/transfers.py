"""Hand-over (移交) and temporary custody: /api/v1/transfers, /api/v1/custody-*.
Thin over kjda.lifecycle.transfers (services write, selectors read in the user's scope)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status

from kjda.accounts.requests import AuthedRequest
from kjda.lifecycle.registers import register_download
from kjda.lifecycle.transfers import selectors, services
from kjda.lifecycle.transfers.models import TransferBatch
from kjda.lifecycle.transfers.registers import custody_register, transfer_register
from kjda.lifecycle.transfers.workflow import TRANSFER

from .permissions import require_token_scope

router = Router(tags=["transfers"])


class TransferIn(Schema):
    fonds: str
    fiscal_year: int
    categories: list[str] = []
    volume_ids: list[int] = []
    note: str = ""


class DecisionIn(Schema):
    item_id: int
    decision: str  # accepted | rejected
    reason: str = ""


class DecisionsIn(Schema):
    decisions: list[DecisionIn]


class ReasonIn(Schema):
    reason: str = ""


class SignIn(Schema):
    opinion: str = ""


class ExtensionIn(Schema):
    fonds: str
    fiscal_year: int
    until: date
    reason: str


class TransferQuery(Schema):
    fonds: str = ""
    year: int | None = None
    state: str = ""


class CustodyRegisterQuery(Schema):
    fonds: str
    year: int


class ItemOut(Schema):
    id: int
    record_id: int
    archive_no: str | None
    title: str
    passed: bool | None
    checks: list[dict[str, Any]] | None
    decision: str
    reason: str
    decided_at: datetime | None


class SignatureOut(Schema):
    side: str
    name: str
    role: str
    signed_at: datetime
    digest: str
    signature: dict[str, Any]
    opinion: str


class TransferOut(Schema):
    id: int
    number: str
    fonds: str
    fiscal_year: int
    categories: list[str]
    volume_ids: list[int]
    state: str
    state_label: str
    note: str
    created_by: str
    created_at: datetime
    submitted_at: datetime | None
    checked_at: datetime | None
    completed_at: datetime | None
    register_record_id: int | None
    item_count: int
    next_steps: list[str]


class TransferDetailOut(TransferOut):
    items: list[ItemOut]
    signatures: list[SignatureOut]


def _out(request: HttpRequest, batch: TransferBatch, *, detail: bool = False) -> dict[str, Any]:
    count = getattr(batch, "item_count", None)
    data: dict[str, Any] = {
        "id": batch.pk, "number": batch.number, "fonds": batch.fonds.code,
        "fiscal_year": batch.fiscal_year, "categories": batch.categories,
        "volume_ids": batch.volume_ids, "state": batch.state,
        "state_label": TRANSFER.state_label(batch.state), "note": batch.note,
        "created_by": batch.created_by.get_username(), "created_at": batch.created_at,
        "submitted_at": batch.submitted_at, "checked_at": batch.checked_at,
        "completed_at": batch.completed_at, "register_record_id": batch.register_record_id,
        "item_count": count if count is not None else batch.items.count(),
        "next_steps": selectors.transfer_next_steps(actor=request.user, batch=batch)}
    if detail:
        data["items"] = [{
            "id": i.pk, "record_id": i.record_id, "archive_no": i.record.archive_no,
            "title": i.record.title, "passed": i.passed, "checks": i.checks,
            "decision": i.decision, "reason": i.reason, "decided_at": i.decided_at}
            for i in selectors.transfer_items(batch=batch)]
        data["signatures"] = [{
            "side": s.side, "name": s.name, "role": s.role, "signed_at": s.signed_at,
            "digest": s.digest, "signature": s.signature, "opinion": s.opinion}
            for s in batch.signatures.all()]
    return data


def _detail(request: AuthedRequest, batch_id: int) -> dict[str, Any]:
    return _out(request, selectors.transfer_get(actor=request.user, batch_id=batch_id),
                detail=True)


def _writable(request: AuthedRequest, batch_id: int) -> None:
    """A write needs the token's ingest scope and the batch within the actor's scope."""
    require_token_scope(request, "ingest")
    selectors.transfer_get(actor=request.user, batch_id=batch_id)


@router.get("/transfers", response=list[TransferOut])
def transfer_list(request: AuthedRequest, q: Query[TransferQuery]):
    require_token_scope(request, "read")
    return [_out(request, b) for b in selectors.transfer_list(
        actor=request.user, fonds=q.fonds, year=q.year, state=q.state)[:500]]


@router.post("/transfers", response={201: TransferDetailOut})
def transfer_create(request: AuthedRequest, body: TransferIn):
    require_token_scope(request, "ingest")
    batch = services.transfer_create(actor=request.user, fonds_code=body.fonds,
                                     fiscal_year=body.fiscal_year, categories=body.categories,
                                     volume_ids=body.volume_ids, note=body.note,
                                     request=request)
    return Status(201, _detail(request, batch.pk))


@router.get("/transfers/{batch_id}", response=TransferDetailOut)
def transfer_detail(request: AuthedRequest, batch_id: int):
    require_token_scope(request, "read")
    return _detail(request, batch_id)


@router.post("/transfers/{batch_id}/submit", response=TransferDetailOut)
def transfer_submit(request: AuthedRequest, batch_id: int):
    _writable(request, batch_id)
    services.transfer_submit(actor=request.user, batch_id=batch_id, request=request)
    return _detail(request, batch_id)


@router.post("/transfers/{batch_id}/items/{item_id}/accept", response=TransferDetailOut)
def transfer_item_accept(request: AuthedRequest, batch_id: int, item_id: int):
    _writable(request, batch_id)
    services.transfer_items_decide(actor=request.user, batch_id=batch_id,
                                   decisions=[(item_id, "accepted", "")], request=request)
    return _detail(request, batch_id)


@router.post("/transfers/{batch_id}/items/{item_id}/reject", response=TransferDetailOut)
def transfer_item_reject(request: AuthedRequest, batch_id: int, item_id: int, body: ReasonIn):
    _writable(request, batch_id)
    services.transfer_items_decide(actor=request.user, batch_id=batch_id,
                                   decisions=[(item_id, "rejected", body.reason)],
                                   request=request)
    return _detail(request, batch_id)


@router.post("/transfers/{batch_id}/decisions", response=TransferDetailOut)
def transfer_decide(request: AuthedRequest, batch_id: int, body: DecisionsIn):
    _writable(request, batch_id)
    services.transfer_items_decide(
        actor=request.user, batch_id=batch_id,
        decisions=[(d.item_id, d.decision, d.reason) for d in body.decisions], request=request)
    return _detail(request, batch_id)


@router.post("/transfers/{batch_id}/sign", response=TransferDetailOut)
def transfer_sign(request: AuthedRequest, batch_id: int, body: SignIn | None = None):
    _writable(request, batch_id)
    services.transfer_sign(actor=request.user, batch_id=batch_id,
                           opinion=body.opinion if body else "", request=request)
    return _detail(request, batch_id)


@router.post("/transfers/{batch_id}/cancel", response=TransferDetailOut)
def transfer_cancel(request: AuthedRequest, batch_id: int, body: ReasonIn):
    _writable(request, batch_id)
    services.transfer_cancel(actor=request.user, batch_id=batch_id, reason=body.reason,
                             request=request)
    return _detail(request, batch_id)


@router.get("/transfers/{batch_id}/register.{kind}")
def transfer_register_download(request: AuthedRequest, batch_id: int, kind: str):
    """The 移交清册 as it stands: every item offered until the archives side signs, then the
    items accepted."""
    require_token_scope(request, "read")
    batch = selectors.transfer_get(actor=request.user, batch_id=batch_id)
    final = batch.completed_at is not None
    return register_download(request, transfer_register(batch, final=final), kind=kind,
                             label="会计档案移交清册", object_type="transfer",
                             object_id=str(batch.pk), filename=batch.number)


@router.get("/custody-register")
def custody_register_download(request: AuthedRequest, q: Query[CustodyRegisterQuery],
                              format: str = "pdf"):  # noqa: A002 - the query parameter's name
    require_token_scope(request, "read")
    fonds = selectors.custody_fonds_get(actor=request.user, fonds_code=q.fonds)
    kind = "xlsx" if format == "xlsx" else "pdf"
    return register_download(request, custody_register(fonds, q.year), kind=kind,
                             label="会计档案保管清册", object_type="fonds",
                             object_id=f"{fonds.code}:{q.year}",
                             filename=f"custody-{fonds.code}-{q.year}")


@router.post("/custody-register", response={201: dict[str, Any]})
def custody_register_file(request: AuthedRequest, body: CustodyRegisterQuery):
    require_token_scope(request, "ingest")
    record = services.custody_register_file(actor=request.user, fonds_code=body.fonds,
                                            fiscal_year=body.year, request=request)
    return Status(201, {"record_id": record.pk, "archive_no": record.archive_no})


@router.post("/custody-extensions", response={201: dict[str, Any]})
def custody_extend(request: AuthedRequest, body: ExtensionIn):
    require_token_scope(request, "ingest")
    ext = services.custody_extend(actor=request.user, fonds_code=body.fonds,
                                  fiscal_year=body.fiscal_year, until=body.until,
                                  reason=body.reason, request=request)
    return Status(201, {"fonds": body.fonds, "fiscal_year": ext.fiscal_year,
                        "until": ext.until, "reason": ext.reason})
