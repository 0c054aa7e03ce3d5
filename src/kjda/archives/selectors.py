"""Reads of archive data. Every function takes the acting user and applies that user's scope:
there is no other way to read records, so scoping can't be forgotten."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from django.db import connection
from django.db.models import Count, Prefetch, Q, QuerySet

from kjda.accounts.roles import Perm, Role
from kjda.accounts.selectors import (
    Actor,
    ScopePart,
    actor_can,
    actor_may_file,
    actor_profile,
    actor_roles,
    record_scope_parts,
    scope_parts_q,
)
from kjda.archives.models import (
    USE_ACTION,
    BusinessEvent,
    CheckReportHistory,
    Fonds,
    Record,
    RecordFile,
    RecordStatus,
    RetentionRule,
    Volume,
)
from kjda.archives.search import Facets, search_filter
from kjda.errors import NotFound

RECENT_USES = 20


@dataclass
class RecordFilters:
    fonds: str | None = None
    category: str | None = None  # item type (retention-table name) or top category name
    fiscal_year: int | None = None
    status: str | None = None
    source_system: str | None = None
    external_id: str | None = None
    department: str | None = None
    applicant: str | None = None
    q: str | None = None
    # A condition on Record built by kjda.invoices (invoice_record_condition): records holding
    # a matching invoice. Built there so that archives doesn't import invoices (a higher layer).
    invoice: Q | None = None


def _scoped(actor: Actor) -> QuerySet[Record]:
    """The records `actor` may read."""
    return _in_scope(record_scope_parts(actor=actor))


def _in_scope(parts: list[ScopePart] | None) -> QuerySet[Record]:
    """The records inside an OR of scope parts (None: none)."""
    scope = scope_parts_q(parts)
    return Record.objects.none() if scope is None else Record.objects.filter(scope)


def record_list(*, actor: Actor, filters: RecordFilters | None = None,
                _parts: list[ScopePart] | None = None) -> QuerySet[Record]:
    f = filters or RecordFilters()
    parts = _parts if _parts is not None else record_scope_parts(actor=actor)
    qs = _in_scope(parts).select_related("fonds", "rule", "category")
    if f.fonds:
        qs = qs.filter(fonds__code=f.fonds)
    if f.category:
        qs = _category_filter(qs, f.category)
    if f.fiscal_year:
        qs = qs.filter(fiscal_year=f.fiscal_year)
    if f.status:
        qs = qs.filter(status=f.status)
    if f.source_system:
        qs = qs.filter(source_system=f.source_system)
    if f.external_id:  # exclude(…=""): the partial unique index's own condition
        qs = qs.filter(external_id=f.external_id).exclude(external_id="")
    if f.department:
        qs = qs.filter(department=f.department)
    if f.applicant:
        qs = qs.filter(applicant=f.applicant)
    if f.invoice is not None:
        qs = qs.filter(f.invoice)
    if f.q and (searched := search_filter(qs, f.q, _search_scope(parts, f))) is not None:
        return searched  # newest first, the plan driven by the index: see search_filter
    return qs.order_by("-id")


def record_ids_matching(*, filters: RecordFilters, limit: int) -> list[int]:
    """The ids of filed records matching `filters` in the whole archive, newest first, at most
    `limit`: what a loan asking for a search's results lends (kjda.lifecycle.loans). Not a
    read for anyone: the ids are lent only once approved, and never shown to the borrower."""
    parts = [ScopePart()]
    qs = record_list(actor=None, filters=replace(filters, status=RecordStatus.FILED),
                     _parts=parts)
    return list(qs.values_list("pk", flat=True)[:limit])


def _search_scope(parts: list[ScopePart] | None, f: RecordFilters) -> list[Facets] | None:
    """The actor's scope (`parts`) and `f`'s filters as index facets (an OR of conjunctions),
    when every one of them is a facet of the index; None otherwise (the search then counts
    through the join). It must say exactly what `_scoped` and record_list's filters say: the
    count relies on it."""
    if (f.category or f.status or f.source_system or f.external_id
            or f.invoice is not None):
        return None
    if parts is None:
        return []
    if any(p.record_ids is not None for p in parts):
        return None  # records lent by id are no facet of the index

    codes = {c for p in parts if p.fonds for c in p.fonds} | ({f.fonds} if f.fonds else set())
    ids: dict[str, int] = dict(Fonds.objects.filter(code__in=codes).values_list("code", "id")
                               ) if codes else {}
    out = []
    for part in parts:
        facets = _part_facets(part, ids)
        for field, value in (("fonds_ids", ids.get(f.fonds, -1) if f.fonds else None),
                             ("departments", f.department), ("applicants", f.applicant),
                             ("fiscal_years", f.fiscal_year)):
            if not value:
                continue  # record_list doesn't filter on an empty value either
            allowed = getattr(facets, field)
            narrowed: dict[str, Any] = {field: (value,) if allowed is None or value in allowed
                                        else ()}
            facets = replace(facets, **narrowed)
        out.append(facets)
    return out


def _part_facets(part: ScopePart, fonds_ids: dict[str, int]) -> Facets:
    return Facets(
        fonds_ids=None if part.fonds is None else tuple(fonds_ids[c] for c in part.fonds
                                                        if c in fonds_ids),
        departments=part.departments, applicants=part.applicants)


def retention_rule_find(*, name: str, schedule: str | None = None) -> RetentionRule | None:
    """The active retention-table row for an item name or one of its aliases (e.g. 月度财务会计报告)
    in `schedule` (附表1 "1" / 附表2 "2"); without one, 附表1's row before 附表2's."""
    rules = RetentionRule.objects.select_related("category").filter(active=True)
    if schedule:
        rules = rules.filter(schedule=schedule)
    rules = rules.order_by("schedule", "seq")
    rule = rules.filter(name=name).first()
    if rule is None:
        rule = next((r for r in rules if name in r.aliases), None)
    return rule


def _category_filter(qs: QuerySet[Record], name: str) -> QuerySet[Record]:
    rule = retention_rule_find(name=name)
    if rule is not None:
        return qs.filter(rule=rule)
    return qs.filter(category__name=name)


def record_get(*, actor: Actor, record_id: int) -> Record:
    """One record with its files and entities; outside the actor's scope it does not exist."""
    record = (
        _scoped(actor)
        .select_related("fonds", "rule", "category", "volume", "created_by")
        .prefetch_related(
            Prefetch("files", queryset=RecordFile.objects.order_by("sequence")),
            "agents", "relations",
            # Every view, download and print adds a 利用 event (issue 18): a page shows the
            # other events and the latest uses; the metadata export reads them all.
            Prefetch("business_events", to_attr="events_shown",
                     queryset=BusinessEvent.objects.exclude(action=USE_ACTION)),
            Prefetch("business_events", to_attr="uses_recent",
                     queryset=BusinessEvent.objects.filter(action=USE_ACTION)
                     .order_by("-occurred_at", "-id")[:RECENT_USES]),
        )
        .annotate(use_count=Count("business_events",
                                  filter=Q(business_events__action=USE_ACTION)))
        .filter(pk=record_id)
        .first()
    )
    if record is None:
        raise NotFound("record_not_found", f"档案 {record_id} 不存在", f"record {record_id} not found")
    return record


def record_file_get(*, actor: Actor, file_id: int) -> RecordFile:
    scope = scope_parts_q(record_scope_parts(actor=actor))
    qs = RecordFile.objects.none() if scope is None else RecordFile.objects.filter(
        record__in=Record.objects.filter(scope))
    rf = qs.select_related("record").filter(pk=file_id).first()
    if rf is None:
        raise NotFound("file_not_found", f"文件 {file_id} 不存在", f"file {file_id} not found")
    return rf


def record_find_existing(*, source_system: str, external_id: str) -> Record | None:
    """Idempotency lookup for ingest (not a user read: no scope, returns the row or None)."""
    if not external_id:
        return None
    # The id first (one narrow query: a new record, the common case, ends here), then the row.
    with connection.cursor() as cur:
        # NOT (…= ''): the partial unique index's own condition, so SQLite's planner uses it
        cur.execute("SELECT id FROM archives_record WHERE source_system = %s AND external_id = %s "
                    "AND NOT (external_id = '') LIMIT 1", [source_system, external_id])
        row = cur.fetchone()
    return None if row is None else Record.objects.filter(pk=row[0]).first()


def fonds_list(*, actor: Actor) -> QuerySet[Fonds]:
    """The fonds the actor works in: those their scope names (all when it names none), for
    anyone who reads records, configures fonds or grants scopes."""
    if not any(actor_can(actor, p) for p in (Perm.RECORD_READ, Perm.FONDS_CONFIGURE,
                                            Perm.USER_MANAGE)):
        return Fonds.objects.none()
    codes = actor_profile(actor).fonds
    return Fonds.objects.filter(code__in=codes) if codes else Fonds.objects.all()


def volume_get(*, actor: Actor, volume_id: int) -> Volume | None:
    """A volume in one of the actor's fonds, or None."""
    return Volume.objects.filter(pk=volume_id, fonds__in=fonds_list(actor=actor)).first()


def retention_rule_list(*, schedule: str | None = "1") -> QuerySet[RetentionRule]:
    """The rows of one 保管期限表 (附表1 by default; None: both), local rules included."""
    qs = RetentionRule.objects.select_related("category", "extends").filter(active=True)
    if schedule:
        qs = qs.filter(schedule=schedule)
    return qs.order_by("schedule", "seq")


def record_counts_by_year_and_category(*, actor: Actor) -> list[Mapping[str, Any]]:
    return list(
        _scoped(actor).values("fiscal_year", "category__name")
        .annotate(count=Count("id")).order_by("-fiscal_year", "category__form_no")
    )


def record_counts_by_status(*, actor: Actor) -> dict[str, int]:
    rows = _scoped(actor).values("status").annotate(count=Count("id"))
    return {r["status"]: r["count"] for r in rows}


# Ingest runs these for every record received; plain SQL keeps them at a few µs each (the ORM
# took ~0.3 ms per query to build).

def record_filed_with_document_no(*, fonds_id: int, rule_id: int, fiscal_year: int,
                                  voucher_type: str, document_no: str) -> int | None:
    """Id of a filed record with the same document number in the same fonds, kind and year
    (not a user read: the check report names it for each reader, see check_report_for)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT id FROM archives_record WHERE document_no = %s AND fonds_id = %s "
            "AND rule_id = %s AND fiscal_year = %s AND voucher_type = %s AND status = %s "
            "AND archive_no IS NOT NULL LIMIT 1",
            [document_no, fonds_id, rule_id, fiscal_year, voucher_type, RecordStatus.FILED])
        row = cur.fetchone()
    return row[0] if row else None


def record_ids_holding_blobs(*, sha256s: list[str], limit: int = 10) -> list[int]:
    """Records (at most `limit`) that already hold a file with one of these contents."""
    if not sha256s:
        return []
    marks = ", ".join(["%s"] * len(sha256s))
    with connection.cursor() as cur:
        cur.execute(f"SELECT DISTINCT record_id FROM archives_recordfile WHERE blob_id IN ({marks}) "  # noqa: S608 - placeholders only
                    f"ORDER BY record_id LIMIT %s", [*sha256s, limit])
        return [r[0] for r in cur.fetchall()]


def item_no_taken(*, fonds_id: int, class_code: str, volume_no: int | None, item_no: int) -> bool:
    """Whether an item number is held in its class (and volume), for the continuity check."""
    volume = "volume_no IS NULL" if volume_no is None else "volume_no = %s"
    params: list[int | str] = [fonds_id, class_code, item_no]
    if volume_no is not None:
        params.append(volume_no)
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM archives_record WHERE fonds_id = %s AND class_code = %s "  # noqa: S608 - fixed SQL
                    f"AND item_no = %s AND {volume} LIMIT 1", params)
        return cur.fetchone() is not None


# --- what a record says about other records (issue 15 item 9) --------------------------------
# A record in the actor's scope may point at records outside it (a duplicate claim, a relation,
# a file with the same content). Those are named only as this phrase: no id, 档号 or title,
# as `POST /api/v1/invoices/check` answers `{"visible": false}`.
OUT_OF_SCOPE_ZH = "您权限范围外的一条记录"
OUT_OF_SCOPE_EN = "a record outside your scope"
OUT_OF_SCOPE = f"{OUT_OF_SCOPE_ZH} / {OUT_OF_SCOPE_EN}"


def actor_sees_all(*, actor: Actor) -> bool:
    """Whether the actor's scope is the whole archive (nothing is ever hidden from them)."""
    return record_scope_parts(actor=actor) == [ScopePart()]


def records_visible(*, actor: Actor, ids: Iterable[int | str | None]) -> dict[int, Record]:
    """Of the records `ids`, those the actor may read, by id (one query; only the columns that
    name a record: id, 档号, title, status)."""
    wanted = {int(i) for i in ids if i is not None}
    if not wanted:
        return {}
    rows = _scoped(actor).filter(pk__in=wanted).only("id", "archive_no", "title", "status",
                                                     "record_no")
    return {r.pk: r for r in rows}


def record_relations_for(*, actor: Actor, record: Record) -> list[dict[str, Any]]:
    """The record's relations (实体关系) as the actor may see them: a target outside their
    scope keeps its relation type but is named only as "a record outside your scope"."""
    relations = list(record.relations.all())
    visible = records_visible(actor=actor, ids=[r.target_id for r in relations])
    out = []
    for r in relations:
        row: dict[str, Any] = {"entity_identifier": r.entity_identifier, "relation_type": r.relation_type,
               "relation": r.relation, "description": r.description, "target_id": r.target_id,
               "target_visible": True}
        if r.target_id is not None and r.target_id not in visible:
            row.update(entity_identifier=OUT_OF_SCOPE, description=OUT_OF_SCOPE, target_id=None,
                       target_visible=False)
        out.append(row)
    return out


def record_reference_for(*, actor: Actor, record_id: int | None,
                         visible: dict[int, Record] | None = None) -> dict[str, Any] | None:
    """Another record as the actor may see it: `{visible, record_id, archive_no, title,
    status}` in scope, `{"visible": False}` outside it (the shape of /invoices/check)."""
    if record_id is None:
        return None
    if visible is None:
        visible = records_visible(actor=actor, ids=[record_id])
    r = visible.get(record_id)
    if r is None:
        return {"visible": False}
    return {"visible": True, "record_id": r.pk, "archive_no": r.archive_no, "title": r.title,
            "status": r.status}


# Who may put a pending record right (issue 17 item 1): a "filer" may do everything (files,
# metadata, re-check, withdraw); the record's own "applicant" (an employee reaching it from the
# OA notice) may add or replace files and re-check, no more: the metadata came from the approved
# OA form (changing it would no longer match what was approved) and whether a claim is dropped
# is the finance side's decision.
CORRECTOR_FILER, CORRECTOR_APPLICANT = "filer", "applicant"


def record_corrector(*, actor: Actor, record: Record) -> str | None:
    """"filer", "applicant" or None: what `actor` may do to put `record` right."""
    if actor is None or not actor.is_authenticated:
        return None
    if actor_can(actor, Perm.RECORD_INGEST) and actor_may_file(
            actor, fonds_code=record.fonds.code, department=record.department):
        return CORRECTOR_FILER
    roles = actor_roles(actor)
    if Role.EMPLOYEE in roles and record.applicant:
        profile = actor_profile(actor)
        names = {n for n in (profile.person_name, getattr(actor, "get_full_name", str)(),
                             actor.get_username()) if n}
        if record.applicant in names:
            return CORRECTOR_APPLICANT
    return None


def record_archivist_may_correct(*, actor: Actor, record: Record) -> bool:
    """A filed record's descriptive metadata is corrected by an archivist of its scope."""
    return (actor is not None and Role.ARCHIVIST in actor_roles(actor)
            and actor_may_file(actor, fonds_code=record.fonds.code,
                               department=record.department))


def record_past_reports(*, record: Record) -> list[CheckReportHistory]:
    """The check reports a re-check replaced, oldest first (the record was read in scope)."""
    return list(CheckReportHistory.objects.filter(record=record).order_by("superseded_at", "id"))


def record_files_active(*, record: Record) -> list[RecordFile]:
    """The files that make up the item now (not superseded), in sequence order (the record
    was read in scope)."""
    return list(RecordFile.objects.filter(record_id=record.pk, superseded_at__isnull=True)
                .order_by("sequence"))


def record_renditions_of(*, file: RecordFile) -> list[RecordFile]:
    """The renditions made of a file that are still part of its item."""
    return list(RecordFile.objects.filter(derived_from=file, superseded_at__isnull=True))


def records_to_put_right(*, actor: Actor, limit: int = 20) -> list[Record]:
    """Pending records `actor` may put right (a filer's in scope, an applicant's own), oldest
    first: the to-dos of the dashboard."""
    if actor is None or not actor.is_authenticated:
        return []
    rows = (_scoped(actor).filter(status=RecordStatus.PENDING).select_related("fonds")
            .order_by("created_at", "id")[:limit])
    return [r for r in rows if record_corrector(actor=actor, record=r) is not None]
