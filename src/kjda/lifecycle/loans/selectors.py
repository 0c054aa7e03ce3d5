"""Reads of loans, scoped to the acting user: a borrower reads their own loans; approvers,
heads, auditors and inspectors the loans of records in their fonds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import ExtractYear
from django.utils import timezone

from kjda.accounts.grants import Grant
from kjda.accounts.roles import Role
from kjda.accounts.selectors import Actor, actor_profile, actor_roles
from kjda.archives.models import USE_ACTION, BusinessEvent, Fonds, Record
from kjda.archives.selectors import records_visible
from kjda.errors import NotFound
from kjda.lifecycle.loans.models import Loan, LoanItem, LoanRule, LoanSource, LoanState
from kjda.lifecycle.loans.workflow import APPROVERS, BORROWER, HEADS, LOAN, OPEN_STATES

READERS = APPROVERS | HEADS | {Role.AUDITOR, Role.INSPECTOR}


def grants_of(actor: Actor) -> dict[int, Grant]:
    """The records lent to `actor` now: items of their active loans whose period has begun and
    not ended (checked here, at read time, so expiry applies before the daily job runs)."""
    if actor is None or not actor.is_authenticated:
        return {}
    today = timezone.localdate()
    rows = (LoanItem.objects.filter(loan__borrower_id=actor.pk, loan__state=LoanState.ACTIVE,
                                    loan__starts_on__lte=today, loan__ends_on__gte=today)
            .select_related("loan").only("record_id", "loan__id", "loan__loan_no",
                                         "loan__rights", "loan__ends_on", "loan__purpose",
                                         "loan__external"))
    out: dict[int, Grant] = {}
    for item in rows:
        loan = item.loan
        grant = Grant(record_id=item.record_id, loan_id=loan.pk, loan_no=loan.loan_no,
                      rights=frozenset(loan.rights), until=loan.until, purpose=loan.purpose,
                      external=loan.external)
        held = out.get(item.record_id)
        if held is None or (len(grant.rights), grant.until) > (len(held.rights), held.until):
            out[item.record_id] = grant
    return out


def _fonds_scope(actor: Actor) -> list[str]:
    return list(actor_profile(actor).fonds or [])


def _scoped(actor: Actor) -> QuerySet[Loan]:
    if actor is None or not actor.is_authenticated:
        return Loan.objects.none()
    own = Q(borrower_id=actor.pk)
    if actor_roles(actor) & READERS:
        scope = _fonds_scope(actor)
        if not scope:
            return Loan.objects.all()
        ids = LoanItem.objects.filter(record__fonds__code__in=scope).values("loan_id")
        return Loan.objects.filter(own | Q(pk__in=ids))
    return Loan.objects.filter(own)


def loan_list(*, actor: Actor, mine: bool = False, state: str = "",
              year: int | None = None) -> QuerySet[Loan]:
    qs = Loan.objects.filter(borrower_id=actor.pk) if mine and actor is not None else \
        _scoped(actor)
    if state:
        qs = qs.filter(state=state)
    if year:
        qs = qs.filter(requested_at__year=year)
    return qs.select_related("borrower").annotate(item_count=Count("items")).order_by("-id")


def loan_get(*, actor: Actor, loan_id: int) -> Loan:
    loan = _scoped(actor).select_related("borrower", "renewal_of").filter(pk=loan_id).first()
    if loan is None:
        raise NotFound("loan_not_found", "借阅单不存在", "no such loan")
    return loan


def loan_by_no(*, loan_no: str) -> Loan | None:
    """The loan a decision from the OA names (no actor: the OA callback path verified it)."""
    return Loan.objects.filter(loan_no=loan_no).first()


def loan_effective_state(loan: Loan, *, today: date | None = None) -> str:
    """An active loan whose period has ended is expired whether or not the job has run."""
    today = today or timezone.localdate()
    if loan.state == LoanState.ACTIVE and loan.ends_on < today:
        return LoanState.EXPIRED
    return loan.state


def loan_roles(actor: Actor, loan: Loan) -> set[str]:
    roles = set(actor_roles(actor))
    if actor is not None and actor.is_authenticated and loan.borrower_id == actor.pk:
        roles.add(BORROWER)
    scope = _fonds_scope(actor)
    if scope and roles & (APPROVERS | HEADS):
        codes = set(loan_fonds_codes(loan))
        if not codes <= set(scope):  # an approver decides only loans of their fonds
            roles -= APPROVERS | HEADS
    return roles


def loan_next_steps(*, actor: Actor, loan: Loan) -> list[str]:
    """The steps `actor` may take on `loan` now (buttons)."""
    roles = loan_roles(actor, loan)
    steps = [t.name for t in LOAN.allowed(state=loan.state, roles=roles)
             if t.name not in ("expire", "merge")]
    if "approve" in steps or "approve_external" in steps:
        # one button: the service picks the step (internal or external lending)
        steps = [s for s in steps if s not in ("approve", "approve_external")]
        steps.insert(0, "approve_external" if loan.external else "approve")
    if "confirm" in steps and loan.decided_by_id is not None and \
            loan.decided_by_id == getattr(actor, "pk", None):
        steps.remove("confirm")  # the second approval is another person's
    if BORROWER in roles:  # nobody decides on their own loan
        steps = [s for s in steps if s not in ("approve", "approve_external", "confirm",
                                               "reject")]
    if loan.state == LoanState.ACTIVE and BORROWER in roles and not loan.is_renewal:
        steps.append("renew")
    return steps


def loan_fonds_codes(loan: Loan) -> list[str]:
    return sorted(set(LoanItem.objects.filter(loan=loan)
                      .values_list("record__fonds__code", flat=True)))


@dataclass(frozen=True)
class ItemView:
    record_id: int
    archive_no: str  # "" where the borrower may not learn it
    title: str  # "" unless the actor may read the record
    visible: bool


def loan_item_views(*, actor: Actor, loan: Loan) -> list[ItemView]:
    """The items as `actor` may see them: title where the record is readable to them (the
    archivists, or the borrower once it is lent); otherwise a borrower sees only the archive
    numbers they named themselves, never what a volume or a query resolved to."""
    items = list(LoanItem.objects.filter(loan=loan).select_related("record")
                 .only("record_id", "record__archive_no", "record__title", "record__record_no")
                 .order_by("record__archive_no", "record_id"))
    readable = records_visible(actor=actor, ids=[i.record_id for i in items])
    reader = bool(loan_roles(actor, loan) & READERS)
    named = loan.source == LoanSource.RECORDS
    out = []
    for i in items:
        seen = i.record_id in readable or reader
        number = i.record.archive_no or str(i.record.record_no) or f"#{i.record_id}"
        out.append(ItemView(i.record_id, number if seen or named else "",
                            i.record.title if seen else "", seen))
    return out


def loan_rule_for(fonds: Fonds | int) -> LoanRule:
    """The fonds' rule, or the default (archivist, 30 days) when none was set."""
    fonds_id = fonds.pk if isinstance(fonds, Fonds) else fonds
    rule = LoanRule.objects.filter(fonds_id=fonds_id).first()
    return rule or LoanRule(fonds_id=fonds_id, auto_rights=["view", "download"])


def loan_rules(*, actor: Actor) -> list[tuple[Fonds, LoanRule]]:
    scope = _fonds_scope(actor)
    fonds = Fonds.objects.order_by("code")
    if scope:
        fonds = fonds.filter(code__in=scope)
    rules = {r.fonds_id: r for r in LoanRule.objects.all()}
    return [(f, rules.get(f.pk) or loan_rule_for(f)) for f in fonds]


def records_in_open_loan(*, record_ids: Iterable[int]) -> set[int]:
    """Which of `record_ids` are in a requested, approved or active loan (never destroyed)."""
    ids = list(record_ids)
    out: set[int] = set()
    for start in range(0, len(ids), 900):
        out |= set(LoanItem.objects.filter(record_id__in=ids[start:start + 900],
                                           loan__state__in=OPEN_STATES)
                   .values_list("record_id", flat=True))
    return out


def loans_of_record(record: Record | int) -> list[Loan]:
    rid = record.pk if isinstance(record, Record) else record
    return list(Loan.objects.filter(items__record_id=rid).order_by("-id")[:50])


def record_exists(*, record_id: int) -> bool:
    """Whether a record of that id exists and may be lent (the request-access page; it shows
    nothing but the id the link carried)."""
    return Record.objects.filter(pk=record_id, status="filed").exists()


def loans_due_reminder(*, on: date) -> QuerySet[Loan]:
    return Loan.objects.filter(state=LoanState.ACTIVE, ends_on=on, reminded_at__isnull=True)


def loans_past_end(*, today: date) -> QuerySet[Loan]:
    return Loan.objects.filter(state=LoanState.ACTIVE, ends_on__lt=today)


def loan_statistics(*, actor: Actor, year: int | None = None, top: int = 10) -> dict[str, Any]:
    """Loans by year and state (open, active, overdue, returned, expired, rejected), the
    people who used records most and the records used most (DA/T 94 利用 events), within the
    actor's fonds."""
    today = timezone.localdate()
    loans = _scoped(actor).filter(renewal_of__isnull=True)
    by_year: dict[int, dict[str, int]] = {}
    rows = (loans.annotate(y=ExtractYear("requested_at")).values("y", "state", "ends_on"))
    for row in rows:
        counts = by_year.setdefault(row["y"], {k: 0 for k in (
            "total", "open", "active", "overdue", "returned", "expired", "rejected")})
        counts["total"] += 1
        state = row["state"]
        if state in (LoanState.REQUESTED, LoanState.APPROVED):
            counts["open"] += 1
        elif state == LoanState.ACTIVE:
            counts["overdue" if row["ends_on"] < today else "active"] += 1
        elif state in (LoanState.RETURNED, LoanState.EXPIRED, LoanState.REJECTED):
            counts[state] += 1
    events = BusinessEvent.objects.filter(action=USE_ACTION)
    scope = _fonds_scope(actor)
    if scope:
        events = events.filter(record__fonds__code__in=scope)
    if year:
        events = events.filter(occurred_at__year=year)
        loans = loans.filter(requested_at__year=year)
    top_users = list(events.exclude(agent_name="").values("agent_name")
                     .annotate(n=Count("id")).order_by("-n", "agent_name")[:top])
    top_borrowers = list(loans.values("borrower_name").annotate(n=Count("id"))
                         .order_by("-n", "borrower_name")[:top])
    top_records = list(events.values("record_id", "record__archive_no", "record__title")
                       .annotate(n=Count("id")).order_by("-n", "record_id")[:top])
    return {"years": [dict(year=y, **c) for y, c in sorted(by_year.items(), reverse=True)],
            "top_users": [{"name": r["agent_name"], "count": r["n"]} for r in top_users],
            "top_borrowers": [{"name": r["borrower_name"], "count": r["n"]}
                              for r in top_borrowers],
            "top_records": [{"record_id": r["record_id"], "archive_no": r["record__archive_no"],
                             "title": r["record__title"], "count": r["n"]}
                            for r in top_records]}


def loan_register_loans(*, actor: Actor, year: int) -> QuerySet[Loan]:
    """The loans of the 借阅登记簿 of `year` (requested that year, renewals folded in)."""
    return (_scoped(actor).filter(requested_at__year=year, renewal_of__isnull=True)
            .exclude(state=LoanState.CANCELLED).select_related("borrower").order_by("loan_no"))
