"""The archiving jobs (归档任务): OA events in the inbox with their status, a retry for failed,
ignored and stuck ones, and the latest notices sent back to OA users."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kjda.accounts.requests import AuthedRequest
from kjda.accounts.roles import Perm
from kjda.connectors import selectors
from kjda.connectors.models import InboxEvent, InboxStatus
from kjda.connectors.services import intake_retry
from kjda.errors import Conflict
from kjda.web.connector_forms import IntakeFilterForm
from kjda.web.permissions import perm_required
from kjda.web.requests import HtmxRequest

PAGE_SIZE = 50
# A received event normally starts within seconds; one still waiting after this (its task lost,
# or backing off after a failed attempt) is "stuck" and offered a retry.
STUCK_AFTER = timedelta(minutes=1)


def offers_retry(event: InboxEvent, now: datetime) -> bool:
    if event.status in (InboxStatus.FAILED, InboxStatus.IGNORED):
        return True
    return event.status == InboxStatus.RECEIVED and (
        event.attempts > 0 or event.received_at < now - STUCK_AFTER)


@perm_required(Perm.CONNECTOR_MANAGE)
def intake_list(request: HtmxRequest) -> HttpResponse:
    form = IntakeFilterForm(request.GET,
                            connectors=selectors.connector_list(actor=request.user))
    events = selectors.intake_list(actor=request.user, **form.filters())
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    rows = [{"event": e, "retry": offers_retry(e, now)} for e in page.object_list]
    context = {"form": form, "page": page, "rows": rows}
    if request.htmx:
        template = "web/_intake_results.html"
    else:
        template = "web/intake_list.html"
        context["notices"] = selectors.notice_list(actor=request.user)
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _back(request: HttpRequest) -> str:
    target = request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return target
    return reverse("web:intake_list")


@perm_required(Perm.CONNECTOR_MANAGE)
@require_POST
def intake_retry_view(request: AuthedRequest, event_pk: int) -> HttpResponse:
    event = selectors.intake_get(actor=request.user, event_pk=event_pk)
    if event is None:
        raise Http404("event not found")
    try:
        intake_retry(event=event, actor=request.user, request=request)
    except Conflict:
        messages.warning(request, _("事件 #%(id)s 正在处理或已归档，无需重试。") % {"id": event.pk})
        return redirect(_back(request))
    messages.success(request, _("事件 #%(id)s 已重新加入归档队列。") % {"id": event.pk})
    return redirect(_back(request))
