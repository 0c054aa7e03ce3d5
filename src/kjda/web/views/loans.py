"""Borrowing (借阅) pages: the request form (from a record, a volume or a search), my loans,
the approvers' list, the loan page with its workflow buttons, the 借阅登记簿, the statistics,
the lending rules, and the "request access" page for a record outside the reader's scope.
Reads through kjda.lifecycle.loans.selectors, writes through its services."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kjda.accounts.requests import AuthedRequest
from kjda.accounts.roles import Perm
from kjda.accounts.selectors import actor_can
from kjda.errors import DomainError, NotFound
from kjda.lifecycle.loans import selectors, services
from kjda.lifecycle.loans.models import RIGHT_LABELS, ApprovalMode, LoanState
from kjda.lifecycle.loans.registers import loan_register
from kjda.lifecycle.loans.workflow import LOAN
from kjda.lifecycle.registers import register_download
from kjda.web.permissions import perm_required
from kjda.web.templatetags.kjda_web import error_message

QUERY_KEYS = ("q", "fonds", "fiscal_year", "category", "department")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _list(request: AuthedRequest, *, mine: bool) -> HttpResponse:
    state, year = request.GET.get("state", ""), _int(request.GET.get("year"))
    loans = selectors.loan_list(actor=request.user, mine=mine, state=state, year=year)
    rows = [(loan, selectors.loan_effective_state(loan)) for loan in loans[:200]]
    return render(request, "web/loan_list.html", {
        "rows": rows, "mine": mine, "states": LoanState.choices,
        "state_labels": dict(LoanState.choices),
        "filters": {"state": state, "year": year or ""}})


@login_required
def loan_mine(request: AuthedRequest) -> HttpResponse:
    return _list(request, mine=True)


@perm_required(Perm.LOAN_READ)
def loan_list(request: AuthedRequest) -> HttpResponse:
    return _list(request, mine=False)


def _form_values(data: Any) -> dict[str, Any]:
    today = timezone.localdate()
    return {
        "records": data.get("records", ""), "volume": data.get("volume", ""),
        "query": {k: data.get(k, "") for k in QUERY_KEYS if data.get(k)},
        "purpose": data.get("purpose", ""),
        "starts_on": data.get("starts_on", "") or today.isoformat(),
        "until": data.get("until", "") or (today + timedelta(days=7)).isoformat(),
        "rights": data.getlist("rights") or ["view"],
        "external": data.get("external") == "1", "organisation": data.get("organisation", "")}


@perm_required(Perm.RECORD_READ)
def loan_new(request: AuthedRequest) -> HttpResponse:
    """The request form, prefilled from the link (?records=1,2 | ?volume=3 | ?q=…&fonds=…)."""
    data = request.POST if request.method == "POST" else request.GET
    values = _form_values(data)
    context: dict[str, Any] = {"values": values, "right_labels": RIGHT_LABELS}
    if request.method != "POST":
        return render(request, "web/loan_form.html", context)
    until = _date(values["until"])
    if until is None:
        context["error_text"] = _("请填写借阅截止日")
        return render(request, "web/loan_form.html", context, status=400)
    records = [r.strip() for r in values["records"].replace("，", ",").split(",") if r.strip()]
    try:
        loan = services.loan_request(
            actor=request.user, purpose=values["purpose"], ends_on=until,
            starts_on=_date(values["starts_on"]), rights=values["rights"], records=records,
            volume_id=_int(values["volume"]), query=values["query"] or None,
            external=values["external"], organisation=values["organisation"], request=request)
    except DomainError as exc:
        context["error_text"] = error_message(exc)
        return render(request, "web/loan_form.html", context, status=exc.status)
    messages.success(request, _("借阅申请已提交。") if loan.state == LoanState.REQUESTED
                     else _("借阅申请已按规则自动批准。"))
    return redirect("web:loan_detail", loan_id=loan.pk)


def _loan_or_404(request: AuthedRequest, loan_id: int):
    try:
        return selectors.loan_get(actor=request.user, loan_id=loan_id)
    except NotFound as exc:
        raise Http404(exc.en) from exc


@login_required
def loan_detail(request: AuthedRequest, loan_id: int, *, error: str = "",
                status: int = 200) -> HttpResponse:
    loan = _loan_or_404(request, loan_id)
    state = selectors.loan_effective_state(loan)
    steps = selectors.loan_next_steps(actor=request.user, loan=loan)
    labels = {t.name: t.label for t in LOAN.transitions.values()}
    return render(request, "web/loan_detail.html", {
        "loan": loan, "state": state, "state_label": LOAN.state_label(state),
        "items": selectors.loan_item_views(actor=request.user, loan=loan),
        "steps": steps, "decisions": [(s, labels[s]) for s in steps
                                      if s in ("approve", "approve_external", "confirm",
                                               "reject")],
        "rights": [RIGHT_LABELS.get(r, r) for r in loan.rights],
        "renewals": list(loan.renewals.order_by("pk")), "oa_mode": loan.mode == ApprovalMode.OA,
        "renew_default": (loan.ends_on + timedelta(days=7)).isoformat(),
        "error_text": error}, status=status)


@require_POST
@login_required
def loan_action(request: AuthedRequest, loan_id: int, action: str) -> HttpResponse:
    _loan_or_404(request, loan_id)
    comment = request.POST.get("comment", "")
    target = loan_id
    try:
        if action in ("approve", "approve_external", "confirm"):
            services.loan_decide(loan_id=loan_id, approve=True, actor=request.user,
                                 comment=comment, request=request)
        elif action == "reject":
            services.loan_decide(loan_id=loan_id, approve=False, actor=request.user,
                                 comment=comment, request=request)
        elif action == "return":
            services.loan_return(actor=request.user, loan_id=loan_id, request=request)
        elif action == "cancel":
            services.loan_cancel(actor=request.user, loan_id=loan_id, request=request)
        elif action == "renew":
            until = _date(request.POST.get("until"))
            if until is None:
                raise DomainError("loan_renew_until", "请填写续借截止日",
                                  "the renewal's end date is required")
            target = services.loan_renew(actor=request.user, loan_id=loan_id, ends_on=until,
                                         purpose=request.POST.get("purpose", ""),
                                         request=request).pk
        else:
            raise Http404("no such step")
    except DomainError as exc:
        return loan_detail(request, loan_id, error=error_message(exc), status=exc.status)
    messages.success(request, _("已保存。"))
    return redirect("web:loan_detail", loan_id=target)


@perm_required(Perm.LOAN_READ)
def loan_register_page(request: AuthedRequest) -> HttpResponse:
    year = _int(request.GET.get("year")) or timezone.localdate().year
    loans = list(selectors.loan_register_loans(actor=request.user, year=year))
    return render(request, "web/loan_register.html", {
        "year": year, "rows": [(loan, selectors.loan_effective_state(loan),
                                [RIGHT_LABELS.get(r, r) for r in loan.rights]) for loan in loans],
        "state_labels": dict(LoanState.choices), "right_labels": RIGHT_LABELS})


@perm_required(Perm.LOAN_READ)
def loan_register_file(request: AuthedRequest, kind: str) -> HttpResponse:
    year = _int(request.GET.get("year")) or timezone.localdate().year
    if kind not in ("pdf", "xlsx"):
        raise Http404("pdf or xlsx only")
    return register_download(request, loan_register(actor=request.user, year=year), kind=kind,
                             label="会计档案借阅登记簿", object_type="loan_register",
                             object_id=str(year), filename=f"loans-{year}")


@perm_required(Perm.LOAN_READ)
def loan_statistics(request: AuthedRequest) -> HttpResponse:
    year = _int(request.GET.get("year"))
    return render(request, "web/loan_statistics.html", {
        "year": year or "", "stats": selectors.loan_statistics(actor=request.user, year=year)})


@perm_required(Perm.LOAN_READ)
def loan_rules(request: AuthedRequest) -> HttpResponse:
    error, status = "", 200
    if request.method == "POST":
        if not actor_can(request.user, Perm.LOAN_RULES):
            return HttpResponseForbidden("只有档案管理员可以设置借阅规则 / only an archivist sets "
                                         "the lending rules",
                                         content_type="text/plain; charset=utf-8")
        try:
            services.loan_rule_set(
                actor=request.user, fonds_code=request.POST.get("fonds", ""),
                mode=request.POST.get("mode", ""),
                max_days=_int(request.POST.get("max_days")) or 30,
                auto_own_department=request.POST.get("auto_own_department") == "1",
                auto_max_age_years=_int(request.POST.get("auto_max_age_years")) or 0,
                auto_rights=request.POST.getlist("auto_rights"), request=request)
        except DomainError as exc:
            error, status = error_message(exc), exc.status
        else:
            messages.success(request, _("已保存。"))
            return redirect("web:loan_rules")
    return render(request, "web/loan_rules.html", {
        "rules": selectors.loan_rules(actor=request.user), "modes": ApprovalMode.choices,
        "right_labels": RIGHT_LABELS, "may_edit": actor_can(request.user, Perm.LOAN_RULES),
        "error_text": error}, status=status)


def record_request_access(request: HttpRequest, record_id: int) -> HttpResponse | None:
    """For a signed-in reader, a record that exists but is outside their scope: a page that
    offers to borrow it, naming nothing but the id the link carried (None: a plain 404)."""
    if not request.user.is_authenticated or not actor_can(request.user, Perm.RECORD_READ):
        return None
    if not selectors.record_exists(record_id=record_id):
        return None
    return render(request, "web/loan_request_access.html", {"record_id": record_id},
                  status=403)
