"""Borrowing (借阅/调阅, 79号令 Art.13; standards.md §1.7): request → approval (archivist, rule
or the borrower's OA; lending outside the unit then the head's second approval) → active →
returned | expired; renewal is a new request that, approved, extends the loan.

Each step is one transaction: the rows, the audit event, the DA/T 94 利用 business events on the
records, and the OA notices (written to the connectors' outbox in the same transaction)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, User
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from kjda.accounts.grants import Right
from kjda.accounts.roles import CONTENT_ROLES
from kjda.accounts.selectors import actor_profile, actor_roles, users_with_roles
from kjda.archives.models import USE_ACTION, BusinessEvent, Fonds, Record, RecordStatus, Volume
from kjda.archives.selectors import RecordFilters, record_ids_matching
from kjda.audit.services import audit_log
from kjda.errors import Conflict, DomainError, Forbidden, NotFound
from kjda.lifecycle.loans import routing
from kjda.lifecycle.loans.models import (
    ApprovalMode,
    Loan,
    LoanItem,
    LoanRule,
    LoanSource,
    LoanState,
)
from kjda.lifecycle.loans.selectors import (
    loan_fonds_codes,
    loan_roles,
    loan_rule_for,
    loans_due_reminder,
    loans_past_end,
)
from kjda.lifecycle.loans.workflow import APPROVERS, HEADS, LOAN, OA, SYSTEM
from kjda.lifecycle.todos import oa_todo_notify

MANDATE = "《会计档案管理办法》第十三条"


def _display_name(user: AbstractBaseUser) -> str:
    profile = actor_profile(user)
    return profile.person_name or getattr(user, "get_full_name", lambda: "")() or \
        user.get_username()


def _loan_for_update(loan_id: int) -> Loan:
    loan = Loan.objects.select_for_update().filter(pk=loan_id).first()
    if loan is None:
        raise NotFound("loan_not_found", "借阅单不存在", "no such loan")
    return loan


def _invalid(code: str, zh: str, en: str) -> DomainError:
    return DomainError(code, zh, en, status=400)


def _resolve(*, records: Sequence[int | str], volume_id: int | None,
             query: dict[str, str] | None) -> tuple[str, list[int], dict[str, Any]]:
    """What was asked, as record ids (the system's view: the borrower cannot see them yet)."""
    limit = settings.KJDA_LOAN_MAX_RECORDS
    given = sum(bool(x) for x in (records, volume_id, query))
    if given != 1:
        raise _invalid("loan_what", "请指定要借阅的档案、案卷或检索条件之一",
                       "name records, a volume or a search (one of them)")
    filed = Record.objects.filter(status=RecordStatus.FILED)
    if records:
        ids = {int(r) for r in records if isinstance(r, int) or str(r).isdigit()}
        numbers = {str(r).strip() for r in records if not (isinstance(r, int)
                                                          or str(r).isdigit())}
        found = dict(filed.filter(pk__in=ids).values_list("pk", "pk"))
        by_no = dict(filed.filter(archive_no__in=numbers).values_list("archive_no", "pk"))
        missing = sorted([str(i) for i in ids if i not in found]
                         + [n for n in numbers if n not in by_no])
        if missing:
            raise NotFound("loan_records_unknown", f"以下档案不存在或不可借阅：{'、'.join(missing)}",
                           f"no such record to lend: {', '.join(missing)}",
                           detail={"missing": missing})
        out = sorted(set(found) | set(by_no.values()))
        asked: dict[str, Any] = {"records": [str(r) for r in records]}
        source = LoanSource.RECORDS
    elif volume_id:
        if not Volume.objects.filter(pk=volume_id).exists():
            raise NotFound("volume_not_found", "案卷不存在", "no such volume")
        out = list(filed.filter(volume_id=volume_id).order_by("pk")
                   .values_list("pk", flat=True)[:limit + 1])
        asked, source = {"volume": int(volume_id)}, LoanSource.VOLUME
    else:
        q = query or {}
        year = str(q.get("fiscal_year") or q.get("year") or "")
        filters = RecordFilters(fonds=q.get("fonds") or None, q=q.get("q") or None,
                                category=q.get("category") or None,
                                fiscal_year=int(year) if year.isdigit() else None,
                                department=q.get("department") or None)
        if not (filters.q or filters.fonds or filters.category or filters.fiscal_year
                or filters.department):
            raise _invalid("loan_query_empty", "检索条件为空，不能借阅整个档案库",
                           "the search is empty: the whole archive cannot be lent")
        out = record_ids_matching(filters=filters, limit=limit + 1)
        asked = {"query": {k: str(v) for k, v in q.items() if v}}
        source = LoanSource.QUERY
    if not out:
        raise _invalid("loan_empty", "没有可借阅的档案", "nothing to lend")
    if len(out) > limit:
        raise _invalid("loan_too_many", f"一次最多借阅 {limit} 件档案，请缩小范围",
                       f"a loan lends at most {limit} records: narrow it down")
    return source, out, asked


def _rules(record_ids: list[int]) -> list[LoanRule]:
    fonds_ids = set(Record.objects.filter(pk__in=record_ids).values_list("fonds_id", flat=True))
    return [loan_rule_for(f) for f in sorted(fonds_ids)]


def _auto_allowed(*, borrower: AbstractBaseUser, record_ids: list[int], rights: set[str],
                  rules: list[LoanRule], today: date) -> bool:
    """A rule's automatic approval holds for every record (and every fonds is `auto`)."""
    if not rules or any(r.mode != ApprovalMode.AUTO for r in rules):
        return False
    by_fonds = {r.fonds_id: r for r in rules}
    if any(not rights <= set(r.auto_rights or []) | {Right.VIEW} for r in rules):
        return False
    department = actor_profile(borrower).department
    for fonds_id, dept, year in Record.objects.filter(pk__in=record_ids).values_list(
            "fonds_id", "department", "fiscal_year"):
        rule = by_fonds[fonds_id]
        if rule.auto_own_department and (not department or dept != department):
            return False
        if today.year - year > rule.auto_max_age_years:
            return False
    return True


def _validate_period(*, starts_on: date, ends_on: date, rules: list[LoanRule],
                     today: date) -> None:
    if ends_on < starts_on or ends_on < today:
        raise _invalid("loan_period", "借阅截止日须不早于起始日和今天",
                       "the loan must end on or after its start and today")
    if starts_on < today:
        raise _invalid("loan_period", "借阅起始日不能早于今天", "a loan cannot start in the past")
    longest = min((r.max_days for r in rules), default=30)
    if (ends_on - today).days + 1 > longest:
        raise _invalid("loan_period_too_long", f"借阅期限最长 {longest} 天",
                       f"a loan lasts at most {longest} days")


def _next_no(year: int) -> str:
    prefix = f"JY-{year}-"
    last = (Loan.objects.filter(loan_no__startswith=prefix).order_by("-pk")
            .values_list("loan_no", flat=True).first())
    seq = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}{seq:04d}"


def loan_request(*, actor: User, purpose: str, ends_on: date, rights: Iterable[str],
                 records: Sequence[int | str] = (), volume_id: int | None = None,
                 query: dict[str, str] | None = None, starts_on: date | None = None,
                 external: bool = False, organisation: str = "", channel: str = "web",
                 request: HttpRequest | None = None) -> Loan:
    """A request to borrow records (named, a volume's, or a search's results). It is approved
    at once where the fonds' rule allows, routed to the borrower's OA where the rule says so
    (the archivist decides when that is not possible), else waits on the archivists."""
    if not actor_roles(actor) & CONTENT_ROLES:
        raise Forbidden("loan_forbidden", "系统管理员、安全保密管理员和安全审计员不借阅档案",
                        "the system, security and audit administrators do not borrow records")
    rights_set = {str(r) for r in rights} | {Right.VIEW}
    if not rights_set <= set(Right.ALL):
        raise _invalid("loan_rights", "权限只能是 view、download、print",
                       "rights are view, download and print")
    purpose = purpose.strip()
    if not purpose:
        raise _invalid("loan_purpose", "请填写借阅目的", "the purpose is required")
    if external and not organisation.strip():
        raise _invalid("loan_organisation", "借出单位外须填写借阅单位",
                       "lending outside the unit needs the borrowing organisation")
    today = timezone.localdate()
    starts_on = starts_on or today
    with transaction.atomic():
        source, ids, asked = _resolve(records=records, volume_id=volume_id, query=query)
        rules = _rules(ids)
        _validate_period(starts_on=starts_on, ends_on=ends_on, rules=rules, today=today)
        auto = not external and _auto_allowed(borrower=actor, record_ids=ids,
                                              rights=rights_set, rules=rules, today=today)
        mode = (ApprovalMode.AUTO if auto else ApprovalMode.OA
                if any(r.mode == ApprovalMode.OA for r in rules) else ApprovalMode.ARCHIVIST)
        loan = _loan_create(actor=actor, purpose=purpose, starts_on=starts_on, ends_on=ends_on,
                            rights=sorted(rights_set), external=external, organisation=organisation,
                            source=source, asked=asked, mode=mode, record_ids=ids)
        audit_log(action="loan.request", actor=actor, request=request, object_type="loan",
                  object_id=loan.pk,
                  detail={"loan_no": loan.loan_no, "records": len(ids), "source": source,
                          "rights": sorted(rights_set), "starts_on": str(starts_on),
                          "ends_on": str(ends_on), "external": external, "mode": mode,
                          "channel": channel})
        _route(loan)
    return loan


def _loan_create(*, actor: User, record_ids: list[int], renewal_of: Loan | None = None,
                 **fields: object) -> Loan:
    year = timezone.localdate().year
    for _attempt in range(5):
        try:
            with transaction.atomic():
                loan = Loan.objects.create(
                    loan_no=_next_no(year), borrower=actor, borrower_name=_display_name(actor),
                    borrower_department=actor_profile(actor).department,
                    renewal_of=renewal_of, **fields)
                break
        except IntegrityError:  # a concurrent request took the number: take the next one
            continue
    else:
        raise Conflict("loan_no_busy", "借阅单号分配冲突，请重试", "loan number taken, try again",
                       retryable=True)
    LoanItem.objects.bulk_create([LoanItem(loan=loan, record_id=r) for r in record_ids])
    return loan


def _route(loan: Loan) -> None:
    """Auto-approve, submit to the OA, or tell the archivists (inside the caller's transaction)."""
    if loan.mode == ApprovalMode.AUTO:
        _approve(loan, roles={SYSTEM}, by=None, name="借阅规则（自动审批）", channel="auto",
                 comment="符合本全宗借阅规则的自动审批条件")
        return
    if loan.mode == ApprovalMode.OA:
        if routing.oa_submit(loan):
            return
        loan.mode = ApprovalMode.ARCHIVIST  # no OA for this borrower: the archivist decides
        loan.save(update_fields=["mode"])
    _notify(loan, APPROVERS, f"审批借阅 {loan.loan_no}",
            f"{loan.borrower_name} 申请借阅 {loan.items.count()} 件档案：{loan.purpose}",
            "requested")


def _notify(loan: Loan, roles: Iterable[str], title: str, text: str, key: str) -> None:
    users: list[User] = []
    for code in loan_fonds_codes(loan):
        users += [u for u in users_with_roles(roles=roles, fonds_code=code) if u not in users]
    oa_todo_notify(users=[u for u in users if u.pk != loan.borrower_id], title=title, text=text,
                   url=f"/loans/{loan.pk}/", dedupe_key=f"loan:{loan.pk}:{key}",
                   reason="loan")


def _use_events(loan: Loan, what: str, *, by: str = "") -> None:
    """DA/T 94 业务实体 利用 (M88) on each record lent."""
    now = timezone.now()
    text = f"借阅 {loan.loan_no}：{what}" + (f"（{by}）" if by else "")
    BusinessEvent.objects.bulk_create([
        BusinessEvent(record_id=rid, action=USE_ACTION, occurred_at=now, mandate=MANDATE,
                      agent_name=loan.borrower_name, description=text)
        for rid in loan.items.values_list("record_id", flat=True)], batch_size=500)


def _approve(loan: Loan, *, roles: set[str], by: User | None, name: str, channel: str,
             comment: str) -> None:
    step = LOAN.check("approve_external" if loan.external else "approve", state=loan.state,
                      roles=roles)
    loan.state = step.target
    loan.decided_by, loan.decided_by_name = by, name[:150]
    loan.decided_channel, loan.decided_at = channel, timezone.now()
    loan.decision_comment = comment[:500]
    loan.save()
    if loan.state == LoanState.ACTIVE:
        _activate(loan)
    else:
        _notify(loan, HEADS, f"审批借出单位外 {loan.loan_no}",
                f"{loan.borrower_name} 为 {loan.organisation} 借阅 {loan.items.count()} 件档案，"
                "须单位负责人或档案机构负责人批准（《会计档案管理办法》第十三条）", "approved")


def _activate(loan: Loan) -> None:
    """The loan is in force: records lent (or, a renewal, the loan it renews extended)."""
    loan.activated_at = timezone.now()
    loan.save(update_fields=["activated_at"])
    if loan.renewal_of_id is None:
        _use_events(loan, "批准", by=loan.second_by_name or loan.decided_by_name)
        return
    parent = Loan.objects.select_for_update().get(pk=loan.renewal_of_id)
    if parent.state != LoanState.ACTIVE or parent.ends_on < timezone.localdate():
        raise Conflict("loan_ended", f"原借阅单 {parent.loan_no} 已结束，不能续借",
                       f"loan {parent.loan_no} has ended and cannot be renewed")
    parent.ends_on, parent.reminded_at = max(parent.ends_on, loan.ends_on), None
    parent.save(update_fields=["ends_on", "reminded_at"])
    step = LOAN.check("merge", state=loan.state, roles={SYSTEM})
    loan.state = step.target
    loan.save(update_fields=["state"])
    _use_events(parent, f"续借至 {parent.ends_on}（{loan.loan_no}）", by=loan.decided_by_name)


def loan_decide(*, loan_id: int, approve: bool, actor: User | None = None,
                approver_name: str = "", channel: str = "web", comment: str = "",
                instance_id: str = "", request: HttpRequest | None = None) -> Loan:
    """Approve or reject a loan: by an archivist (or, lending outside the unit approved once,
    the head's second approval), or (channel "oa", no actor) by the OA person `approver_name`
    whose approval came back through the connectors."""
    with transaction.atomic():
        loan = _loan_for_update(loan_id)
        if channel == "oa":
            if loan.mode != ApprovalMode.OA or loan.state != LoanState.REQUESTED:
                raise Conflict("loan_not_in_oa", f"借阅单 {loan.loan_no} 不在 OA 审批中",
                               f"loan {loan.loan_no} is not waiting on an OA approval")
            roles, name = {OA}, approver_name or "OA"
            loan.oa_instance_id = instance_id[:100] or loan.oa_instance_id
        else:
            if actor is None:
                raise Forbidden("loan_forbidden", "须由审批人办理", "an approver is required")
            if actor.pk == loan.borrower_id:
                raise Forbidden("loan_own", "不能审批自己的借阅申请",
                                "nobody decides on their own loan")
            roles, name = loan_roles(actor, loan), _display_name(actor)
        if not approve:
            step = LOAN.check("reject", state=loan.state, roles=roles)
            if loan.state == LoanState.APPROVED:
                loan.second_by, loan.second_by_name = actor, name[:150]
                loan.second_at, loan.second_comment = timezone.now(), comment[:500]
            else:
                loan.decided_by, loan.decided_by_name = actor, name[:150]
                loan.decided_channel, loan.decided_at = channel, timezone.now()
                loan.decision_comment = comment[:500]
            loan.state = step.target
            loan.save()
        elif loan.state == LoanState.APPROVED:
            step = LOAN.check("confirm", state=loan.state, roles=roles)
            if actor is not None and actor.pk == loan.decided_by_id:
                raise Forbidden("loan_second_same_person", "借出单位外的第二道审批须由另一人办理",
                                "the second approval of lending outside the unit is another "
                                "person's")
            loan.second_by, loan.second_by_name = actor, name[:150]
            loan.second_at, loan.second_comment = timezone.now(), comment[:500]
            loan.state = step.target
            loan.save()
            _activate(loan)
        else:
            _approve(loan, roles=roles, by=actor, name=name, channel=channel, comment=comment)
        audit_log(action="loan.decide", actor=actor, request=request, object_type="loan",
                  object_id=loan.pk, actor_name=None if actor else f"oa:{name}"[:150],
                  detail={"loan_no": loan.loan_no, "approved": approve, "state": loan.state,
                          "channel": channel, "approver": name, "comment": comment[:500],
                          "instance_id": instance_id})
        oa_todo_notify(users=[loan.borrower], title=f"借阅 {loan.loan_no}："
                       f"{LOAN.state_label(loan.state)}", text=comment or loan.purpose,
                       url=f"/loans/{loan.pk}/", dedupe_key=f"loan:{loan.pk}:{loan.state}",
                       reason="loan", todo=False)  # news, not a task
    return loan


def loan_oa_failed(*, loan_id: int, error: str) -> Loan:
    """The borrower's OA could not take the approval (it refused the request for good): the
    request goes to the archivists, who are told why."""
    with transaction.atomic():
        loan = _loan_for_update(loan_id)
        if loan.state != LoanState.REQUESTED or loan.mode != ApprovalMode.OA:
            return loan
        loan.mode = ApprovalMode.ARCHIVIST
        loan.save(update_fields=["mode"])
        audit_log(action="loan.oa_failed", object_type="loan", object_id=str(loan.pk),
                  actor_name="system", outcome="failure",
                  detail={"loan_no": loan.loan_no, "error": error[:500]})
        _notify(loan, APPROVERS, f"审批借阅 {loan.loan_no}",
                f"OA 审批未能发起（{error[:200]}），请在档案系统中审批：{loan.borrower_name} 申请借阅 "
                f"{loan.items.count()} 件档案：{loan.purpose}", "oa_failed")
    return loan


def loan_cancel(*, actor: User, loan_id: int, request: HttpRequest | None = None) -> Loan:
    """The borrower withdraws a request not yet decided."""
    with transaction.atomic():
        loan = _loan_for_update(loan_id)
        step = LOAN.check("cancel", state=loan.state, roles=loan_roles(actor, loan))
        loan.state = step.target
        loan.save(update_fields=["state"])
        audit_log(action="loan.cancel", actor=actor, request=request, object_type="loan",
                  object_id=loan.pk, detail={"loan_no": loan.loan_no})
    return loan


def loan_return(*, actor: User, loan_id: int, request: HttpRequest | None = None) -> Loan:
    """The borrower (or an archivist) ends the loan early: the records leave their view."""
    with transaction.atomic():
        loan = _loan_for_update(loan_id)
        step = LOAN.check("return", state=loan.state, roles=loan_roles(actor, loan))
        loan.state, loan.returned_at = step.target, timezone.now()
        loan.save(update_fields=["state", "returned_at"])
        _use_events(loan, "归还", by=_display_name(actor))
        audit_log(action="loan.return", actor=actor, request=request, object_type="loan",
                  object_id=loan.pk, detail={"loan_no": loan.loan_no})
    return loan


def loan_renew(*, actor: User, loan_id: int, ends_on: date, purpose: str = "",
               request: HttpRequest | None = None) -> Loan:
    """A renewal: a new request for the same records and rights until `ends_on`, approved the
    way a request is; approved, it extends the loan."""
    with transaction.atomic():
        parent = _loan_for_update(loan_id)
        if "borrower" not in loan_roles(actor, parent) or parent.is_renewal:
            raise Forbidden("loan_renew_forbidden", "只有借阅人可以续借自己的借阅单",
                            "only the borrower renews their loan")
        today = timezone.localdate()
        if parent.state != LoanState.ACTIVE or parent.ends_on < today:
            raise Conflict("loan_not_active", f"借阅单 {parent.loan_no} 不在借阅中，不能续借",
                           f"loan {parent.loan_no} is not active and cannot be renewed")
        if ends_on <= parent.ends_on:
            raise _invalid("loan_renew_until", "续借截止日须晚于原截止日",
                           "a renewal must end after the loan does")
        if parent.renewals.filter(state__in=(LoanState.REQUESTED, LoanState.APPROVED)).exists():
            raise Conflict("loan_renewal_open", "已有一份续借申请在审批中",
                           "a renewal is already waiting for approval")
        ids = list(parent.items.values_list("record_id", flat=True))
        rules = _rules(ids)
        _validate_period(starts_on=today, ends_on=ends_on, rules=rules, today=today)
        rights = set(parent.rights)
        auto = not parent.external and _auto_allowed(borrower=actor, record_ids=ids,
                                                     rights=rights, rules=rules, today=today)
        mode = (ApprovalMode.AUTO if auto else ApprovalMode.OA
                if any(r.mode == ApprovalMode.OA for r in rules) else ApprovalMode.ARCHIVIST)
        loan = _loan_create(actor=actor, record_ids=ids, renewal_of=parent,
                            purpose=(purpose.strip() or parent.purpose)[:500],
                            starts_on=parent.starts_on, ends_on=ends_on,
                            rights=sorted(rights), external=parent.external,
                            organisation=parent.organisation, source=parent.source,
                            asked={"renewal_of": parent.loan_no}, mode=mode)
        audit_log(action="loan.renew", actor=actor, request=request, object_type="loan",
                  object_id=loan.pk, detail={"loan_no": loan.loan_no,
                                             "renews": parent.loan_no, "ends_on": str(ends_on),
                                             "mode": mode})
        _route(loan)
    return loan


def loans_expire(*, today: date | None = None) -> list[Loan]:
    """Daily: end the active loans whose period has ended (the grants ended already, at read
    time: this writes the state, the 利用 events and the audit event)."""
    today = today or timezone.localdate()
    done = []
    for pk in list(loans_past_end(today=today).values_list("pk", flat=True)):
        with transaction.atomic():
            loan = _loan_for_update(pk)
            if loan.state != LoanState.ACTIVE or loan.ends_on >= today:
                continue
            step = LOAN.check("expire", state=loan.state, roles={SYSTEM})
            loan.state, loan.expired_at = step.target, timezone.now()
            loan.save(update_fields=["state", "expired_at"])
            _use_events(loan, "到期")
            audit_log(action="loan.expire", object_type="loan", object_id=loan.pk,
                      actor_name="kjda:loans", detail={"loan_no": loan.loan_no,
                                                       "ends_on": str(loan.ends_on)})
            done.append(loan)
    return done


def loans_remind(*, today: date | None = None) -> list[Loan]:
    """Daily: tell each borrower whose loan ends tomorrow (OA to-do where they have an OA; the
    dashboard shows it too), once per end date."""
    today = today or timezone.localdate()
    done = []
    for pk in list(loans_due_reminder(on=today + timedelta(days=1)).values_list("pk",
                                                                                 flat=True)):
        with transaction.atomic():
            loan = _loan_for_update(pk)
            if loan.reminded_at is not None or loan.state != LoanState.ACTIVE:
                continue
            loan.reminded_at = timezone.now()
            loan.save(update_fields=["reminded_at"])
            oa_todo_notify(users=[loan.borrower], title=f"借阅 {loan.loan_no} 明天到期",
                           text=f"借阅期限至 {loan.ends_on}，请按时归还或申请续借",
                           url=f"/loans/{loan.pk}/",
                           dedupe_key=f"loan:{loan.pk}:remind:{loan.ends_on}", reason="loan")
            audit_log(action="loan.remind", object_type="loan", object_id=loan.pk,
                      actor_name="kjda:loans", detail={"loan_no": loan.loan_no,
                                                       "ends_on": str(loan.ends_on)})
            done.append(loan)
    return done


def loan_rule_set(*, actor: User, fonds_code: str, mode: str, max_days: int = 30,
                  auto_own_department: bool = True, auto_max_age_years: int = 10,
                  auto_rights: Sequence[str] = ("view", "download"),
                  request: HttpRequest | None = None) -> LoanRule:
    """An archivist sets how a fonds in their scope lends."""
    if "archivist" not in actor_roles(actor):
        raise Forbidden("loan_rule_forbidden", "只有档案管理员可以设置借阅规则",
                        "only an archivist sets the lending rules")
    scope = actor_profile(actor).fonds
    fonds = Fonds.objects.filter(code=fonds_code).first()
    if fonds is None or (scope and fonds_code not in scope):
        raise NotFound("fonds_not_found", "全宗不存在或不在您的数据范围内",
                       "no such fonds in your scope")
    if mode not in ApprovalMode.values:
        raise _invalid("loan_rule_mode", "审批方式须为 archivist、auto 或 oa",
                       "the mode is archivist, auto or oa")
    if not 1 <= int(max_days) <= 366 or not 0 <= int(auto_max_age_years) <= 100:
        raise _invalid("loan_rule_limits", "最长借阅天数须为 1–366，自动审批年限须为 0–100",
                       "max days is 1–366 and the auto-approval age 0–100 years")
    if not set(auto_rights) <= set(Right.ALL):
        raise _invalid("loan_rights", "权限只能是 view、download、print",
                       "rights are view, download and print")
    with transaction.atomic():
        rule, _created = LoanRule.objects.update_or_create(fonds=fonds, defaults={
            "mode": mode, "max_days": int(max_days), "auto_own_department": auto_own_department,
            "auto_max_age_years": int(auto_max_age_years),
            "auto_rights": sorted(set(auto_rights)), "updated_by": actor})
        audit_log(action="loan_rule.set", actor=actor, request=request, object_type="fonds",
                  object_id=fonds.code,
                  detail={"mode": mode, "max_days": rule.max_days,
                          "auto_own_department": auto_own_department,
                          "auto_max_age_years": rule.auto_max_age_years,
                          "auto_rights": rule.auto_rights})
    return rule
