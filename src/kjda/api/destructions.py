"""Holds (Art.19) and destruction batches (Art.18): list, detail, create and one POST per step,
and the 销毁清册 as PDF/A and Excel. Thin over kjda.lifecycle.destruction's services."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema

from kjda.lifecycle.destruction import selectors, services
from kjda.lifecycle.destruction.flow import DESTRUCTION
from kjda.lifecycle.destruction.models import DestructionBatch, Hold
from kjda.lifecycle.registers import register_download

from .permissions import require_token_scope

router = Router(tags=["holds", "destructions"])


class HoldIn(Schema):
    kind: str
    reason: str
    review_on: date
    owner: str = ""  # username; the placer when empty
    record_ids: list[int] = []
    volume_ids: list[int] = []
    query: dict[str, Any] = {}


class ReasonIn(Schema):
    reason: str


class DestructionIn(Schema):
    record_ids: list[int] = []
    volume_ids: list[int] = []
    title: str = ""


class SignIn(Schema):
    capacity: str
    opinion: str


class WitnessIn(Schema):
    capacity: str
    note: str = ""


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def hold_out(h: Hold, *, detail: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": h.pk, "number": h.number, "kind": h.kind, "kind_label": h.get_kind_display(),
        "reason": h.reason, "owner": h.owner.get_username(), "review_on": h.review_on,
        "state": h.state, "query": h.query, "created_at": _when(h.created_at),
        "released_at": _when(h.released_at), "release_reason": h.release_reason,
    }
    if detail:
        out["record_ids"] = list(h.records.values_list("pk", flat=True))
        out["volume_ids"] = list(h.volumes.values_list("pk", flat=True))
        out["records_held_now"] = selectors.hold_record_count(h)
    return out


def batch_out(b: DestructionBatch, *, request: HttpRequest | None = None,
              detail: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": b.pk, "number": b.number, "title": b.title, "fonds": b.fonds.code,
        "state": b.state, "state_label": b.get_state_display(),
        "created_at": _when(b.created_at), "signed_at": _when(b.signed_at),
        "destroyed_at": _when(b.destroyed_at), "progress": selectors.destruction_progress(b),
        "register_record_id": b.register_record_id,
    }
    if detail:
        out["signatures"] = [{"capacity": s.capacity, "user": s.user.get_username(),
                              "opinion": s.opinion, "signed_at": _when(s.signed_at),
                              "digest": s.digest}
                             for s in b.signatures.select_related("user")]
        out["witnesses"] = [{"capacity": w.capacity, "user": w.user.get_username(),
                             "note": w.note, "confirmed_at": _when(w.confirmed_at)}
                            for w in b.witnesses.select_related("user")]
        out["items"] = list(b.items.values("record_id", "state", "done_at",
                                           "record__archive_no", "record__title"))
        if request is not None:
            from kjda.accounts.selectors import actor_roles

            out["next_steps"] = [t.name for t in DESTRUCTION.allowed(
                state=b.state, roles=actor_roles(request.user))]
    return out


# ---- holds -----------------------------------------------------------------------------------

@router.get("/holds", summary="Holds (Art.19)")
def hold_list(request: HttpRequest, state: str | None = None) -> list[dict[str, Any]]:
    require_token_scope(request, "read")
    return [hold_out(h) for h in selectors.hold_list(actor=request.user, state=state)[:500]]


@router.get("/holds/{hold_id}", summary="One hold")
def hold_detail(request: HttpRequest, hold_id: int) -> dict[str, Any]:
    require_token_scope(request, "read")
    return hold_out(selectors.hold_get(actor=request.user, hold_id=hold_id), detail=True)


@router.post("/holds", response={201: dict}, summary="Place a hold")
def hold_create(request: HttpRequest, body: HoldIn) -> tuple[int, dict[str, Any]]:
    require_token_scope(request, "admin")
    hold = services.hold_place(actor=request.user, request=request, kind=body.kind,
                               reason=body.reason, owner=body.owner, review_on=body.review_on,
                               record_ids=body.record_ids, volume_ids=body.volume_ids,
                               query=body.query)
    return 201, hold_out(hold, detail=True)


@router.post("/holds/{hold_id}/release", summary="Release a hold, with the reason")
def hold_release(request: HttpRequest, hold_id: int, body: ReasonIn) -> dict[str, Any]:
    require_token_scope(request, "admin")
    hold = selectors.hold_get(actor=request.user, hold_id=hold_id)
    return hold_out(services.hold_release(actor=request.user, request=request, hold=hold,
                                          reason=body.reason), detail=True)


# ---- destructions ----------------------------------------------------------------------------

@router.get("/destructions", summary="Destruction batches")
def destruction_list(request: HttpRequest, state: str | None = None) -> list[dict[str, Any]]:
    require_token_scope(request, "read")
    return [batch_out(b) for b in selectors.destruction_list(actor=request.user,
                                                             state=state)[:500]]


@router.get("/destructions/{batch_id}", summary="One destruction batch with its items")
def destruction_detail(request: HttpRequest, batch_id: int) -> dict[str, Any]:
    require_token_scope(request, "read")
    batch = selectors.destruction_get(actor=request.user, batch_id=batch_id)
    return batch_out(batch, request=request, detail=True)


@router.post("/destructions", response={201: dict}, summary="Create a draft destruction batch")
def destruction_create(request: HttpRequest, body: DestructionIn) -> tuple[int, dict[str, Any]]:
    require_token_scope(request, "admin")
    batch = services.destruction_create(actor=request.user, request=request,
                                        record_ids=body.record_ids, volume_ids=body.volume_ids,
                                        title=body.title)
    return 201, batch_out(batch, request=request, detail=True)


def _batch(request: HttpRequest, batch_id: int) -> DestructionBatch:
    require_token_scope(request, "admin")
    return selectors.destruction_get(actor=request.user, batch_id=batch_id)


@router.post("/destructions/{batch_id}/submit", summary="Put the register to the signatories")
def destruction_submit(request: HttpRequest, batch_id: int) -> dict[str, Any]:
    batch = services.destruction_submit(actor=request.user, request=request,
                                        batch=_batch(request, batch_id))
    return batch_out(batch, request=request, detail=True)


@router.post("/destructions/{batch_id}/sign", summary="Sign the register with an opinion")
def destruction_sign(request: HttpRequest, batch_id: int, body: SignIn) -> dict[str, Any]:
    batch = services.destruction_sign(actor=request.user, request=request,
                                      batch=_batch(request, batch_id), capacity=body.capacity,
                                      opinion=body.opinion)
    return batch_out(batch, request=request, detail=True)


@router.post("/destructions/{batch_id}/witness", summary="Confirm as a witness (监销)")
def destruction_witness(request: HttpRequest, batch_id: int, body: WitnessIn) -> dict[str, Any]:
    batch = services.destruction_witness(actor=request.user, request=request,
                                         batch=_batch(request, batch_id),
                                         capacity=body.capacity, note=body.note)
    return batch_out(batch, request=request, detail=True)


@router.post("/destructions/{batch_id}/execute", response={202: dict},
             summary="Start the destruction (the task worker removes the bytes)")
def destruction_execute(request: HttpRequest, batch_id: int) -> tuple[int, dict[str, Any]]:
    batch = services.destruction_execute(actor=request.user, request=request,
                                         batch=_batch(request, batch_id))
    return 202, batch_out(batch, request=request, detail=True)


@router.post("/destructions/{batch_id}/cancel", summary="Cancel the batch, with the reason")
def destruction_cancel(request: HttpRequest, batch_id: int, body: ReasonIn) -> dict[str, Any]:
    batch = services.destruction_cancel(actor=request.user, request=request,
                                        batch=_batch(request, batch_id), reason=body.reason)
    return batch_out(batch, request=request, detail=True)


def _register_response(request: HttpRequest, batch_id: int, kind: str) -> HttpResponse:
    require_token_scope(request, "read")
    batch = selectors.destruction_get(actor=request.user, batch_id=batch_id)
    return register_download(request, selectors.destruction_register(batch), kind=kind,
                             label="会计档案销毁清册", object_type="destruction",
                             object_id=str(batch.pk), filename=batch.number)


@router.get("/destructions/{batch_id}/register.pdf", summary="The 销毁清册 as PDF/A")
def destruction_register_pdf(request: HttpRequest, batch_id: int) -> HttpResponse:
    return _register_response(request, batch_id, "pdf")


@router.get("/destructions/{batch_id}/register.xlsx", summary="The 销毁清册 as Excel")
def destruction_register_xlsx(request: HttpRequest, batch_id: int) -> HttpResponse:
    return _register_response(request, batch_id, "xlsx")
