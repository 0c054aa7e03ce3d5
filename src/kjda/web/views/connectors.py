"""OA integration: the connectors, their settings and mapping rules, and a sweep on demand.
Reads through `kjda.connectors.selectors`, writes through the services the API calls, which
audit themselves."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from kjda.accounts.requests import AuthedRequest
from kjda.accounts.roles import Perm
from kjda.archives import selectors as archive_selectors
from kjda.connectors import selectors
from kjda.connectors import services as connector_services
from kjda.connectors.models import Connector
from kjda.connectors.registry import connector_class
from kjda.connectors.services import connector_create, connector_public_settings, mapping_create
from kjda.errors import DomainError
from kjda.platforms import platforms
from kjda.web.connector_forms import ConnectorForm, MappingForm, kind_choices
from kjda.web.permissions import perm_required
from kjda.web.templatetags.kjda_web import error_message


def callback_url(request: HttpRequest, connector: Connector) -> str:
    """The callback URL in full (scheme and host of this request), to paste into the OA."""
    return request.build_absolute_uri(reverse("oa-callback",
                                              kwargs={"connector_id": connector.pk}))


def _connector_or_404(request: HttpRequest, connector_id: UUID) -> Connector:
    connector = selectors.connector_get(actor=request.user, connector_id=connector_id)
    if connector is None:
        raise Http404("connector not found")
    return connector


@perm_required(Perm.CONNECTOR_MANAGE)
def connector_list(request: HttpRequest) -> HttpResponse:
    rows = [{"connector": c, "callback_url": callback_url(request, c)}
            for c in selectors.connector_list_with_counts(actor=request.user)]
    return render(request, "web/connector_list.html", {"rows": rows})


@perm_required(Perm.CONNECTOR_MANAGE)
def connector_new(request: AuthedRequest) -> HttpResponse:
    kind = request.POST.get("kind") or request.GET.get("kind") or ""
    if kind not in platforms():
        kind = next(iter(platforms()))  # the first tab
    form = ConnectorForm(request.POST or None, initial={"kind": kind},
                         spec=connector_class(kind).settings_spec,
                         fonds_list=archive_selectors.fonds_list(actor=request.user))
    context = {"form": form, "kind": kind, "kinds": kind_choices()}
    if request.method != "POST":
        return render(request, "web/connector_form.html", context)
    if form.is_valid():
        try:
            connector = connector_create(
                kind=kind, name=form.cleaned_data["name"], settings=form.settings(),
                fonds_code=form.cleaned_data["fonds"] or "",
                finance_owner_ids=form.owner_ids(), actor=request.user, request=request)
        except DomainError as exc:
            context["error"] = exc
        else:
            messages.success(request, _("已创建连接器。请把回调地址填入 OA 平台的事件订阅。"))
            return redirect("web:connector_detail", connector_id=connector.pk)
    return render(request, "web/connector_form.html", context, status=400)


def _render_detail(request: HttpRequest, connector: Connector, mapping_form: MappingForm, *,
                   error: DomainError | None = None, status: int = 200) -> HttpResponse:
    public = connector_public_settings(connector)
    settings_rows = [{"spec": s, "value": public.get(s.name) or ""}
                     for s in connector_class(connector.kind).settings_spec]
    return render(request, "web/connector_detail.html", {
        "connector": connector,
        "callback_url": callback_url(request, connector),
        "settings_rows": settings_rows,
        "mappings": selectors.mapping_list(actor=request.user, connector=connector),
        "mapping_form": mapping_form,
        "error": error,
    }, status=status)


@perm_required(Perm.CONNECTOR_MANAGE)
def connector_detail(request: HttpRequest, connector_id: UUID) -> HttpResponse:
    connector = _connector_or_404(request, connector_id)
    form = MappingForm(rules=archive_selectors.retention_rule_list())
    return _render_detail(request, connector, form)


@perm_required(Perm.CONNECTOR_MANAGE)
@require_POST
def mapping_new(request: AuthedRequest, connector_id: UUID) -> HttpResponse:
    connector = _connector_or_404(request, connector_id)
    form = MappingForm(request.POST, rules=archive_selectors.retention_rule_list())
    error = None
    if form.is_valid():
        data = {"process_code": form.cleaned_data["process_code"].strip(),
                "scenario": form.cleaned_data["scenario"],
                "category": form.cleaned_data["category"], "fields": form.mapped_fields()}
        try:
            mapping_create(connector=connector, **data, actor=request.user, request=request)
        except DomainError as exc:
            error = exc
        else:
            messages.success(request, _("已添加审批模板 %(code)s 的映射。")
                             % {"code": data["process_code"]})
            return redirect(reverse("web:connector_detail", args=[connector.pk]) + "#mappings")
    return _render_detail(request, connector, form, error=error, status=400)


@perm_required(Perm.CONNECTOR_MANAGE)
@require_POST
def connector_sweep(request: AuthedRequest, connector_id: UUID) -> HttpResponse:
    """Ask the platform now for approvals finished since the last sweep (the periodic loop
    does the same every few minutes) and queue those not archived yet."""
    connector = _connector_or_404(request, connector_id)
    try:
        queued = connector_services.connector_sweep(connector=connector, actor=request.user,
                                                    request=request)
    except DomainError as exc:
        messages.error(request, _("同步失败：%(code)s %(message)s")
                       % {"code": exc.code, "message": error_message(exc)})
    else:
        if not selectors.mapping_list(actor=request.user, connector=connector).exists():
            messages.warning(request, _("尚无映射规则：没有可同步的审批模板。"))
        else:
            messages.success(request, ngettext(
                "同步完成：%(count)d 个审批加入归档队列。",
                "同步完成：%(count)d 个审批加入归档队列。", queued) % {"count": queued})
    return redirect("web:connector_detail", connector_id=connector.pk)
