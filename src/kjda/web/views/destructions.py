"""Holds (Art.19) and destruction (Art.18) pages: lists, the hold form, and the batch page with
its state, items, signatures, witnesses, progress and what the user must do next. Writes go
through the services the API calls, which audit themselves."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kjda.accounts.selectors import actor_roles
from kjda.errors import DomainError, NotFound
from kjda.lifecycle.destruction import selectors, services
from kjda.lifecycle.destruction.flow import DESTRUCTION, SIGNATORY_ROLES, WITNESS_ROLES
from kjda.lifecycle.destruction.models import (
    DestructionBatch,
    Hold,
    HoldKind,
    Signatory,
    Witness,
)
from kjda.lifecycle.registers import register_download


def _ids(text: str) -> list[int]:
    return [int(t) for t in text.replace(",", " ").replace("，", " ").split() if t.isdigit()]


def _batch_or_404(request: HttpRequest, batch_id: int) -> DestructionBatch:
    try:
        return selectors.destruction_get(actor=request.user, batch_id=batch_id)
    except NotFound as exc:
        raise Http404(exc.en) from exc


def _hold_or_404(request: HttpRequest, hold_id: int) -> Hold:
    try:
        return selectors.hold_get(actor=request.user, hold_id=hold_id)
    except NotFound as exc:
        raise Http404(exc.en) from exc


@login_required
def hold_list(request: HttpRequest) -> HttpResponse:
    """The holds, and the form to place one (on records, volumes or a query)."""
    error: DomainError | None = None
    if request.method == "POST":
        p = request.POST
        try:
            query = {k: p.get(f"q_{k}", "").strip() for k in selectors.HOLD_QUERY_KEYS}
            try:
                review_on = date.fromisoformat(p.get("review_on", ""))
            except ValueError:
                raise DomainError("review_date_invalid", "请填写复核日期（YYYY-MM-DD）",
                                  "enter the review date (YYYY-MM-DD)") from None
            hold = services.hold_place(
                actor=request.user, request=request, kind=p.get("kind", ""),
                reason=p.get("reason", ""), owner=p.get("owner", "").strip(), review_on=review_on,
                record_ids=_ids(p.get("record_ids", "")),
                volume_ids=_ids(p.get("volume_ids", "")), query=query)
        except DomainError as exc:
            error = exc
        else:
            messages.success(request, _("已设置保全。"))
            return redirect("web:hold_detail", hold_id=hold.pk)
    holds = selectors.hold_list(actor=request.user)[:500]
    return render(request, "web/hold_list.html",
                  {"holds": holds, "kinds": HoldKind.choices, "error": error,
                   "form": request.POST}, status=400 if error else 200)


@login_required
def hold_detail(request: HttpRequest, hold_id: int) -> HttpResponse:
    hold = _hold_or_404(request, hold_id)
    error: DomainError | None = None
    if request.method == "POST":
        try:
            hold = services.hold_release(actor=request.user, request=request, hold=hold,
                                         reason=request.POST.get("reason", ""))
        except DomainError as exc:
            error = exc
        else:
            messages.success(request, _("已解除保全。"))
            return redirect("web:hold_detail", hold_id=hold.pk)
    return render(request, "web/hold_detail.html",
                  {"hold": hold, "held_now": selectors.hold_record_count(hold),
                   "records": hold.records.all()[:200], "volumes": hold.volumes.all(),
                   "error": error}, status=400 if error else 200)


@login_required
def destruction_list(request: HttpRequest) -> HttpResponse:
    """The batches, and the records whose term has ended to select for a new one."""
    error: DomainError | None = None
    if request.method == "POST":
        try:
            batch = services.destruction_create(
                actor=request.user, request=request,
                record_ids=[int(i) for i in request.POST.getlist("record") if i.isdigit()]
                + _ids(request.POST.get("record_ids", "")),
                volume_ids=_ids(request.POST.get("volume_ids", "")),
                title=request.POST.get("title", ""))
        except DomainError as exc:
            error = exc
        else:
            messages.success(request, _("已创建销毁清册草稿。"))
            return redirect("web:destruction_detail", batch_id=batch.pk)
    fonds = request.GET.get("fonds", "")
    year = request.GET.get("year", "")
    candidates = selectors.destruction_candidates(
        actor=request.user, fonds=fonds, fiscal_year=int(year) if year.isdigit() else None)
    batches = selectors.destruction_list(actor=request.user)[:200]
    return render(request, "web/destruction_list.html",
                  {"batches": batches, "candidates": candidates, "error": error,
                   "fonds": fonds, "year": year}, status=400 if error else 200)


@login_required
def destruction_detail(request: HttpRequest, batch_id: int,
                       error: DomainError | None = None) -> HttpResponse:
    batch = _batch_or_404(request, batch_id)
    roles = actor_roles(request.user)
    signed = {s.capacity: s for s in batch.signatures.select_related("user")}
    witnessed = {w.capacity: w for w in batch.witnesses.select_related("user")}
    steps = {t.name for t in DESTRUCTION.allowed(state=batch.state, roles=roles)}
    me = request.user.pk
    i_signed = any(s.user_id == me for s in signed.values())
    i_witnessed = any(w.user_id == me for w in witnessed.values())
    sign_as = [(c, label) for c, label in Signatory.choices
               if "sign" in steps and not i_signed and c not in signed
               and roles & SIGNATORY_ROLES[c]]
    witness_as = [(c, label) for c, label in Witness.choices
                  if "witness" in steps and not i_witnessed and c not in witnessed
                  and roles & WITNESS_ROLES[c]]
    can_execute = "execute" in steps and len(witnessed) == len(Witness.values)
    context = {
        "batch": batch, "progress": selectors.destruction_progress(batch),
        "signatures": [(label, signed.get(c)) for c, label in Signatory.choices],
        "witnesses": [(label, witnessed.get(c)) for c, label in Witness.choices],
        "items": batch.items.select_related("record").order_by("id")[:500],
        "holds": selectors.holds_of_records(
            record_ids=batch.items.values_list("record_id", flat=True)[:500]),
        "can_submit": "submit" in steps, "sign_as": sign_as, "witness_as": witness_as,
        "can_execute": can_execute, "can_cancel": "cancel" in steps, "error": error,
        "waiting_on": _waiting_on(batch, signed, witnessed),
    }
    return render(request, "web/destruction_detail.html", context, status=400 if error else 200)


def _waiting_on(batch: DestructionBatch, signed: Mapping[str, object],
                witnessed: Mapping[str, object]) -> str:
    """What the batch waits for, in words (the page says what must happen next)."""
    state = batch.state
    if state == "draft":
        return _("档案机构提交销毁清册供签署")
    if state == "under_appraisal":
        return _("待签署：") + "、".join(str(label) for c, label in Signatory.choices
                                      if c not in signed)
    if state == "signed" and len(witnessed) < len(Witness.values):
        return _("待监销确认：") + "、".join(str(label) for c, label in Witness.choices
                                        if c not in witnessed)
    if state == "signed":
        return _("档案机构执行销毁")
    if state == "executing":
        return _("系统正在逐件销毁")
    return ""


@login_required
@require_POST
def destruction_step(request: HttpRequest, batch_id: int, step: str) -> HttpResponse:
    batch = _batch_or_404(request, batch_id)
    p = request.POST
    try:
        if step == "submit":
            services.destruction_submit(actor=request.user, request=request, batch=batch)
        elif step == "sign":
            services.destruction_sign(actor=request.user, request=request, batch=batch,
                                      capacity=p.get("capacity", ""),
                                      opinion=p.get("opinion", ""))
        elif step == "witness":
            services.destruction_witness(actor=request.user, request=request, batch=batch,
                                         capacity=p.get("capacity", ""), note=p.get("note", ""))
        elif step == "execute":
            services.destruction_execute(actor=request.user, request=request, batch=batch)
        elif step == "cancel":
            services.destruction_cancel(actor=request.user, request=request, batch=batch,
                                        reason=p.get("reason", ""))
        else:
            raise Http404("no such step")
    except DomainError as exc:
        return destruction_detail(request, batch_id, error=exc)
    messages.success(request, _("已完成：") + DESTRUCTION.transitions[step].label)
    return redirect("web:destruction_detail", batch_id=batch_id)


@login_required
def destruction_register(request: HttpRequest, batch_id: int, kind: str) -> HttpResponse:
    if kind not in ("pdf", "xlsx"):
        raise Http404("register.pdf or register.xlsx")
    batch = _batch_or_404(request, batch_id)
    return register_download(request, selectors.destruction_register(batch), kind=kind,
                             label="会计档案销毁清册", object_type="destruction",
                             object_id=str(batch.pk), filename=batch.number)
