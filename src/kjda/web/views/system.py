"""The system administrator's pages (issue 19 items 1-5): alarms, open until acknowledged, and
the preservation status (fixity runs, replica lag, backup, free space per store). Reads through
kjda.preservation.monitoring.selectors, the acknowledgement through its services."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kjda.accounts.requests import AuthedRequest
from kjda.accounts.roles import Perm
from kjda.accounts.selectors import actor_can
from kjda.errors import DomainError
from kjda.preservation.monitoring import selectors
from kjda.preservation.monitoring.services import alarm_acknowledge
from kjda.web.permissions import perm_required
from kjda.web.templatetags.kjda_web import error_message

SHOWN = 200


def _rows(alarms: Any, lang: str) -> list[dict[str, Any]]:
    return [{"alarm": a, "title": a.title(lang), "detail": a.detail(lang)} for a in alarms]


@perm_required(Perm.STORAGE_READ)
def alarm_list(request: AuthedRequest, *, error: str = "", status: int = 200) -> HttpResponse:
    lang = get_language() or "zh-hans"
    return render(request, "web/alarms.html", {
        "open_rows": _rows(selectors.alarm_list(actor=request.user, state="open")[:SHOWN], lang),
        "done_rows": _rows(selectors.alarm_list(actor=request.user, state="acknowledged")
                           [:SHOWN], lang),
        "may_ack": actor_can(request.user, Perm.ALARM_ACKNOWLEDGE), "error_text": error},
        status=status)


@require_POST
@perm_required(Perm.STORAGE_READ)
def alarm_ack(request: AuthedRequest, alarm_id: int) -> HttpResponse:
    try:
        if selectors.alarm_get(actor=request.user, alarm_id=alarm_id) is None:
            raise DomainError("alarm_not_found", "告警不存在", "no such alarm", status=404)
        alarm_acknowledge(alarm_id=alarm_id, actor=request.user,
                          note=request.POST.get("note", ""), request=request)
    except DomainError as exc:
        return alarm_list(request, error=error_message(exc), status=exc.status)
    messages.success(request, _("告警已确认。"))
    return redirect("web:alarm_list")


@perm_required(Perm.STORAGE_READ)
def preservation_status(request: AuthedRequest) -> HttpResponse:
    return render(request, "web/preservation.html", {
        "status": selectors.preservation_status(),
        "open_alarms": selectors.alarm_list(actor=request.user, state="open").count()})
