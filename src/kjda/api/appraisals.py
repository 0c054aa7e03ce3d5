"""鉴定 API: expired records, appraisal batches and their steps, the 鉴定意见书, the administered
retention rules, and the Art.8 evidence of a fonds. Rules live in the services; here only
parsing and shaping."""

from __future__ import annotations

from datetime import date

from ninja import Router, Schema

from kjda.accounts.requests import AuthedRequest
from kjda.archives import selectors as archive_selectors
from kjda.archives.models import retention_label
from kjda.archives.services import record_set_asset_disposed
from kjda.errors import NotFound
from kjda.lifecycle.appraisal import selectors, services
from kjda.lifecycle.appraisal.models import AppraisalBatch
from kjda.lifecycle.appraisal.register import appraisal_register
from kjda.lifecycle.appraisal.workflow import APPRAISAL
from kjda.lifecycle.registers import register_download

router = Router(tags=["appraisals"])


def _batch(request: AuthedRequest, batch_id: int) -> AppraisalBatch:
    batch = selectors.appraisal_get(actor=request.user, batch_id=batch_id)
    if batch is None:
        raise NotFound("appraisal_not_found", f"鉴定批次 {batch_id} 不存在",
                       f"appraisal {batch_id} not found")
    return batch


def _fonds(request: AuthedRequest, code: str):
    fonds = archive_selectors.fonds_list(actor=request.user).filter(code=code).first()
    if fonds is None:
        raise NotFound("fonds_not_found", f"全宗 {code} 不存在", f"fonds {code} not found")
    return fonds


def batch_out(request: AuthedRequest, b: AppraisalBatch, *, detail: bool = False) -> dict:
    out = {"id": b.pk, "number": b.number, "fonds": b.fonds.code, "title": b.title,
           "state": b.state, "state_label": APPRAISAL.state_label(b.state),
           "created_at": b.created_at, "decided_at": b.decided_at,
           "register_record_id": b.register_record_id}
    if detail:
        out["items"] = [
            {"id": i.pk, "record_id": i.record_id, "volume_id": i.volume_id,
             "archive_no": (i.record.archive_no if i.record else i.volume.archive_no
                            if i.volume else None),
             "title": i.record.title if i.record else (i.volume.title if i.volume else ""),
             "expired_on": i.expired_on, "outcome": i.outcome,
             "new_retention": i.new_retention, "new_expires_on": i.new_expires_on,
             "reason": i.reason} for i in selectors.appraisal_items(batch=b)]
        out["opinions"] = [{"side": o.side, "side_label": o.get_side_display(),
                            "user": o.user.get_username(), "role": o.role, "opinion": o.opinion,
                            "signed_at": o.signed_at} for o in b.opinions.select_related("user")]
        out["missing"] = selectors.appraisal_missing(batch=b)
        out["next_steps"] = selectors.appraisal_next_steps(actor=request.user, batch=b)
    return out


@router.get("/appraisals/expired", summary="保管期满待鉴定的档案和案卷")
def expired(request: AuthedRequest, fonds: str | None = None, fiscal_year: int | None = None,
            category: str | None = None, limit: int = 200):
    f = selectors.ExpiryFilters(fonds=fonds, fiscal_year=fiscal_year, category=category)
    records = selectors.expired_records(actor=request.user, filters=f)
    volumes = selectors.expired_volumes(actor=request.user, filters=f)
    return {"records_total": records.count(), "volumes_total": volumes.count(),
            "records": [{"id": r.pk, "archive_no": r.archive_no, "title": r.title,
                         "fonds": r.fonds.code, "fiscal_year": r.fiscal_year,
                         "retention": r.retention, "retention_label": retention_label(r.retention),
                         "expires_on": r.retention_expires_on} for r in records[:limit]],
            "volumes": [{"id": v.pk, "archive_no": v.archive_no, "title": v.title,
                         "fiscal_year": v.fiscal_year} for v in volumes[:limit]]}


@router.get("/appraisals", summary="鉴定批次")
def appraisal_list(request: AuthedRequest, state: str | None = None, fonds: str | None = None):
    return [batch_out(request, b)
            for b in selectors.appraisal_list(actor=request.user, state=state, fonds=fonds)]


class AppraisalIn(Schema):
    fonds: str
    record_ids: list[int] = []
    volume_ids: list[int] = []
    title: str = ""


@router.post("/appraisals", response={201: dict}, summary="新建鉴定批次")
def appraisal_create(request: AuthedRequest, payload: AppraisalIn):
    batch = services.appraisal_create(actor=request.user, fonds=_fonds(request, payload.fonds),
                                      record_ids=payload.record_ids,
                                      volume_ids=payload.volume_ids, title=payload.title,
                                      request=request)
    return 201, batch_out(request, batch, detail=True)


@router.get("/appraisals/{batch_id}", summary="鉴定批次详情")
def appraisal_detail(request: AuthedRequest, batch_id: int):
    return batch_out(request, _batch(request, batch_id), detail=True)


@router.post("/appraisals/{batch_id}/submit", summary="提交鉴定")
def appraisal_submit(request: AuthedRequest, batch_id: int):
    batch = services.appraisal_submit(actor=request.user, batch=_batch(request, batch_id),
                                      request=request)
    return batch_out(request, batch, detail=True)


class OpinionIn(Schema):
    opinion: str
    side: str | None = None


@router.post("/appraisals/{batch_id}/opinion", summary="填写鉴定意见")
def appraisal_opinion(request: AuthedRequest, batch_id: int, payload: OpinionIn):
    batch = _batch(request, batch_id)
    services.appraisal_opinion(actor=request.user, batch=batch, opinion=payload.opinion,
                               side=payload.side, request=request)
    return batch_out(request, batch, detail=True)


class OutcomeItem(Schema):
    item_id: int
    outcome: str
    new_retention: str = ""
    reason: str = ""


@router.post("/appraisals/{batch_id}/outcomes", summary="逐项鉴定结论")
def appraisal_outcomes(request: AuthedRequest, batch_id: int, payload: list[OutcomeItem]):
    batch = services.appraisal_outcomes_set(
        actor=request.user, batch=_batch(request, batch_id),
        outcomes=[services.OutcomeIn(**o.dict()) for o in payload], request=request)
    return batch_out(request, batch, detail=True)


@router.post("/appraisals/{batch_id}/decide", summary="作出鉴定结论，生成并归档鉴定意见书")
def appraisal_decide(request: AuthedRequest, batch_id: int):
    batch = services.appraisal_decide(actor=request.user, batch=_batch(request, batch_id),
                                      request=request)
    return batch_out(request, batch, detail=True)


class CancelIn(Schema):
    reason: str


@router.post("/appraisals/{batch_id}/cancel", summary="取消鉴定")
def appraisal_cancel(request: AuthedRequest, batch_id: int, payload: CancelIn):
    batch = services.appraisal_cancel(actor=request.user, batch=_batch(request, batch_id),
                                      reason=payload.reason, request=request)
    return batch_out(request, batch, detail=True)


@router.get("/appraisals/{batch_id}/register.pdf", summary="会计档案鉴定意见书（PDF/A）")
def register_pdf_get(request: AuthedRequest, batch_id: int):
    batch = _batch(request, batch_id)
    return register_download(request, appraisal_register(batch), kind="pdf",
                             label="会计档案鉴定意见书", object_type="appraisal",
                             object_id=str(batch.pk), filename=batch.number)


@router.get("/appraisals/{batch_id}/register.xlsx", summary="会计档案鉴定意见书（Excel）")
def register_xlsx_get(request: AuthedRequest, batch_id: int):
    batch = _batch(request, batch_id)
    return register_download(request, appraisal_register(batch), kind="xlsx",
                             label="会计档案鉴定意见书", object_type="appraisal",
                             object_id=str(batch.pk), filename=batch.number)


# --- retention rules as administered data ---------------------------------------------------

def rule_out(r) -> dict:
    return {"id": r.pk, "schedule": r.schedule, "seq": r.seq, "name": r.name,
            "category": r.category.name, "retention": r.retention,
            "retention_label": retention_label(r.retention), "note": r.note,
            "aliases": r.aliases, "local": r.extends_id is not None,
            "extends": r.extends.name if r.extends else None, "version": r.version,
            "active": r.active}


@router.get("/retention-rules/all", summary="附表1、附表2与本单位规则")
def retention_rules_all(request: AuthedRequest):
    return [rule_out(r) for r in selectors.retention_rules_all()]


class LocalRuleIn(Schema):
    extends_id: int
    name: str
    retention: str
    note: str = ""
    reason: str = ""


@router.post("/retention-rules/local", response={201: dict}, summary="新增本单位保管期限规则（只能更长）")
def local_rule_add(request: AuthedRequest, payload: LocalRuleIn):
    base = selectors.retention_rule_get(rule_id=payload.extends_id)
    if base is None:
        raise NotFound("rule_not_found", "所延长的条目不存在", "the rule to extend does not exist")
    rule = services.retention_local_rule_add(
        actor=request.user, extends=base, name=payload.name, retention=payload.retention,
        note=payload.note, reason=payload.reason, request=request)
    return 201, rule_out(rule)


class LocalRulePatch(Schema):
    name: str | None = None
    retention: str | None = None
    note: str | None = None
    active: bool | None = None
    reason: str = ""


@router.patch("/retention-rules/{rule_id}", summary="修改本单位保管期限规则（新版本）")
def local_rule_change(request: AuthedRequest, rule_id: int, payload: LocalRulePatch):
    rule = selectors.retention_rule_get(rule_id=rule_id)
    if rule is None:
        raise NotFound("rule_not_found", f"规则 {rule_id} 不存在", f"rule {rule_id} not found")
    rule = services.retention_local_rule_change(actor=request.user, rule=rule,
                                                **payload.dict(), request=request)
    return rule_out(rule)


@router.get("/retention-rules/{rule_id}/versions", summary="规则的历次版本")
def rule_versions(request: AuthedRequest, rule_id: int):
    rule = selectors.retention_rule_get(rule_id=rule_id)
    if rule is None:
        raise NotFound("rule_not_found", f"规则 {rule_id} 不存在", f"rule {rule_id} not found")
    return [{"version": c.version, "before": c.before, "after": c.after, "reason": c.reason,
             "changed_by": c.changed_by.get_username() if c.changed_by else None,
             "changed_at": c.changed_at} for c in selectors.retention_changes(rule=rule)]


class ScheduleIn(Schema):
    schedule: str
    reason: str = ""


@router.put("/fonds/{code}/retention-schedule", summary="全宗采用的保管期限表（附表1/附表2）")
def fonds_schedule(request: AuthedRequest, code: str, payload: ScheduleIn):
    fonds = services.fonds_retention_schedule_set(
        actor=request.user, fonds=_fonds(request, code), schedule=payload.schedule,
        reason=payload.reason, request=request)
    return {"code": fonds.code, "retention_schedule": fonds.retention_schedule}


class DisposedIn(Schema):
    disposed_on: date


@router.post("/records/{record_id}/asset-disposed", summary="固定资产卡片：记录报废清理日期")
def asset_disposed(request: AuthedRequest, record_id: int, payload: DisposedIn):
    record = archive_selectors.record_get(actor=request.user, record_id=record_id)
    record = record_set_asset_disposed(record=record, disposed_on=payload.disposed_on,
                                       actor=request.user, request=request)
    return {"id": record.pk, "asset_disposed_on": record.asset_disposed_on,
            "retention_expires_on": record.retention_expires_on}


@router.get("/fonds/{code}/art8", summary="第八条：仅以电子形式保存的条件与证据")
def art8(request: AuthedRequest, code: str):
    fonds = _fonds(request, code)
    return {"fonds": fonds.code, "title": "《会计档案管理办法》第八条",
            "conditions": [c.__dict__ for c in selectors.art8_evidence(actor=request.user,
                                                                       fonds=fonds)]}
