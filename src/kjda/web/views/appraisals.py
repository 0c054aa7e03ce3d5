"""鉴定 pages: expired records (the appraisal list), appraisal batches with what each person must
do next, the retention rules (both tables and the local rules), and the Art.8 evidence page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kjda.accounts.requests import AuthedRequest
from kjda.accounts.roles import Perm, Role
from kjda.accounts.selectors import actor_roles
from kjda.archives import selectors as archive_selectors
from kjda.archives.models import RetentionSchedule
from kjda.archives.services import record_set_asset_disposed
from kjda.errors import DomainError
from kjda.lifecycle.appraisal import selectors, services
from kjda.lifecycle.appraisal.models import AppraisalBatch, Outcome, Side
from kjda.lifecycle.appraisal.workflow import APPRAISAL, SIDE_ROLES
from kjda.web.permissions import perm_required
from kjda.web.templatetags.kjda_web import error_message


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@perm_required(Perm.RECORD_READ)
def appraisal_expired(request: AuthedRequest) -> HttpResponse:
    """保管期满待鉴定: filter by fonds, year and category; the archives department starts a batch
    from the ticked records and volumes."""
    f = selectors.ExpiryFilters(fonds=request.GET.get("fonds") or None,
                                fiscal_year=_int(request.GET.get("fiscal_year")),
                                category=request.GET.get("category") or None)
    if request.method == "POST":
        fonds = archive_selectors.fonds_list(actor=request.user).filter(
            code=request.POST.get("fonds", "")).first()
        try:
            if fonds is None:
                raise DomainError("fonds_required", "请先按全宗筛选，再选择档案",
                                  "filter by one fonds before choosing")
            batch = services.appraisal_create(
                actor=request.user, fonds=fonds,
                record_ids=[int(i) for i in request.POST.getlist("record") if i.isdigit()],
                volume_ids=[int(i) for i in request.POST.getlist("volume") if i.isdigit()],
                title=request.POST.get("title", ""), request=request)
        except DomainError as exc:
            messages.error(request, error_message(exc))
        else:
            messages.success(request, _("已新建鉴定批次 %(number)s。") % {"number": batch.number})
            return redirect("web:appraisal_detail", batch_id=batch.pk)
    records = selectors.expired_records(actor=request.user, filters=f)
    volumes = selectors.expired_volumes(actor=request.user, filters=f)
    return render(request, "web/appraisal_expired.html", {
        "filters": f, "records": records[:500], "records_total": records.count(),
        "volumes": volumes[:200], "fonds_list": archive_selectors.fonds_list(actor=request.user),
        "can_start": bool(actor_roles(request.user) & {Role.ARCHIVIST, Role.ARCHIVES_HEAD})})


@perm_required(Perm.RECORD_READ)
def appraisal_list(request: AuthedRequest) -> HttpResponse:
    batches = selectors.appraisal_list(actor=request.user, state=request.GET.get("state") or None)
    return render(request, "web/appraisal_list.html", {
        "batches": batches, "states": APPRAISAL.states.choices,
        "state": request.GET.get("state", "")})


def _batch_or_404(request: HttpRequest, batch_id: int) -> AppraisalBatch:
    batch = selectors.appraisal_get(actor=request.user, batch_id=batch_id)
    if batch is None:
        raise Http404("appraisal not found")
    return batch


@perm_required(Perm.RECORD_READ)
def appraisal_detail(request: AuthedRequest, batch_id: int) -> HttpResponse:
    batch = _batch_or_404(request, batch_id)
    roles = actor_roles(request.user)
    done = {o.side for o in batch.opinions.all()}
    my_sides = [(s, Side(s).label) for s, r in SIDE_ROLES.items() if roles & r and s not in done]
    return render(request, "web/appraisal_detail.html", {
        "batch": batch, "state_label": APPRAISAL.state_label(batch.state),
        "items": selectors.appraisal_items(batch=batch),
        "opinions": batch.opinions.select_related("user"),
        "missing": selectors.appraisal_missing(batch=batch),
        "missing_sides": [Side(s).label for s in selectors.appraisal_missing(batch=batch)["sides"]],
        "steps": {s["name"] for s in selectors.appraisal_next_steps(actor=request.user,
                                                                     batch=batch)},
        "my_sides": my_sides, "outcomes": [(Outcome.DESTROY, Outcome.DESTROY.label),
                                           (Outcome.KEEP, Outcome.KEEP.label)]})


@perm_required(Perm.RECORD_READ)
@require_POST
def appraisal_step(request: AuthedRequest, batch_id: int, step: str) -> HttpResponse:
    """One button of the batch page: submit, opinion, outcomes, decide, cancel."""
    batch = _batch_or_404(request, batch_id)
    p = request.POST
    try:
        if step == "submit":
            services.appraisal_submit(actor=request.user, batch=batch, request=request)
        elif step == "opinion":
            services.appraisal_opinion(actor=request.user, batch=batch,
                                       opinion=p.get("opinion", ""),
                                       side=p.get("side") or None, request=request)
        elif step == "outcomes":
            outcomes = [services.OutcomeIn(item.pk, p.get(f"outcome_{item.pk}", ""),
                                           p.get(f"new_retention_{item.pk}", "").strip().upper(),
                                           p.get(f"reason_{item.pk}", ""))
                        for item in batch.items.all() if p.get(f"outcome_{item.pk}")]
            services.appraisal_outcomes_set(actor=request.user, batch=batch, outcomes=outcomes,
                                            request=request)
        elif step == "decide":
            services.appraisal_decide(actor=request.user, batch=batch, request=request)
        elif step == "cancel":
            services.appraisal_cancel(actor=request.user, batch=batch,
                                      reason=p.get("reason", ""), request=request)
        else:
            raise Http404("no such step")
    except DomainError as exc:
        messages.error(request, error_message(exc))
    else:
        messages.success(request, _("已保存。"))
    return redirect("web:appraisal_detail", batch_id=batch.pk)


@login_required
def retention_rules(request: AuthedRequest) -> HttpResponse:
    """Both 保管期限表 and the unit's local rules; the system administrator adds and edits the
    local rules here (longer only), and sets which table a fonds follows."""
    rules = list(selectors.retention_rules_all())
    is_sysadmin = Role.SYSADMIN in actor_roles(request.user)
    return render(request, "web/retention.html", {
        "schedules": [(code, label, [r for r in rules if r.schedule == code and not r.is_local])
                      for code, label in RetentionSchedule.choices],
        "local_rules": [r for r in rules if r.is_local],
        "statutory": [r for r in rules if not r.is_local],
        "fonds_list": archive_selectors.fonds_list(actor=request.user),
        "schedule_choices": RetentionSchedule.choices,
        "changes": selectors.retention_changes()[:20],
        "is_sysadmin": is_sysadmin})


@login_required
@require_POST
def retention_rule_save(request: AuthedRequest) -> HttpResponse:
    p = request.POST
    try:
        if p.get("action") == "schedule":
            fonds = archive_selectors.fonds_list(actor=request.user).filter(
                code=p.get("fonds", "")).first()
            if fonds is None:
                raise Http404("fonds")
            services.fonds_retention_schedule_set(actor=request.user, fonds=fonds,
                                                  schedule=p.get("schedule", ""),
                                                  reason=p.get("reason", ""), request=request)
        elif p.get("rule_id"):
            rule = selectors.retention_rule_get(rule_id=int(p["rule_id"]))
            if rule is None:
                raise Http404("rule")
            services.retention_local_rule_change(
                actor=request.user, rule=rule, retention=p.get("retention", "").strip().upper()
                or None, note=p.get("note"), active=p.get("active") == "on",
                reason=p.get("reason", ""), request=request)
        else:
            base = selectors.retention_rule_get(rule_id=_int(p.get("extends")) or 0)
            if base is None:
                raise DomainError("extends_required", "请选择所延长的法定条目",
                                  "choose the statutory row to extend")
            services.retention_local_rule_add(
                actor=request.user, extends=base, name=p.get("name", ""),
                retention=p.get("retention", "").strip().upper(), note=p.get("note", ""),
                reason=p.get("reason", ""), request=request)
    except DomainError as exc:
        messages.error(request, error_message(exc))
    else:
        messages.success(request, _("已保存。"))
    return redirect("web:retention_table")


@perm_required(Perm.RECORD_READ)
def fonds_art8(request: AuthedRequest, code: str) -> HttpResponse:
    fonds = archive_selectors.fonds_list(actor=request.user).filter(code=code).first()
    if fonds is None:
        raise Http404("fonds")
    return render(request, "web/art8.html", {
        "fonds": fonds, "conditions": selectors.art8_evidence(actor=request.user, fonds=fonds)})


@perm_required(Perm.RECORD_INGEST)
@require_POST
def record_asset_disposed(request: AuthedRequest, record_id: int) -> HttpResponse:
    """固定资产卡片: the asset's disposal date, which starts its 5-year clock."""
    try:
        record = archive_selectors.record_get(actor=request.user, record_id=record_id)
        day = parse_date(request.POST.get("disposed_on", "") or "")
        if day is None:
            raise DomainError("date_invalid", "请填写报废清理日期", "give the disposal date")
        record_set_asset_disposed(record=record, disposed_on=day, actor=request.user,
                                  request=request)
    except DomainError as exc:
        messages.error(request, error_message(exc))
    else:
        messages.success(request, _("已记录报废清理日期。"))
    return redirect("web:record_detail", record_id=record_id)
