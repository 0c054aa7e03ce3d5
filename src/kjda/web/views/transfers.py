"""Hand-over (移交) pages: the transfer list, the create form, the transfer page (state, items with
their YJ results, decisions, signatures, what the user may do next) and the custody extension
form. Reads through kjda.lifecycle.transfers.selectors, writes through its services."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kjda.accounts.requests import AuthedRequest
from kjda.accounts.roles import Perm
from kjda.archives import selectors as archive_selectors
from kjda.errors import DomainError, NotFound
from kjda.lifecycle.transfers import selectors, services
from kjda.lifecycle.transfers.models import TransferState
from kjda.lifecycle.transfers.workflow import TRANSFER
from kjda.web.permissions import perm_required
from kjda.web.templatetags.kjda_web import error_message


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


@perm_required(Perm.TRANSFER_READ)
def transfer_list(request: AuthedRequest) -> HttpResponse:
    fonds, state = request.GET.get("fonds", ""), request.GET.get("state", "")
    year = _int(request.GET.get("year"))
    batches = selectors.transfer_list(actor=request.user, fonds=fonds, year=year, state=state)
    return render(request, "web/transfer_list.html", {
        "batches": batches[:200], "states": TransferState.choices,
        "fonds_list": archive_selectors.fonds_list(actor=request.user),
        "filters": {"fonds": fonds, "year": year or "", "state": state}})


@perm_required(Perm.TRANSFER_READ)
def transfer_new(request: AuthedRequest) -> HttpResponse:
    data = request.POST if request.method == "POST" else request.GET
    context = {"fonds_list": archive_selectors.fonds_list(actor=request.user),
               "rules": archive_selectors.retention_rule_list(),
               "values": {"fonds": data.get("fonds", ""), "year": data.get("year", ""),
                          "categories": data.getlist("categories"),
                          "volumes": data.get("volumes", ""), "note": data.get("note", "")}}
    if request.method != "POST":
        return render(request, "web/transfer_form.html", context)
    year = _int(data.get("year"))
    volumes = [v for v in (_int(x.strip()) for x in data.get("volumes", "").split(",")) if v]
    if year is None:
        context["error_text"] = _("请填写会计年度")
        return render(request, "web/transfer_form.html", context, status=400)
    try:
        batch = services.transfer_create(
            actor=request.user, fonds_code=data.get("fonds", ""), fiscal_year=year,
            categories=data.getlist("categories"), volume_ids=volumes,
            note=data.get("note", ""), request=request)
    except DomainError as exc:
        context["error_text"] = error_message(exc)
        return render(request, "web/transfer_form.html", context, status=exc.status)
    messages.success(request, _("已编制移交清册草稿。"))
    return redirect("web:transfer_detail", batch_id=batch.pk)


def _batch_or_404(request: AuthedRequest, batch_id: int):
    try:
        return selectors.transfer_get(actor=request.user, batch_id=batch_id)
    except NotFound as exc:
        raise Http404(exc.en) from exc


@perm_required(Perm.TRANSFER_READ)
def transfer_detail(request: AuthedRequest, batch_id: int, *, error: str = "",
                    status: int = 200) -> HttpResponse:
    batch = _batch_or_404(request, batch_id)
    steps = selectors.transfer_next_steps(actor=request.user, batch=batch)
    items = list(selectors.transfer_items(batch=batch))
    return render(request, "web/transfer_detail.html", {
        "batch": batch, "state_label": TRANSFER.state_label(batch.state), "items": items,
        "signatures": list(batch.signatures.all()), "steps": steps,
        "step_labels": {t.name: t.label for t in TRANSFER.transitions.values()},
        "failed": sum(i.passed is False for i in items),
        "undecided": sum(i.decision == "undecided" for i in items),
        "error_text": error}, status=status)


@require_POST
@perm_required(Perm.TRANSFER_READ)
def transfer_action(request: AuthedRequest, batch_id: int, action: str) -> HttpResponse:
    _batch_or_404(request, batch_id)
    try:
        if action == "submit":
            services.transfer_submit(actor=request.user, batch_id=batch_id, request=request)
        elif action == "decide":
            decisions = []
            for key, value in request.POST.items():
                if key.startswith("decision_") and value in ("accepted", "rejected"):
                    item_id = int(key.removeprefix("decision_"))
                    decisions.append((item_id, value, request.POST.get(f"reason_{item_id}", "")))
            services.transfer_items_decide(actor=request.user, batch_id=batch_id,
                                           decisions=decisions, request=request)
        elif action == "sign":
            services.transfer_sign(actor=request.user, batch_id=batch_id,
                                   opinion=request.POST.get("opinion", ""), request=request)
        elif action == "cancel":
            services.transfer_cancel(actor=request.user, batch_id=batch_id,
                                     reason=request.POST.get("reason", ""), request=request)
        else:
            raise Http404("no such step")
    except DomainError as exc:
        return transfer_detail(request, batch_id, error=error_message(exc), status=exc.status)
    messages.success(request, _("已保存。"))
    return redirect("web:transfer_detail", batch_id=batch_id)


@perm_required(Perm.TRANSFER_READ)
def custody_extension(request: AuthedRequest) -> HttpResponse:
    data = request.POST if request.method == "POST" else request.GET
    context = {"fonds_list": archive_selectors.fonds_list(actor=request.user),
               "values": {k: data.get(k, "") for k in ("fonds", "year", "until", "reason")}}
    if request.method != "POST":
        return render(request, "web/custody_extension.html", context)
    try:
        until = date.fromisoformat(data.get("until", ""))
    except ValueError:
        context["error_text"] = _("请填写有效的截止日期（YYYY-MM-DD）")
        return render(request, "web/custody_extension.html", context, status=400)
    year = _int(data.get("year"))
    if year is None:
        context["error_text"] = _("请填写会计年度")
        return render(request, "web/custody_extension.html", context, status=400)
    try:
        services.custody_extend(actor=request.user, fonds_code=data.get("fonds", ""),
                                fiscal_year=year, until=until, reason=data.get("reason", ""),
                                request=request)
    except DomainError as exc:
        context["error_text"] = error_message(exc)
        return render(request, "web/custody_extension.html", context, status=exc.status)
    messages.success(request, _("已同意延期暂管。"))
    return redirect("web:transfer_list")
