"""格式监测 (issue 19 item 6): the format registry with the archive's files per format, the
risk flag with its reason, and the last migration runs. Thin over kjda.lifecycle.formatwatch."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kjda.accounts.requests import AuthedRequest
from kjda.accounts.roles import Perm
from kjda.errors import DomainError
from kjda.lifecycle.formatwatch import selectors, services
from kjda.web.permissions import perm_required
from kjda.web.templatetags.kjda_web import error_message


def _page(request: AuthedRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    return render(request, "web/format_list.html", {
        "rows": selectors.format_registry(cached=True), "runs": selectors.migration_runs(limit=20),
        "error_text": error}, status=status)


@perm_required(Perm.FORMAT_READ)
def format_list(request: AuthedRequest) -> HttpResponse:
    return _page(request)


@require_POST
@perm_required(Perm.FORMAT_MANAGE)
def format_risk(request: AuthedRequest, entry_id: int) -> HttpResponse:
    at_risk = request.POST.get("at_risk") == "1"
    try:
        entry = services.format_risk_flag(entry=selectors.format_entry_by_pk(pk=entry_id),
                                          at_risk=at_risk, reason=request.POST.get("reason", ""),
                                          by=request.user, request=request)
    except DomainError as exc:
        return _page(request, error=error_message(exc), status=exc.status)
    if at_risk:
        messages.success(request, _("已标记为风险格式，迁移任务已排队：%(id)s") % {"id": entry.format_id})
    else:
        messages.success(request, _("已取消风险标记：%(id)s") % {"id": entry.format_id})
    return redirect("web:format_list")
