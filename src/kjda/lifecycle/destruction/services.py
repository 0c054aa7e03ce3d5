"""Holds (79号令 Art.19) and destruction (Art.18): every state change is one audited service.

Destruction batch: draft → under_appraisal (submit) → signed (the fifth of five signatures) →
executing (once archives, accounting and IT have witnessed) → destroyed (the task worker, item by
item), or cancelled. What may be destroyed is checked again at every step, since a hold may be
placed at any time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, cast

from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_tasks import task

from kjda.accounts.selectors import Actor, actor_roles, users_with_roles
from kjda.accounts.services import system_user
from kjda.archives.models import Record, RecordFile, RecordStatus
from kjda.archives.selectors import record_list, records_visible, volume_get
from kjda.archives.services import record_destroy
from kjda.audit.services import audit_log
from kjda.errors import Conflict, DomainError, Forbidden
from kjda.lifecycle.destruction import selectors
from kjda.lifecycle.destruction.flow import (
    ARCHIVES_SIDE,
    DESTRUCTION,
    SIGNATORY_ROLES,
    WITNESS_ROLES,
)
from kjda.lifecycle.destruction.models import (
    DestructionBatch,
    DestructionItem,
    DestructionSignature,
    DestructionState,
    DestructionWitness,
    Hold,
    HoldKind,
    HoldState,
    ItemState,
    Signatory,
    Witness,
)
from kjda.lifecycle.registers import register_digest, register_file, register_pdf
from kjda.lifecycle.todos import oa_todo_notify
from kjda.storage.services import blob_destroy

if TYPE_CHECKING:
    from django.contrib.auth.models import User

HOLD_PLACERS = ARCHIVES_SIDE | {"accounting_head", "head", "auditor"}
RUNNER = "kjda:destruction"


def _user(actor: Actor) -> User:
    """The acting person (every step here is someone's decision, never anonymous)."""
    if actor is None or not actor.is_authenticated:
        raise Forbidden("login_required", "请先登录", "sign in first")
    return cast("User", actor)


def _next_number(model: type[Hold] | type[DestructionBatch], prefix: str) -> str:
    year = timezone.localdate().year
    stem = f"{prefix}-{year}-"
    last = (model.objects.select_for_update().filter(number__startswith=stem)
            .order_by("-number").values_list("number", flat=True).first())
    n = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{stem}{n:04d}"


def _users_with_roles(roles: frozenset[str]) -> list[User]:
    return users_with_roles(roles=roles)


# ---- holds -----------------------------------------------------------------------------------

def hold_place(*, actor: Actor, request: HttpRequest | None = None, kind: str, reason: str,
               owner: str = "", review_on: date,
               record_ids: Sequence[int] = (), volume_ids: Sequence[int] = (),
               query: dict[str, Any] | None = None) -> Hold:
    """Place a hold (Art.19) on records, volumes or a query, with its reason, owner and review
    date. A query is resolved to the records it matches now (kept with the hold) and matched
    again against records filed later while the hold is active. Audited (`hold.place`)."""
    user = _user(actor)
    owner_user = user
    if owner:  # the person who follows the matter up (its review date comes to them)
        found = get_user_model().objects.filter(username=owner, is_active=True).first()
        if found is None:
            raise DomainError("owner_unknown", f"负责人不存在：{owner}", f"unknown owner: {owner}")
        owner_user = found
    if not actor_roles(actor) & HOLD_PLACERS:
        raise Forbidden("hold_forbidden", "只有档案、会计机构负责人、审计或单位负责人可以设置保全",
                        "only the archives or accounting side, audit or the head may place a hold")
    if kind not in HoldKind.values:
        raise DomainError("hold_kind_unknown", f"未知的保全类型：{kind}", f"unknown hold kind: {kind}")
    if not reason.strip():
        raise DomainError("reason_required", "请填写保全原因", "a hold needs a reason")
    if review_on < timezone.localdate():
        raise DomainError("review_date_past", "复核日期不能早于今天",
                          "the review date cannot be in the past")
    query = {k: v for k, v in (query or {}).items()
             if k in selectors.HOLD_QUERY_KEYS and v not in (None, "")}
    if not (record_ids or volume_ids or query):
        raise DomainError("hold_empty", "请指定要保全的档案、案卷或查询条件",
                          "name the records, volumes or a query to hold")
    visible = records_visible(actor=actor, ids=record_ids)
    missing = sorted({int(i) for i in record_ids} - set(visible))
    if missing:
        raise DomainError("record_not_found", f"档案不存在或不在您的权限范围：{missing}",
                          f"records not found or outside your scope: {missing}", status=404)
    volumes = []
    for vid in volume_ids:
        volume = volume_get(actor=actor, volume_id=int(vid))
        if volume is None:
            raise DomainError("volume_not_found", f"案卷 {vid} 不存在", f"volume {vid} not found",
                              status=404)
        volumes.append(volume)
    with transaction.atomic():
        hold = Hold.objects.create(
            number=_next_number(Hold, "BQ"), kind=kind, reason=reason.strip(),
            owner=owner_user, review_on=review_on, query=query, created_by=user)
        matched: list[int] = []
        if query:
            matched = list(record_list(actor=actor).filter(
                selectors.hold_query_q(query)).values_list("pk", flat=True))
        hold.records.set(sorted(set(visible) | set(matched)))
        hold.volumes.set(volumes)
        audit_log(action="hold.place", actor=actor, request=request, object_type="hold",
                  object_id=hold.pk,
                  detail={"number": hold.number, "kind": kind, "reason": hold.reason,
                          "owner": hold.owner.get_username(), "review_on": review_on.isoformat(),
                          "records": sorted(visible), "volumes": [v.pk for v in volumes],
                          "query": query, "query_matched": len(matched)})
    return hold


def hold_release(*, actor: Actor, request: HttpRequest | None = None, hold: Hold,
                 reason: str) -> Hold:
    """Release a hold: a decision with its reason; the hold stays with its history. Audited
    (`hold.release`)."""
    if not (actor_roles(actor) & HOLD_PLACERS or actor == hold.owner):
        raise Forbidden("hold_forbidden", "您不能解除该保全", "you may not release this hold")
    if not reason.strip():
        raise DomainError("reason_required", "请填写解除原因", "a release needs a reason")
    with transaction.atomic():
        hold = Hold.objects.select_for_update().get(pk=hold.pk)
        if hold.state != HoldState.ACTIVE:
            raise Conflict("hold_released", "该保全已解除", "the hold is already released")
        hold.state = HoldState.RELEASED
        hold.released_at = timezone.now()
        hold.released_by = _user(actor)
        hold.release_reason = reason.strip()
        hold.save(update_fields=["state", "released_at", "released_by", "release_reason"])
        audit_log(action="hold.release", actor=actor, request=request, object_type="hold",
                  object_id=hold.pk, detail={"number": hold.number, "reason": hold.release_reason})
    return hold


# ---- destruction -----------------------------------------------------------------------------

def _refuse_if_any(record_ids: Sequence[int], *, batch_id: int | None = None) -> None:
    refusals = selectors.destruction_refusals(record_ids=record_ids, batch_id=batch_id)
    if refusals:
        first = refusals[0]
        more = f" 等 {len(refusals)} 件" if len(refusals) > 1 else ""
        more_en = f" and {len(refusals) - 1} more" if len(refusals) > 1 else ""
        raise DomainError("items_refused", f"以下档案不能销毁：{first.zh}{more}",
                          f"these records cannot be destroyed: {first.en}{more_en}",
                          detail={"refused": [r.as_dict() for r in refusals]}, status=409)


def destruction_create(*, actor: Actor, request: HttpRequest | None = None,
                       record_ids: Sequence[int] = (), volume_ids: Sequence[int] = (),
                       title: str = "") -> DestructionBatch:
    """A draft destruction batch of records (and the records of volumes) whose term has ended.
    Refused as a whole, with the reason for each record, if any may not be destroyed. Audited
    (`destruction.create`)."""
    DESTRUCTION.check("submit", state=DestructionState.DRAFT, roles=actor_roles(actor))
    ids = {int(i) for i in record_ids}
    for vid in volume_ids:
        volume = volume_get(actor=actor, volume_id=int(vid))
        if volume is None:
            raise DomainError("volume_not_found", f"案卷 {vid} 不存在", f"volume {vid} not found",
                              status=404)
        ids |= set(volume.records.values_list("pk", flat=True))
    if not ids:
        raise DomainError("items_required", "请选择要销毁的档案", "select the records to destroy")
    visible = records_visible(actor=actor, ids=ids)
    missing = sorted(ids - set(visible))
    if missing:
        raise DomainError("record_not_found", f"档案不存在或不在您的权限范围：{missing[:20]}",
                          f"records not found or outside your scope: {missing[:20]}", status=404)
    fonds_ids = set(Record.objects.filter(pk__in=ids).values_list("fonds_id", flat=True)[:2])
    if len(fonds_ids) != 1:
        raise DomainError("one_fonds", "一个销毁清册只含一个全宗的档案",
                          "a destruction batch holds records of one fonds")
    ordered = sorted(ids)
    with transaction.atomic():
        _refuse_if_any(ordered)
        batch = DestructionBatch.objects.create(
            number=_next_number(DestructionBatch, "XH"), fonds_id=fonds_ids.pop(),
            title=title[:200], created_by=_user(actor))
        DestructionItem.objects.bulk_create(
            [DestructionItem(batch=batch, record_id=rid) for rid in ordered], batch_size=1000)
        audit_log(action="destruction.create", actor=actor, request=request,
                  object_type="destruction", object_id=batch.pk,
                  detail={"number": batch.number, "records": len(ordered),
                          "volumes": [int(v) for v in volume_ids]})
    return batch


def _locked(batch: DestructionBatch) -> DestructionBatch:
    return DestructionBatch.objects.select_for_update().select_related("fonds").get(pk=batch.pk)


def _digest(batch: DestructionBatch) -> str:
    on = timezone.localtime(batch.submitted_at).date() if batch.submitted_at else None
    return register_digest(selectors.register_rows(batch, on=on),
                           columns=selectors.REGISTER_COLUMNS)


def destruction_submit(*, actor: Actor, request: HttpRequest | None = None,
                       batch: DestructionBatch) -> DestructionBatch:
    """Put the 销毁清册 to the five signatories. Audited (`destruction.submit`)."""
    with transaction.atomic():
        batch = _locked(batch)
        step = DESTRUCTION.check("submit", state=batch.state, roles=actor_roles(actor))
        _refuse_if_any(selectors.batch_record_ids(batch), batch_id=batch.pk)
        batch.state, batch.submitted_at = step.target, timezone.now()
        batch.save(update_fields=["state", "submitted_at"])
        audit_log(action="destruction.submit", actor=actor, request=request,
                  object_type="destruction", object_id=batch.pk,
                  detail={"number": batch.number, "digest": _digest(batch)})
        oa_todo_notify(users=_users_with_roles(frozenset().union(*SIGNATORY_ROLES.values())),
                       title=f"签署会计档案销毁清册 {batch.number}",
                       text="请审阅销毁清册并签署意见", url=f"/destructions/{batch.pk}/",
                       dedupe_key=f"destruction:{batch.pk}:sign")
    return batch


def destruction_sign(*, actor: Actor, request: HttpRequest | None = None,
                     batch: DestructionBatch, capacity: str, opinion: str) -> DestructionBatch:
    """One of the five signs the register with their opinion (Art.18 (2)); a person signs once,
    in one capacity. After the fifth, the batch is `signed`. Audited (`destruction.sign`)."""
    if capacity not in Signatory.values:
        raise DomainError("capacity_unknown", f"未知的签署身份：{capacity}",
                          f"unknown signatory capacity: {capacity}")
    if not opinion.strip():
        raise DomainError("opinion_required", "请填写签署意见", "a signature needs an opinion")
    roles, user = actor_roles(actor), _user(actor)
    with transaction.atomic():
        batch = _locked(batch)
        step = DESTRUCTION.check("sign", state=batch.state, roles=roles)
        if not roles & SIGNATORY_ROLES[capacity]:
            label = Signatory(capacity).label
            raise Forbidden("capacity_forbidden", f"您不能以“{label}”身份签署",
                            f"you may not sign as {capacity}")
        if batch.signatures.filter(capacity=capacity).exists():
            raise Conflict("already_signed", f"“{Signatory(capacity).label}”已签署",
                           f"{capacity} has already signed")
        if batch.signatures.filter(user_id=user.pk).exists():
            raise Conflict("signer_once", "同一人只能以一种身份签署一次",
                           "a person signs once, in one capacity")
        _refuse_if_any(selectors.batch_record_ids(batch), batch_id=batch.pk)
        digest = _digest(batch)
        sig = DestructionSignature.objects.create(
            batch=batch, capacity=capacity, user=user, opinion=opinion.strip(),
            signed_at=timezone.now(), digest=digest)
        complete = batch.signatures.count() == len(Signatory.values)
        if complete:
            batch.state, batch.signed_at = step.target, timezone.now()
            batch.save(update_fields=["state", "signed_at"])
        audit_log(action="destruction.sign", actor=actor, request=request,
                  object_type="destruction", object_id=batch.pk,
                  detail={"number": batch.number, "capacity": capacity, "opinion": sig.opinion,
                          "digest": digest, "complete": complete})
        if complete:
            oa_todo_notify(users=_users_with_roles(frozenset().union(*WITNESS_ROLES.values())),
                           title=f"监销会计档案销毁清册 {batch.number}",
                           text="请核对销毁清册所列档案并确认监销",
                           url=f"/destructions/{batch.pk}/",
                           dedupe_key=f"destruction:{batch.pk}:witness")
    return batch


def destruction_witness(*, actor: Actor, request: HttpRequest | None = None,
                        batch: DestructionBatch, capacity: str, note: str = "") -> DestructionBatch:
    """A witness (监销) of the archives, accounting or IT side confirms the items against the
    register (Art.18 (3)(4)). Audited (`destruction.witness`)."""
    if capacity not in Witness.values:
        raise DomainError("capacity_unknown", f"未知的监销身份：{capacity}",
                          f"unknown witness capacity: {capacity}")
    roles, user = actor_roles(actor), _user(actor)
    with transaction.atomic():
        batch = _locked(batch)
        DESTRUCTION.check("witness", state=batch.state, roles=roles)
        if not roles & WITNESS_ROLES[capacity]:
            raise Forbidden("capacity_forbidden", f"您不能以“{Witness(capacity).label}”身份监销",
                            f"you may not witness as {capacity}")
        if batch.witnesses.filter(capacity=capacity).exists():
            raise Conflict("already_witnessed", f"“{Witness(capacity).label}”已确认",
                           f"{capacity} has already confirmed")
        if batch.witnesses.filter(user_id=user.pk).exists():
            raise Conflict("witness_once", "同一人只能以一种身份监销",
                           "a person witnesses once, in one capacity")
        DestructionWitness.objects.create(batch=batch, capacity=capacity, user=user,
                                          note=note.strip(), confirmed_at=timezone.now())
        complete = batch.witnesses.count() == len(Witness.values)
        audit_log(action="destruction.witness", actor=actor, request=request,
                  object_type="destruction", object_id=batch.pk,
                  detail={"number": batch.number, "capacity": capacity, "note": note,
                          "complete": complete})
        if complete:
            oa_todo_notify(users=_users_with_roles(ARCHIVES_SIDE),
                           title=f"执行销毁 {batch.number}", text="签署与监销已齐，可以执行销毁",
                           url=f"/destructions/{batch.pk}/",
                           dedupe_key=f"destruction:{batch.pk}:execute")
    return batch


def destruction_execute(*, actor: Actor, request: HttpRequest | None = None,
                        batch: DestructionBatch) -> DestructionBatch:
    """Start the destruction once five have signed and three have witnessed; the task worker
    removes the bytes item by item (destruction_run). Audited (`destruction.execute`)."""
    with transaction.atomic():
        batch = _locked(batch)
        step = DESTRUCTION.check("execute", state=batch.state, roles=actor_roles(actor))
        missing = sorted(set(Witness.values) - set(batch.witnesses.values_list("capacity",
                                                                                flat=True)))
        if missing:
            labels = "、".join(Witness(m).label for m in missing)
            raise Conflict("witnesses_missing", f"尚待监销确认：{labels}",
                           f"waiting for the witnesses: {', '.join(missing)}")
        _refuse_if_any(selectors.batch_record_ids(batch), batch_id=batch.pk)
        batch.state, batch.execution_started_at = step.target, timezone.now()
        batch.save(update_fields=["state", "execution_started_at"])
        audit_log(action="destruction.execute", actor=actor, request=request,
                  object_type="destruction", object_id=batch.pk,
                  detail={"number": batch.number, "items": batch.items.count()})
        batch_id = batch.pk
        transaction.on_commit(lambda: destruction_run_task.enqueue(batch_id))
    return batch


def destruction_cancel(*, actor: Actor, request: HttpRequest | None = None,
                       batch: DestructionBatch, reason: str) -> DestructionBatch:
    """Cancel a batch before execution; kept with its history. Audited (`destruction.cancel`)."""
    if not reason.strip():
        raise DomainError("reason_required", "请填写撤销原因", "a cancellation needs a reason")
    with transaction.atomic():
        batch = _locked(batch)
        step = DESTRUCTION.check("cancel", state=batch.state, roles=actor_roles(actor))
        batch.state, batch.cancelled_at = step.target, timezone.now()
        batch.cancel_reason = reason.strip()
        batch.save(update_fields=["state", "cancelled_at", "cancel_reason"])
        audit_log(action="destruction.cancel", actor=actor, request=request,
                  object_type="destruction", object_id=batch.pk,
                  detail={"number": batch.number, "reason": batch.cancel_reason})
    return batch


def _blobs_kept_elsewhere(sha256s: list[str], *, destroying: set[int]) -> set[str]:
    """Of `sha256s`, the blobs some other record still keeps (content-addressed store: one blob
    may belong to several records; only when no kept record refers to it may it go)."""
    refs = (RecordFile.objects.filter(blob_id__in=sha256s)
            .exclude(record__status=RecordStatus.DESTROYED)
            .values_list("blob_id", "record_id"))
    return {sha for sha, rid in refs if rid not in destroying}


def destruction_run(*, batch_id: int) -> DestructionBatch:
    """Execute the batch item by item (the task worker): remove every file's bytes (originals
    and renditions; a blob another kept record shares stays), then keep the tombstone (record
    `destroyed` with a 销毁 business event). Each step commits on its own, so a run interrupted
    at any point continues where it stopped; done items are skipped. When every item is done
    the 销毁清册 is filed as a permanent record and the batch is `destroyed`. Audited
    (`destruction.complete`; each record `record.destroy`, each blob `blob.destroyed`)."""
    runner = system_user(name=RUNNER, roles=["archivist"])
    batch = DestructionBatch.objects.select_related("fonds").get(pk=batch_id)
    if batch.state != DestructionState.EXECUTING:
        return batch
    open_items = batch.items.exclude(state__in=[ItemState.DONE, ItemState.WITHHELD])
    # The records this run destroys (a blob only they share may go); read once, not per chunk.
    destroying = set(batch.items.exclude(state=ItemState.WITHHELD)
                     .values_list("record_id", flat=True))
    # Holds placed since execution started are looked up for the whole batch first: a record
    # withheld later in the run may share a blob with one destroyed earlier in it.
    pending = batch.items.filter(state=ItemState.PENDING).values_list("record_id", flat=True)
    destroying -= selectors.held_record_ids(record_ids=pending)
    last = 0
    while True:
        chunk = list(open_items.filter(id__gt=last).select_related("record").order_by("id")[:200])
        if not chunk:
            break
        last = chunk[-1].pk
        held = selectors.held_record_ids(record_ids=[i.record_id for i in chunk])
        for item in chunk:
            if item.record_id in held and item.state == ItemState.PENDING:
                with transaction.atomic():  # Art.19: a hold placed during execution wins
                    DestructionItem.objects.filter(pk=item.pk).update(state=ItemState.WITHHELD)
                    audit_log(action="destruction.withhold", actor=runner,
                              object_type="destruction", object_id=batch.pk,
                              detail={"number": batch.number, "record": item.record_id})
                destroying.discard(item.record_id)  # (its bytes are still there: it is kept)
        for item in chunk:
            if item.record_id in destroying:
                _item_run(batch, item, runner=runner, destroying=destroying)
    return _complete(batch, runner=runner)


def _item_run(batch: DestructionBatch, item: DestructionItem, *, runner: User,
              destroying: set[int]) -> None:
    if item.state == ItemState.PENDING:
        sha256s = sorted(set(RecordFile.objects.filter(record_id=item.record_id)
                             .values_list("blob_id", flat=True)))
        kept = _blobs_kept_elsewhere(sha256s, destroying=destroying)
        for sha in sha256s:
            if sha not in kept:
                blob_destroy(sha256=sha, actor=runner, reason=f"销毁清册 {batch.number}")
        DestructionItem.objects.filter(pk=item.pk).update(state=ItemState.BYTES_REMOVED)
        item.state = ItemState.BYTES_REMOVED
    if item.state == ItemState.BYTES_REMOVED:
        with transaction.atomic():
            record_destroy(record=item.record, actor=runner,
                           reason=f"依会计档案销毁清册 {batch.number} 销毁",
                           mandate="《会计档案管理办法》第十八条", agent_name=RUNNER)
            DestructionItem.objects.filter(pk=item.pk).update(state=ItemState.DONE,
                                                              done_at=timezone.now())


def _complete(batch: DestructionBatch, *, runner: User) -> DestructionBatch:
    if batch.items.exclude(state__in=[ItemState.DONE, ItemState.WITHHELD]).exists():
        return batch
    now = timezone.now()
    with transaction.atomic():
        batch = _locked(batch)
        if batch.state != DestructionState.EXECUTING:
            return batch
        step = DESTRUCTION.check("complete", state=batch.state, roles=actor_roles(runner))
        batch.destroyed_at = batch.destroyed_at or now
        batch.save(update_fields=["destroyed_at"])
    today = timezone.localdate()
    register = selectors.destruction_register(batch, on=today)
    pdf = register_pdf(register)
    # Filed as the PDF/A only: the ingest's format check (GD-3-3) refuses an xlsx attachment as
    # not an archival format. The Excel copy is generated on request (register.xlsx).
    filed = register_file(
        pdf=pdf, title=f"会计档案销毁清册 {batch.number}", rule_name="会计档案销毁清册",
        fonds_code=batch.fonds.code, fiscal_year=today.year, document_no=batch.number,
        external_id=f"destruction:{batch.pk}", on=today, department="档案管理机构")
    with transaction.atomic():
        batch = _locked(batch)
        batch.state, batch.register_record = step.target, filed
        batch.save(update_fields=["state", "register_record"])
        counts = selectors.destruction_progress(batch)
        audit_log(action="destruction.complete", actor=runner, object_type="destruction",
                  object_id=batch.pk,
                  detail={"number": batch.number, "destroyed": counts[ItemState.DONE],
                          "withheld": counts[ItemState.WITHHELD], "register_record": filed.pk,
                          "register_archive_no": filed.archive_no})
    return batch



@task()
def destruction_run_task(batch_id: int) -> dict[str, str]:
    """The task worker's run (or resumption) of a batch's destruction; safe to run again."""
    batch = destruction_run(batch_id=batch_id)
    return {"number": batch.number, "state": batch.state}


def hold_reviews_notify(*, today: date | None = None) -> list[str]:
    """The daily job: each active hold whose review date has come gives its owner an OA to-do
    (once per hold and review date; the dashboard shows it as well). Audited (`hold.review_due`)
    when a to-do is queued; the hold numbers notified."""
    today = today or timezone.localdate()
    notified = []
    with transaction.atomic():
        for hold in (Hold.objects.filter(state=HoldState.ACTIVE, review_on__lte=today)
                     .select_related("owner").order_by("review_on", "id")):
            queued = oa_todo_notify(
                users=[hold.owner], title=f"复核保全 {hold.number}",
                text=f"保全（{hold.get_kind_display()}）的复核日 {hold.review_on:%Y-%m-%d} 已到："
                     f"{hold.reason[:200]}。请复核，事项了结后解除保全。",
                url=f"/holds/{hold.pk}/", dedupe_key=f"hold-review:{hold.pk}:{hold.review_on}")
            if queued:
                audit_log(action="hold.review_due", object_type="hold", object_id=str(hold.pk),
                          detail={"number": hold.number, "review_on": hold.review_on.isoformat(),
                                  "owner": hold.owner.get_username()})
                notified.append(hold.number)
    return notified


@task()
def hold_reviews_task() -> list[str]:
    return hold_reviews_notify()
