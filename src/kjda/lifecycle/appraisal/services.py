"""Writes of the appraisal app: local retention rules and the fonds' choice of table (every change
versioned and audited), the daily expiry scan, and the appraisal batch's steps."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone

from kjda.accounts.roles import Role
from kjda.accounts.selectors import actor_roles, users_with_roles
from kjda.archives.models import (
    BusinessEvent,
    Fonds,
    Record,
    RecordStatus,
    Retention,
    RetentionRule,
    RetentionSchedule,
    retention_code_valid,
    retention_label,
    retention_rank,
    retention_years,
)
from kjda.audit.services import audit_log
from kjda.errors import Conflict, DomainError, Forbidden
from kjda.lifecycle.appraisal import selectors
from kjda.lifecycle.appraisal.models import (
    AppraisalBatch,
    AppraisalItem,
    AppraisalOpinion,
    ExpiryScan,
    Outcome,
    RetentionChange,
    Side,
)
from kjda.lifecycle.appraisal.register import TITLE, appraisal_register
from kjda.lifecycle.appraisal.workflow import APPRAISAL, SIDE_ROLES
from kjda.lifecycle.registers import register_file, register_pdf
from kjda.lifecycle.todos import oa_todo_notify

LOCAL_SEQ_BASE = 100  # local rules are numbered 101… after the statutory rows


def _require_sysadmin(actor: User | None) -> None:
    if Role.SYSADMIN not in actor_roles(actor):
        raise Forbidden("forbidden", "只有系统管理员可以维护保管期限规则",
                        "only the system administrator maintains retention rules")


def _rule_state(rule: RetentionRule) -> dict[str, Any]:
    return {"name": rule.name, "retention": rule.retention, "note": rule.note,
            "active": rule.active, "extends": rule.extends.name if rule.extends else None,
            "schedule": rule.schedule, "version": rule.version}


def _check_longer(*, base: RetentionRule, retention: str) -> None:
    """Art.15: a unit may keep longer than the table, never shorter."""
    if not retention_code_valid(retention):
        raise DomainError("retention_invalid", f"保管期限代码无效：{retention}（应为 Y 或 D<年数>）",
                          f"invalid retention code {retention} (Y or D<years>)")
    if base.retention == Retention.FA5:
        if retention != Retention.PERMANENT:
            raise DomainError("retention_too_short", "固定资产卡片只能规定为永久保管",
                              "a fixed-asset card can only be made permanent")
        return
    if retention_rank(retention) <= retention_rank(base.retention):
        raise DomainError(
            "retention_too_short",
            f"本单位规定的保管期限（{retention_label(retention)}）必须长于《保管期限表》"
            f"“{base.name}”的{retention_label(base.retention)}（第十五条：不得短于）",
            f"a local term ({retention}) must be longer than the statutory {base.retention} "
            f"of '{base.name}' (Art.15)")


def retention_local_rule_add(*, actor: User, extends: RetentionRule, name: str, retention: str,
                             note: str = "", reason: str = "",
                             request: HttpRequest | None = None) -> RetentionRule:
    """A rule of the unit that lengthens a statutory row (e.g. 合同类原始凭证 D50 extends 原始凭证
    D30). Version 1 is recorded with who and why; audited (`retention.rule_add`)."""
    _require_sysadmin(actor)
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise DomainError("name_invalid", "请填写档案名称（不超过100字）",
                          "give the item name (at most 100 characters)")
    if extends.extends_id is not None:
        raise DomainError("extends_local", "只能延长法定条目，不能延长本单位规则",
                          "a local rule extends a statutory row, not another local rule")
    _check_longer(base=extends, retention=retention)
    with transaction.atomic():
        if RetentionRule.objects.filter(schedule=extends.schedule, name=name).exists():
            raise Conflict("rule_exists", f"保管期限表中已有“{name}”", f"'{name}' already exists")
        last = RetentionRule.objects.filter(schedule=extends.schedule).aggregate(m=Max("seq"))["m"]
        rule = RetentionRule.objects.create(
            schedule=extends.schedule, seq=max(last or 0, LOCAL_SEQ_BASE) + 1, name=name,
            category=extends.category, retention=retention, note=note[:200], extends=extends,
            version=1)
        RetentionChange.objects.create(rule=rule, version=1, before={}, after=_rule_state(rule),
                                       reason=reason[:500], changed_by=actor)
        audit_log(action="retention.rule_add", actor=actor, request=request,
                  object_type="retention_rule", object_id=str(rule.pk),
                  detail={"after": _rule_state(rule), "reason": reason})
    return rule


def retention_local_rule_change(*, actor: User, rule: RetentionRule, name: str | None = None,
                                retention: str | None = None, note: str | None = None,
                                active: bool | None = None, reason: str = "",
                                request: HttpRequest | None = None) -> RetentionRule:
    """Change a local rule (never a statutory row); still longer than the row it extends. A new
    version with before/after; records already filed keep their term and rule version.
    Audited (`retention.rule_change`)."""
    _require_sysadmin(actor)
    if rule.extends is None:
        raise Forbidden("statutory_rule", "《会计档案管理办法》规定的条目不能修改",
                        "a statutory row of the retention table cannot be changed")
    with transaction.atomic():
        rule = RetentionRule.objects.select_for_update().get(pk=rule.pk)
        before = _rule_state(rule)
        if retention is not None and retention != rule.retention:
            assert rule.extends is not None
            _check_longer(base=rule.extends, retention=retention)
            rule.retention = retention
        if name is not None and name.strip() != rule.name:
            name = name.strip()
            if not name or RetentionRule.objects.filter(schedule=rule.schedule,
                                                        name=name).exists():
                raise Conflict("rule_exists", f"名称无效或已存在：{name}",
                               f"name empty or taken: {name}")
            rule.name = name
        if note is not None:
            rule.note = note[:200]
        if active is not None:
            rule.active = active
        after = _rule_state(rule)
        if after == before:
            return rule
        rule.version += 1
        rule.save()
        after = _rule_state(rule)
        RetentionChange.objects.create(rule=rule, version=rule.version, before=before,
                                       after=after, reason=reason[:500], changed_by=actor)
        audit_log(action="retention.rule_change", actor=actor, request=request,
                  object_type="retention_rule", object_id=str(rule.pk),
                  detail={"before": before, "after": after, "reason": reason})
    return rule


def fonds_retention_schedule_set(*, actor: User, fonds: Fonds, schedule: str, reason: str = "",
                                 request: HttpRequest | None = None) -> Fonds:
    """Which 保管期限表 a fonds follows (附表1 enterprises, 附表2 行政事业单位). Records filed
    before keep their rule and term. Versioned and audited (`retention.schedule_set`)."""
    _require_sysadmin(actor)
    if schedule not in RetentionSchedule.values:
        raise DomainError("schedule_invalid", "保管期限表应为 1（附表1）或 2（附表2）",
                          "schedule is 1 (附表1) or 2 (附表2)")
    with transaction.atomic():
        fonds = Fonds.objects.select_for_update().get(pk=fonds.pk)
        if fonds.retention_schedule == schedule:
            return fonds
        before = {"retention_schedule": fonds.retention_schedule}
        fonds.retention_schedule = schedule
        fonds.save(update_fields=["retention_schedule"])
        version = RetentionChange.objects.filter(fonds=fonds).count() + 1
        RetentionChange.objects.create(fonds=fonds, version=version, before=before,
                                       after={"retention_schedule": schedule},
                                       reason=reason[:500], changed_by=actor)
        audit_log(action="retention.schedule_set", actor=actor, request=request,
                  object_type="fonds", object_id=fonds.code,
                  detail={"before": before["retention_schedule"], "after": schedule,
                          "reason": reason})
    return fonds


def _archives_staff(fonds: Fonds) -> list[User]:
    return users_with_roles(roles=[Role.ARCHIVIST, Role.ARCHIVES_HEAD], fonds_code=fonds.code)


def expiry_scan(*, today: date | None = None, actor: User | None = None,
                request: HttpRequest | None = None) -> list[ExpiryScan]:
    """The daily job (Art.16 "定期鉴定"): per fonds, how many records and volumes have passed
    their term; the archives department gets a to-do (dashboard, and their OA). Idempotent per
    day. Audited (`appraisal.expiry_scan`)."""
    today = today or timezone.localdate()
    scans = []
    with transaction.atomic():
        for fonds in Fonds.objects.order_by("code"):
            records, volumes = selectors.expiry_counts(fonds=fonds, today=today)
            scan, _ = ExpiryScan.objects.update_or_create(
                fonds=fonds, scanned_on=today,
                defaults={"records_expired": records, "volumes_expired": volumes})
            scans.append(scan)
            if records or volumes:
                oa_todo_notify(users=_archives_staff(fonds),
                               title=f"{fonds.code} 有 {records} 件、{volumes} 卷会计档案保管期满待鉴定",
                               text="请组织会计、审计、纪检监察机构进行鉴定（《会计档案管理办法》第十六、十七条）。",
                               url=f"/appraisals/expired/?fonds={fonds.code}",
                               dedupe_key=f"appraisal-expiry:{fonds.code}:{today.isoformat()}")
        audit_log(action="appraisal.expiry_scan", actor=actor, request=request,
                  object_type="fonds", object_id="*",
                  detail={"on": today.isoformat(),
                          "fonds": {s.fonds.code: [s.records_expired, s.volumes_expired]
                                    for s in scans}})
    return scans


def _next_number(year: int) -> str:
    prefix = f"JD-{year}-"
    last = (AppraisalBatch.objects.filter(number__startswith=prefix).order_by("-number")
            .values_list("number", flat=True).first())
    return f"{prefix}{int(last.rsplit('-', 1)[1]) + 1 if last else 1:04d}"


def appraisal_create(*, actor: User, fonds: Fonds, record_ids: Sequence[int] = (),
                     volume_ids: Sequence[int] = (), title: str = "",
                     request: HttpRequest | None = None) -> AppraisalBatch:
    """An appraisal batch (draft) of expired records and/or volumes of one fonds, led by the
    archives department (Art.17). Audited (`appraisal.create`)."""
    if not (actor_roles(actor) & {Role.ARCHIVIST, Role.ARCHIVES_HEAD}):
        raise Forbidden("forbidden", "鉴定由档案管理机构牵头发起",
                        "the archives department starts an appraisal")
    if not record_ids and not volume_ids:
        raise DomainError("appraisal_empty", "请选择要鉴定的档案或案卷",
                          "choose the records or volumes to appraise")
    today = timezone.localdate()
    with transaction.atomic():
        allowed_records = {r.pk: r for r in selectors.expired_records(actor=actor, today=today)
                           .filter(fonds=fonds, pk__in=list(record_ids))}
        allowed_volumes = {v.pk: v for v in selectors.expired_volumes(actor=actor, today=today)
                           .filter(fonds=fonds, pk__in=list(volume_ids))}
        bad = ([f"record {i}" for i in record_ids if int(i) not in allowed_records]
               + [f"volume {i}" for i in volume_ids if int(i) not in allowed_volumes])
        if bad:
            raise DomainError(
                "not_expired", f"以下档案不在本全宗、尚未到期、为永久保管或已在鉴定中：{'、'.join(bad)}",
                f"not in this fonds, not expired, permanent or already under appraisal: "
                f"{', '.join(bad)}", status=409)
        assert getattr(actor, "pk", None) is not None
        batch = AppraisalBatch.objects.create(
            number=_next_number(today.year), fonds=fonds, created_by=actor,
            title=(title or f"{fonds.code} {today.year}年到期会计档案鉴定")[:200])
        AppraisalItem.objects.bulk_create(
            [AppraisalItem(batch=batch, record=r, expired_on=r.retention_expires_on)
             for r in allowed_records.values()]
            + [AppraisalItem(batch=batch, volume=v, expired_on=getattr(v, "expired_on", None))
               for v in allowed_volumes.values()])
        audit_log(action="appraisal.create", actor=actor, request=request,
                  object_type="appraisal", object_id=str(batch.pk),
                  detail={"number": batch.number, "records": sorted(allowed_records),
                          "volumes": sorted(allowed_volumes)})
    return batch


def _locked(batch: AppraisalBatch) -> AppraisalBatch:
    return AppraisalBatch.objects.select_for_update().select_related("fonds").get(pk=batch.pk)


def _participants(batch: AppraisalBatch, sides: Iterable[str]) -> list[User]:
    roles = set().union(*(SIDE_ROLES[s] for s in sides)) if sides else set()
    return users_with_roles(roles=roles, fonds_code=batch.fonds.code)


def appraisal_submit(*, actor: User, batch: AppraisalBatch,
                     request: HttpRequest | None = None) -> AppraisalBatch:
    """Draft → in review: the four functions are asked for their opinions (to-dos, OA)."""
    with transaction.atomic():
        batch = _locked(batch)
        step = APPRAISAL.check("submit", state=batch.state, roles=actor_roles(actor))
        batch.state, batch.submitted_at = step.target, timezone.now()
        batch.save(update_fields=["state", "submitted_at"])
        oa_todo_notify(users=_participants(batch, list(Side)),
                       title=f"会计档案鉴定 {batch.number} 待填写鉴定意见", text=batch.title,
                       url=f"/appraisals/{batch.pk}/", dedupe_key=f"appraisal:{batch.pk}:submit")
        audit_log(action="appraisal.submit", actor=actor, request=request,
                  object_type="appraisal", object_id=str(batch.pk),
                  detail={"number": batch.number, "state": batch.state})
    return batch


def appraisal_opinion(*, actor: User, batch: AppraisalBatch, opinion: str,
                      side: str | None = None,
                      request: HttpRequest | None = None) -> AppraisalOpinion:
    """One function's opinion (archives, accounting, audit or discipline inspection), once per
    side; the side follows from the user's role (asked when they hold two). Audited
    (`appraisal.opinion`)."""
    roles = actor_roles(actor)
    opinion = (opinion or "").strip()
    if not opinion:
        raise DomainError("opinion_empty", "请填写鉴定意见", "write the opinion")
    with transaction.atomic():
        batch = _locked(batch)
        APPRAISAL.check("opinion", state=batch.state, roles=roles)
        mine = [s for s, side_roles in SIDE_ROLES.items() if roles & side_roles]
        if side is None:
            if len(mine) != 1:
                raise DomainError("side_required", "请选择以哪个机构的身份签署意见",
                                  "say which function you sign for")
            side = mine[0]
        if side not in mine:
            raise Forbidden("side_forbidden", "您的角色不能代表该机构签署意见",
                            "your roles do not sign for that function")
        if batch.opinions.filter(side=side).exists():
            raise Conflict("opinion_exists", f"{Side(side).label}已签署意见",
                           f"the {side} opinion is already recorded")
        role = next(r for r in sorted(roles) if r in SIDE_ROLES[side])
        assert getattr(actor, "pk", None) is not None
        row = AppraisalOpinion.objects.create(batch=batch, side=side, user=actor, role=role,
                                              opinion=opinion[:5000])
        audit_log(action="appraisal.opinion", actor=actor, request=request,
                  object_type="appraisal", object_id=str(batch.pk),
                  detail={"side": side, "role": role, "opinion": opinion[:500]})
    return row


@dataclass(frozen=True)
class OutcomeIn:
    item_id: int
    outcome: str  # "destroy" | "keep"
    new_retention: str = ""  # keep: D<n> (n more years from next 1 Jan) or Y
    reason: str = ""


def appraisal_outcomes_set(*, actor: User, batch: AppraisalBatch, outcomes: Sequence[OutcomeIn],
                           request: HttpRequest | None = None) -> AppraisalBatch:
    """The archives department records, item by item, destroy or keep with a new term (Art.16:
    重新划定保管期限; never shorter: the new end is always after today). Audited
    (`appraisal.outcome`)."""
    today = timezone.localdate()
    with transaction.atomic():
        batch = _locked(batch)
        APPRAISAL.check("outcome", state=batch.state, roles=actor_roles(actor))
        items = {i.pk: i for i in batch.items.all()}
        changed = []
        for o in outcomes:
            item = items.get(int(o.item_id))
            if item is None:
                raise DomainError("item_unknown", f"鉴定项目 {o.item_id} 不在本批次",
                                  f"item {o.item_id} is not in this batch", status=404)
            if o.outcome not in (Outcome.DESTROY, Outcome.KEEP):
                raise DomainError("outcome_invalid", "鉴定结论应为“销毁”或“继续保管”",
                                  "the outcome is destroy or keep")
            item.outcome, item.reason = o.outcome, o.reason[:500]
            item.new_retention, item.new_expires_on = "", None
            if o.outcome == Outcome.KEEP:
                if not o.reason.strip():
                    raise DomainError("reason_required", "继续保管须说明理由",
                                      "keeping needs a reason")
                code = o.new_retention
                if not retention_code_valid(code) or code == Retention.FA5:
                    raise DomainError("retention_invalid",
                                      "新保管期限应为 D<年数>（自次年1月1日起计算）或 Y（永久）",
                                      "the new term is D<years> (from next 1 January) or Y")
                years = retention_years(code)
                item.new_retention = code
                item.new_expires_on = (None if years is None
                                       else date(today.year + years, 12, 31))
            changed.append(item)
        AppraisalItem.objects.bulk_update(changed, ["outcome", "reason", "new_retention",
                                                    "new_expires_on"])
        audit_log(action="appraisal.outcome", actor=actor, request=request,
                  object_type="appraisal", object_id=str(batch.pk),
                  detail={"items": [{"item": i.pk, "outcome": i.outcome,
                                     "new_retention": i.new_retention} for i in changed]})
    return batch


def appraisal_decide(*, actor: User, batch: AppraisalBatch,
                     request: HttpRequest | None = None) -> AppraisalBatch:
    """In review → decided, once all four functions have given their opinion and every item
    has an outcome: kept items get their new term (the record's expiry and a 鉴定 business
    event), and the 会计档案鉴定意见书 is generated (PDF/A + Excel) and filed as a permanent
    record. Audited (`appraisal.decide`)."""
    now = timezone.now()
    with transaction.atomic():
        batch = _locked(batch)
        step = APPRAISAL.check("decide", state=batch.state, roles=actor_roles(actor))
        missing = selectors.appraisal_missing(batch=batch)
        if missing["sides"]:
            labels = "、".join(str(Side(s).label) for s in missing["sides"])
            raise Conflict("opinions_missing", f"尚缺以下机构的鉴定意见：{labels}",
                           f"opinions missing: {', '.join(missing['sides'])}")
        if missing["items"]:
            raise Conflict("outcomes_missing", f"尚有 {missing['items']} 项未作鉴定结论",
                           f"{missing['items']} items have no outcome yet")
        kept = 0
        for item in batch.items.select_related("record", "volume").filter(outcome=Outcome.KEEP):
            if item.record is not None:
                records = [item.record]
            else:
                assert item.volume is not None
                records = list(Record.objects.filter(volume=item.volume,
                                                     status=RecordStatus.FILED))
            for record in records:
                old = record.retention_expires_on
                if old is not None and item.new_expires_on is not None \
                        and item.new_expires_on <= old:
                    continue  # never shorter
                record.retention_expires_on = item.new_expires_on
                record.save(update_fields=["retention_expires_on"])
                BusinessEvent.objects.create(
                    record=record, action="鉴定", occurred_at=now,
                    description=(f"{batch.number} 鉴定继续保管，保管期限重新划定为"
                                 f"{retention_label(item.new_retention)}"
                                 f"（至 {item.new_expires_on or '永久'}，原至 {old}）：{item.reason}")[:2000],
                    agent_name=getattr(actor, "username", ""))
                kept += 1
        batch.state, batch.decided_at, batch.decided_by = step.target, now, actor
        batch.save(update_fields=["state", "decided_at", "decided_by"])
        register = appraisal_register(batch, created=now)
        pdf = register_pdf(register)
        filed = register_file(
            # without the Excel copy: the filing checks refuse .xlsx as a non-archival format
            # (GD-3-3); it is generated on request from the same batch (register.xlsx)
            pdf=pdf, title=f"{TITLE} {batch.number}", rule_name=TITLE,
            fonds_code=batch.fonds.code, fiscal_year=timezone.localdate().year,
            document_no=batch.number, external_id=f"appraisal:{batch.pk}",
            on=timezone.localdate(), department="档案管理机构", request=request)
        if filed.status != RecordStatus.FILED:  # the decision stands only with its register
            raise Conflict("register_not_filed",
                           f"鉴定意见书未能归档（四性检测未通过：{filed.check_report.get('blocking_failures')}）",
                           "the appraisal opinion could not be filed (its checks failed)")
        batch.register_record = filed
        batch.save(update_fields=["register_record"])
        audit_log(action="appraisal.decide", actor=actor, request=request,
                  object_type="appraisal", object_id=str(batch.pk),
                  detail={"number": batch.number, "kept_records": kept,
                          "destroy": batch.items.filter(outcome=Outcome.DESTROY).count(),
                          "register_record": filed.pk})
    return batch


def appraisal_cancel(*, actor: User, batch: AppraisalBatch, reason: str,
                     request: HttpRequest | None = None) -> AppraisalBatch:
    """Draft or in review → cancelled, with a reason; its items return to the appraisal list.
    Audited (`appraisal.cancel`)."""
    if not (reason or "").strip():
        raise DomainError("reason_required", "请说明取消理由", "give the reason for cancelling")
    with transaction.atomic():
        batch = _locked(batch)
        step = APPRAISAL.check("cancel", state=batch.state, roles=actor_roles(actor))
        batch.state, batch.cancel_reason = step.target, reason[:500]
        batch.save(update_fields=["state", "cancel_reason"])
        audit_log(action="appraisal.cancel", actor=actor, request=request,
                  object_type="appraisal", object_id=str(batch.pk),
                  detail={"number": batch.number, "reason": reason})
    return batch


