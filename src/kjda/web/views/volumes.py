"""组卷 pages: the volume list (filters: fonds, year, category, status) with assembly, and a
volume page (metadata, items, move, close, 卷内目录/备考表 downloads)."""

from __future__ import annotations

from urllib.parse import quote

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kjda.accounts.requests import AuthedRequest
from kjda.accounts.roles import Perm
from kjda.accounts.selectors import actor_can
from kjda.archives import selectors as archive_selectors
from kjda.archives.access_log import register_download_log
from kjda.archives.downloads import FILE_HEADERS
from kjda.archives.models import Category, Volume, VolumeStatus
from kjda.errors import DomainError, NotFound
from kjda.lifecycle.mentions import mentions_of_volume
from kjda.lifecycle.volumes import selectors, services
from kjda.lifecycle.volumes.models import Period, VolumeDocumentKind
from kjda.web.permissions import perm_required
from kjda.web.templatetags.kjda_web import error_message

DOCUMENTS = {"register.pdf": (VolumeDocumentKind.REGISTER_PDF, "application/pdf", "卷内目录"),
             "register.xlsx": (VolumeDocumentKind.REGISTER_XLSX, "application/vnd.openxmlformats-"
                               "officedocument.spreadsheetml.sheet", "卷内目录"),
             "notes.pdf": (VolumeDocumentKind.NOTES_PDF, "application/pdf", "备考表"),
             "notes.xlsx": (VolumeDocumentKind.NOTES_XLSX, "application/vnd.openxmlformats-"
                            "officedocument.spreadsheetml.sheet", "备考表")}


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@perm_required(Perm.RECORD_READ)
def volume_list(request: HttpRequest) -> HttpResponse:
    g = request.GET
    filters = selectors.VolumeFilters(
        fonds=g.get("fonds") or None, fiscal_year=_int(g.get("year")),
        category=g.get("category") or None,
        status=g.get("status") if g.get("status") in VolumeStatus.values else None)
    page = Paginator(selectors.volume_list(actor=request.user, filters=filters), 50).get_page(
        g.get("page"))
    return render(request, "web/volume_list.html", {
        "page": page, "filters": filters,
        "fonds_list": archive_selectors.fonds_list(actor=request.user),
        "categories": Category.objects.all(), "statuses": VolumeStatus.choices,
        "can_assemble": actor_can(request.user, Perm.VOLUME_ASSEMBLE)})


@perm_required(Perm.VOLUME_ASSEMBLE)
@require_POST
def volume_assemble(request: AuthedRequest) -> HttpResponse:
    code, year = request.POST.get("fonds", ""), _int(request.POST.get("year"))
    fonds = archive_selectors.fonds_list(actor=request.user).filter(code=code).first()
    category = Category.objects.filter(name=request.POST.get("category") or "").first()
    if fonds is None or year is None:
        messages.error(request, _("请选择全宗并填写年度。"))
        return redirect("web:volume_list")
    try:
        result = services.volumes_assemble(fonds=fonds, fiscal_year=year, category=category,
                                           actor=request.user, request=request)
    except DomainError as exc:
        messages.error(request, error_message(exc))
    else:
        messages.success(request, _("组卷完成：%(items)d 件，%(volumes)d 卷（新建 %(created)d 卷，"
                                    "移动 %(moved)d 件）。") % {
            "items": result.items, "volumes": result.volumes, "created": result.created,
            "moved": result.moved})
    return redirect(f"/volumes/?fonds={quote(code)}&year={year}")


def _volume_or_404(request: HttpRequest, volume_id: int) -> Volume:
    try:
        return selectors.volume_detail(actor=request.user, volume_id=volume_id)
    except NotFound as exc:
        raise Http404(exc.en) from exc


@perm_required(Perm.RECORD_READ)
def volume_detail(request: HttpRequest, volume_id: int) -> HttpResponse:
    volume = _volume_or_404(request, volume_id)
    can_manage = actor_can(request.user, Perm.VOLUME_ASSEMBLE)
    return render(request, "web/volume_detail.html", {
        "volume": volume, "description": selectors.volume_description(volume=volume),
        "items": selectors.volume_items(actor=request.user, volume=volume),
        "documents": selectors.volume_documents(volume=volume),
        "targets": (selectors.volume_move_targets(actor=request.user, volume=volume)
                    if can_manage and volume.status == VolumeStatus.OPEN else []),
        "mentions": mentions_of_volume(volume),
        "can_manage": can_manage, "can_close": actor_can(request.user, Perm.VOLUME_CLOSE)})


@perm_required(Perm.VOLUME_ASSEMBLE)
@require_POST
def volume_move(request: AuthedRequest, volume_id: int) -> HttpResponse:
    volume = _volume_or_404(request, volume_id)
    try:
        target = selectors.volume_detail(actor=request.user,
                                         volume_id=_int(request.POST.get("to_volume_id")) or 0)
        record = archive_selectors.record_get(actor=request.user,
                                              record_id=_int(request.POST.get("record_id")) or 0)
        if record.volume_id != volume.pk:
            raise DomainError("record_not_in_volume", "该档案不在此案卷中",
                              "the record is not in this volume")
        services.volume_item_move(record=record, to_volume=target, actor=request.user,
                                  request=request)
    except DomainError as exc:
        messages.error(request, error_message(exc))
    else:
        messages.success(request, _("已移至案卷：%(title)s") % {"title": target.title})
    return redirect("web:volume_detail", volume_id=volume.pk)


@perm_required(Perm.VOLUME_CLOSE)
@require_POST
def volume_close(request: AuthedRequest, volume_id: int) -> HttpResponse:
    volume = _volume_or_404(request, volume_id)
    try:
        volume = services.volume_close(volume=volume, actor=request.user, request=request)
    except DomainError as exc:
        messages.error(request, error_message(exc))
    else:
        messages.success(request, _("已封卷，案卷档号 %(no)s。") % {"no": volume.archive_no})
    return redirect("web:volume_detail", volume_id=volume.pk)


@perm_required(Perm.RECORD_READ)
def volume_document(request: HttpRequest, volume_id: int, name: str) -> HttpResponseBase:
    if name not in DOCUMENTS:
        raise Http404("unknown document")
    kind, content_type, label = DOCUMENTS[name]
    try:
        volume, chunks = selectors.volume_document_bytes(actor=request.user, volume_id=volume_id,
                                                         kind=kind)
    except NotFound as exc:
        raise Http404(exc.en) from exc
    register_download_log(request=request, register=label, object_type="volume",
                          object_id=str(volume.pk), file_format=name.rsplit(".", 1)[1])
    response = StreamingHttpResponse(chunks, content_type=content_type)
    filename = f"{volume.archive_no or volume.pk}-{label}.{name.rsplit('.', 1)[1]}"
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    for header, value in FILE_HEADERS.items():
        response[header] = value
    return response


@perm_required(Perm.VOLUME_ASSEMBLE)
def volume_rules(request: HttpRequest) -> HttpResponse:
    """The fonds' volume rules and 案卷档号 formats; the archivist changes them here."""
    return render(request, "web/volume_rules.html", {
        "rules": selectors.volume_rule_list(actor=request.user),
        "templates": selectors.volume_templates(actor=request.user),
        "fonds_list": archive_selectors.fonds_list(actor=request.user),
        "categories": Category.objects.all(), "periods": Period.choices,
        "can_edit": actor_can(request.user, Perm.VOLUME_RULES)})


def _limit(value: str | None) -> int | None:
    value = (value or "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise DomainError("volume_rule_limit", "每卷最多件数和字节数须为正整数",
                          "the limits must be positive whole numbers")
    return int(value)


@perm_required(Perm.VOLUME_RULES)
@require_POST
def volume_rule_save(request: AuthedRequest) -> HttpResponse:
    p = request.POST
    fonds = archive_selectors.fonds_list(actor=request.user).filter(code=p.get("fonds", "")).first()
    category = Category.objects.filter(name=p.get("category") or "").first()
    try:
        if fonds is None or category is None:
            raise DomainError("volume_rule_target", "请选择全宗和门类", "choose a fonds and category")
        services.volume_rule_set(fonds=fonds, category=category, period=p.get("period", ""),
                                 max_items=_limit(p.get("max_items")),
                                 max_bytes=_limit(p.get("max_bytes")),
                                 by_voucher_word=p.get("by_voucher_word") == "on",
                                 actor=request.user, request=request)
    except DomainError as exc:
        messages.error(request, error_message(exc))
    else:
        messages.success(request, _("组卷规则已保存。"))
    return redirect("web:volume_rules")


@perm_required(Perm.VOLUME_RULES)
@require_POST
def volume_rule_remove(request: AuthedRequest, rule_id: int) -> HttpResponse:
    try:
        rule = selectors.volume_rule_get(actor=request.user, rule_id=rule_id)
    except NotFound as exc:
        raise Http404(exc.en) from exc
    services.volume_rule_delete(rule=rule, actor=request.user, request=request)
    messages.success(request, _("组卷规则已删除，该门类恢复按月组卷。"))
    return redirect("web:volume_rules")


@perm_required(Perm.VOLUME_RULES)
@require_POST
def volume_numbering_save(request: AuthedRequest) -> HttpResponse:
    fonds = archive_selectors.fonds_list(actor=request.user).filter(
        code=request.POST.get("fonds", "")).first()
    if fonds is None:
        raise Http404("fonds not found")
    try:
        template = services.volume_numbering_set(fonds=fonds,
                                                 template=request.POST.get("template", ""),
                                                 actor=request.user, request=request)
    except DomainError as exc:
        messages.error(request, error_message(exc))
    else:
        messages.success(request, _("案卷档号格式已保存：%(template)s") % {"template": template})
    return redirect("web:volume_rules")
