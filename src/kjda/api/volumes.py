"""组卷 API: volumes (list, detail, assemble, move an item, close, 卷内目录/备考表 downloads) and
the volume rules and number format per fonds."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from urllib.parse import quote

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Router, Schema

from kjda.accounts.requests import AuthedRequest
from kjda.accounts.roles import Perm
from kjda.archives import selectors as archive_selectors
from kjda.archives.access_log import register_download_log
from kjda.archives.downloads import FILE_HEADERS
from kjda.archives.models import Category, Fonds, Volume
from kjda.errors import DomainError, NotFound
from kjda.lifecycle.volumes import selectors, services
from kjda.lifecycle.volumes.models import VolumeDocumentKind, VolumeRule

from .permissions import require, require_token_scope

router = Router(tags=["volumes"])


class VolumeOut(Schema):
    id: int
    fonds: str
    category: str
    class_code: str
    fiscal_year: int
    retention: str
    title: str
    volume_no: int | None
    archive_no: str | None
    status: str
    items: int
    closed_at: datetime | None


class VolumeListOut(Schema):
    items: list[VolumeOut]
    count: int


class VolumeItemOut(Schema):
    id: int
    item_no: int | None
    archive_no: str | None
    document_no: str
    voucher_type: str
    responsible: str
    title: str
    date: date
    page_count: int | None


class VolumeDetailOut(VolumeOut):
    metadata: dict
    records: list[VolumeItemOut]
    documents: dict[str, str]


def _out(v: Volume, items: int | None = None) -> dict:
    return {"id": v.pk, "fonds": v.fonds.code, "category": v.category.name,
            "class_code": v.class_code, "fiscal_year": v.fiscal_year, "retention": v.retention,
            "title": v.title, "volume_no": v.volume_no, "archive_no": v.archive_no,
            "status": v.status, "closed_at": v.closed_at,
            "items": items if items is not None else (
                v.items if hasattr(v, "items") else v.records.count())}


def _metadata(v: Volume) -> dict:
    """DA/T 94 volume-level metadata (M1 聚合层次 = 案卷)."""
    d = selectors.volume_description(volume=v)
    return {
        "aggregation_level": "案卷", "archive_no": v.archive_no, "fonds_code": v.fonds.code,
        "class_code": v.class_code, "volume_no": v.volume_no, "title": v.title,
        "fiscal_year": v.fiscal_year, "retention": v.retention,
        "start_date": d.start_date if d else None, "end_date": d.end_date if d else None,
        "item_count": d.item_count if d else None, "file_count": d.file_count if d else None,
        "page_count": d.page_count if d else None, "total_bytes": d.total_bytes if d else None,
        "period": d.period_label if d else "", "voucher_word": d.voucher_word if d else "",
        "assembled_by": d.assembled_by if d else "", "assembled_at": d.assembled_at if d else None,
        "checked_by": d.checked_by if d else "", "closed_at": v.closed_at,
    }


@router.get("/volumes", response=VolumeListOut, summary="案卷列表")
def volume_list(request: HttpRequest, fonds: str | None = None, year: int | None = None,
                category: str | None = None, status: Literal["open", "closed"] | None = None,
                limit: int = 100, offset: int = 0):
    require_token_scope(request, "read")
    qs = selectors.volume_list(actor=request.user, filters=selectors.VolumeFilters(
        fonds=fonds, fiscal_year=year, category=category, status=status))
    limit = max(1, min(limit, 1000))
    return {"items": [_out(v) for v in qs[offset:offset + limit]], "count": qs.count()}


@router.get("/volumes/{int:volume_id}", response=VolumeDetailOut, summary="案卷：元数据与卷内文件")
def volume_get(request: HttpRequest, volume_id: int):
    require_token_scope(request, "read")
    v = selectors.volume_detail(actor=request.user, volume_id=volume_id)
    records = list(selectors.volume_items(actor=request.user, volume=v))
    data = _out(v, items=v.records.count())
    data["metadata"] = _metadata(v)
    data["records"] = [{"id": r.pk, "item_no": r.item_no, "archive_no": r.archive_no,
                        "document_no": r.document_no, "voucher_type": r.voucher_type,
                        "responsible": r.responsible, "title": r.title, "date": r.date,
                        "page_count": r.page_count} for r in records]
    data["documents"] = {k: f"/api/v1/volumes/{v.pk}/{_DOC_PATHS[VolumeDocumentKind(k)]}"
                         for k in selectors.volume_documents(volume=v)}
    return data


class AssembleIn(Schema):
    fonds: str
    fiscal_year: int
    category: str | None = None


def _fonds(request: HttpRequest, code: str) -> Fonds:
    fonds = archive_selectors.fonds_list(actor=request.user).filter(code=code).first()
    if fonds is None:
        raise NotFound("fonds_not_found", f"全宗 {code} 不存在", f"fonds {code} not found")
    return fonds


def _category(name: str) -> Category:
    category = Category.objects.filter(name=name).first()
    if category is None:
        raise DomainError("category_unknown", f"门类 {name} 不存在", f"unknown category {name}")
    return category


@router.post("/volumes/assemble", summary="自动组卷")
def volume_assemble(request: AuthedRequest, payload: AssembleIn):
    require(request, Perm.VOLUME_ASSEMBLE)
    result = services.volumes_assemble(
        fonds=_fonds(request, payload.fonds), fiscal_year=payload.fiscal_year,
        category=_category(payload.category) if payload.category else None,
        actor=request.user, request=request)
    return {"items": result.items, "volumes": result.volumes, "created": result.created,
            "moved": result.moved, "removed": result.removed, "volume_ids": result.volume_ids}


@router.post("/volumes/{int:volume_id}/close", response=VolumeOut, summary="封卷：分配案卷号和件号，生成卷内目录和备考表")
def volume_close(request: AuthedRequest, volume_id: int):
    require(request, Perm.VOLUME_CLOSE)
    v = selectors.volume_detail(actor=request.user, volume_id=volume_id)
    return _out(services.volume_close(volume=v, actor=request.user, request=request), items=None)


class VolumePatch(Schema):
    title: str


@router.patch("/volumes/{int:volume_id}", response=VolumeOut, summary="修改案卷题名（未封卷）")
def volume_patch(request: AuthedRequest, volume_id: int, payload: VolumePatch):
    require(request, Perm.VOLUME_ASSEMBLE)
    v = selectors.volume_detail(actor=request.user, volume_id=volume_id)
    return _out(services.volume_update(volume=v, title=payload.title, actor=request.user,
                                       request=request), items=None)


class MoveIn(Schema):
    record_id: int
    to_volume_id: int


@router.post("/volumes/{int:volume_id}/items", summary="在未封卷的案卷之间移动文件")
def volume_item_move(request: AuthedRequest, volume_id: int, payload: MoveIn):
    require(request, Perm.VOLUME_ASSEMBLE)
    source = selectors.volume_detail(actor=request.user, volume_id=volume_id)
    target = selectors.volume_detail(actor=request.user, volume_id=payload.to_volume_id)
    record = archive_selectors.record_get(actor=request.user, record_id=payload.record_id)
    if record.volume_id != source.pk:
        raise DomainError("record_not_in_volume", "该档案不在此案卷中",
                          "the record is not in this volume")
    record = services.volume_item_move(record=record, to_volume=target, actor=request.user,
                                       request=request)
    return {"record_id": record.pk, "volume_id": target.pk}


_DOC_PATHS = {VolumeDocumentKind.REGISTER_PDF: "register.pdf",
              VolumeDocumentKind.REGISTER_XLSX: "register.xlsx",
              VolumeDocumentKind.NOTES_PDF: "notes.pdf",
              VolumeDocumentKind.NOTES_XLSX: "notes.xlsx"}
_DOC_TYPES = {"pdf": "application/pdf",
              "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def volume_document_response(request: HttpRequest, volume_id: int, kind: str
                             ) -> StreamingHttpResponse:
    """A closed volume's 卷内目录 or 备考表 as a download (also used by the web page)."""
    volume, chunks = selectors.volume_document_bytes(actor=request.user, volume_id=volume_id,
                                                     kind=kind)
    name = _DOC_PATHS[VolumeDocumentKind(kind)]
    ext = name.rsplit(".", 1)[1]
    label = "卷内目录" if name.startswith("register") else "备考表"
    register_download_log(request=request, register=label, object_type="volume",
                          object_id=str(volume.pk), file_format=ext)
    filename = f"{volume.archive_no or volume.pk}-{label}.{ext}"
    response = StreamingHttpResponse(chunks, content_type=_DOC_TYPES[ext])
    response["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
    for header, value in FILE_HEADERS.items():
        response[header] = value
    return response


@router.get("/volumes/{int:volume_id}/register.pdf", summary="卷内目录 (PDF/A)")
def volume_register_pdf(request: HttpRequest, volume_id: int):
    require_token_scope(request, "read")
    return volume_document_response(request, volume_id, VolumeDocumentKind.REGISTER_PDF)


@router.get("/volumes/{int:volume_id}/register.xlsx", summary="卷内目录 (Excel)")
def volume_register_xlsx(request: HttpRequest, volume_id: int):
    require_token_scope(request, "read")
    return volume_document_response(request, volume_id, VolumeDocumentKind.REGISTER_XLSX)


@router.get("/volumes/{int:volume_id}/notes.pdf", summary="备考表 (PDF/A)")
def volume_notes_pdf(request: HttpRequest, volume_id: int):
    require_token_scope(request, "read")
    return volume_document_response(request, volume_id, VolumeDocumentKind.NOTES_PDF)


@router.get("/volumes/{int:volume_id}/notes.xlsx", summary="备考表 (Excel)")
def volume_notes_xlsx(request: HttpRequest, volume_id: int):
    require_token_scope(request, "read")
    return volume_document_response(request, volume_id, VolumeDocumentKind.NOTES_XLSX)


class RuleIn(Schema):
    fonds: str
    category: str
    period: Literal["month", "quarter", "year"] = "month"
    max_items: int | None = None
    max_bytes: int | None = None
    by_voucher_word: bool = False


class RuleOut(Schema):
    id: int
    fonds: str
    category: str
    period: str
    max_items: int | None
    max_bytes: int | None
    by_voucher_word: bool


def _rule_out(r: VolumeRule) -> dict:
    return {"id": r.pk, "fonds": r.fonds.code, "category": r.category.name, "period": r.period,
            "max_items": r.max_items, "max_bytes": r.max_bytes,
            "by_voucher_word": r.by_voucher_word}


@router.get("/volume-rules", response=list[RuleOut], summary="组卷规则")
def volume_rules(request: HttpRequest):
    require(request, Perm.VOLUME_ASSEMBLE)
    return [_rule_out(r) for r in selectors.volume_rule_list(actor=request.user)]


@router.put("/volume-rules", response=RuleOut, summary="设置某全宗某门类的组卷规则")
def volume_rule_put(request: AuthedRequest, payload: RuleIn):
    require(request, Perm.VOLUME_RULES)
    rule = services.volume_rule_set(
        fonds=_fonds(request, payload.fonds), category=_category(payload.category),
        period=payload.period, max_items=payload.max_items, max_bytes=payload.max_bytes,
        by_voucher_word=payload.by_voucher_word, actor=request.user, request=request)
    return _rule_out(rule)


@router.delete("/volume-rules/{rule_id}", response={204: None}, summary="删除组卷规则（恢复按月）")
def volume_rule_delete(request: AuthedRequest, rule_id: int):
    require(request, Perm.VOLUME_RULES)
    rule = selectors.volume_rule_get(actor=request.user, rule_id=rule_id)
    services.volume_rule_delete(rule=rule, actor=request.user, request=request)
    return 204, None


class NumberingIn(Schema):
    template: str = ""


@router.put("/volume-numbering/{code}", summary="设置全宗的案卷档号格式")
def volume_numbering_put(request: AuthedRequest, code: str, payload: NumberingIn):
    require(request, Perm.VOLUME_RULES)
    template = services.volume_numbering_set(fonds=_fonds(request, code),
                                             template=payload.template, actor=request.user,
                                             request=request)
    return {"fonds": code, "template": template}



