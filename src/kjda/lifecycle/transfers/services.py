"""Hand-over (移交) from the accounting department to the archives department, and temporary
custody (79号令 Art.11–12, 24).

The accounting side (accountant / accounting_head) puts together a batch from the records still in
its custody and submits it, signing the 移交清册; the system re-runs the transfer-stage 四性 checks
(DA/T 70 YJ) on every item; the archives side (archivist / archives_head) accepts or rejects each
item and signs, which completes the transfer: accepted records pass into the archives
department's custody, rejected ones stay with the accounting department with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from django.contrib.auth.models import AbstractBaseUser, User
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_tasks import task

from kjda.accounts.models import Profile
from kjda.accounts.roles import Role
from kjda.accounts.selectors import actor_profile, actor_roles, users_with_roles
from kjda.archives.models import BusinessEvent, Custody, Fonds, Record, RecordStatus
from kjda.audit.services import audit_log
from kjda.errors import Conflict, DomainError, Forbidden, NotFound
from kjda.lifecycle import signing
from kjda.lifecycle.registers import register_digest, register_file, register_pdf
from kjda.lifecycle.todos import oa_todo_notify
from kjda.lifecycle.transfers import registers as transfer_registers
from kjda.lifecycle.transfers.checks import as_json, yj_check
from kjda.lifecycle.transfers.models import (
    CustodyExtension,
    CustodyNotice,
    Decision,
    Side,
    TransferBatch,
    TransferItem,
    TransferSignature,
    TransferState,
)
from kjda.lifecycle.transfers.selectors import (
    OPEN_STATES,
    custody_deadline,
    custody_default_deadline,
    custody_limit,
    custody_overdue,
)
from kjda.lifecycle.transfers.workflow import ACCOUNTING_ROLES, ARCHIVES_ROLES, SYSTEM, TRANSFER

# Up to this many items are checked right after the submit commits, in the same request; a larger
# batch goes to the task worker.
INLINE_CHECK_LIMIT = 20


def _cashier_refused(actor: AbstractBaseUser, *, what: str) -> None:
    """79号令 Art.11: a cashier never looks after the archives, so never signs as custodian."""
    if Role.CASHIER in actor_roles(actor):
        raise Forbidden("cashier_not_custodian", f"出纳人员不得兼管会计档案，不能{what}",
                        f"a cashier may not look after the accounting archives, so cannot {what}"
                        " (79号令 Art.11)")


def _batch_for_update(batch_id: int) -> TransferBatch:
    batch = TransferBatch.objects.select_for_update().filter(pk=batch_id).first()
    if batch is None:
        raise NotFound("transfer_not_found", "移交批次不存在", "no such transfer")
    return batch


def _in_fonds_scope(actor: AbstractBaseUser, fonds: Fonds) -> None:
    scope = actor_profile(actor).fonds
    if scope and fonds.code not in scope:
        raise Forbidden("fonds_out_of_scope", f"全宗 {fonds.code} 不在您的数据范围内",
                        f"fonds {fonds.code} is outside your data scope")


def _fonds_in_scope(actor: AbstractBaseUser, fonds_code: str) -> Fonds:
    fonds = Fonds.objects.filter(code=fonds_code).first()
    if fonds is None:
        raise DomainError("fonds_unknown", f"未知全宗：{fonds_code}",
                          f"unknown fonds: {fonds_code}", status=422)
    _in_fonds_scope(actor, fonds)
    return fonds

def transfer_create(*, actor: User, fonds_code: str, fiscal_year: int,
                    categories: Sequence[str] = (), volume_ids: Sequence[int] = (),
                    note: str = "", request: HttpRequest | None = None) -> TransferBatch:
    """A draft transfer of the records of `fonds_code` and `fiscal_year` (narrowed to
    `categories` and/or `volume_ids`) that are filed, in the accounting department's custody and
    in no other open transfer."""
    roles = actor_roles(actor)
    if not roles & ACCOUNTING_ROLES:
        raise Forbidden("transfer_forbidden", "只有会计机构人员可以编制移交清册",
                        "only the accounting department prepares a transfer")
    _cashier_refused(actor, what="编制移交清册")
    with transaction.atomic():
        fonds = _fonds_in_scope(actor, fonds_code)
        records = Record.objects.filter(fonds=fonds, fiscal_year=fiscal_year,
                                        status=RecordStatus.FILED, custody=Custody.ACCOUNTING)
        if categories:
            records = records.filter(rule__name__in=list(categories)) | records.filter(
                category__name__in=list(categories))
        if volume_ids:
            records = records.filter(volume_id__in=list(volume_ids))
        busy = TransferItem.objects.filter(batch__state__in=OPEN_STATES).values("record_id")
        ids = list(records.exclude(pk__in=busy).order_by("archive_no", "pk")
                   .values_list("pk", flat=True).distinct())
        if not ids:
            raise DomainError("transfer_empty", "没有可移交的档案（已归档、会计机构暂管、未在其他移交批次中）",
                              "nothing to transfer (filed, in accounting custody, in no other "
                              "open transfer)", status=422)
        prefix = f"YJ-{fiscal_year}-"
        seq = TransferBatch.objects.filter(number__startswith=prefix).count() + 1
        batch = TransferBatch.objects.create(
            number=f"{prefix}{seq:04d}", fonds=fonds, fiscal_year=fiscal_year,
            categories=list(categories), volume_ids=[int(v) for v in volume_ids],
            note=note[:2000], created_by=actor)
        TransferItem.objects.bulk_create([TransferItem(batch=batch, record_id=pk) for pk in ids])
        audit_log(action="transfer.create", actor=actor, request=request,
                  object_type="transfer", object_id=batch.pk,
                  detail={"number": batch.number, "fonds": fonds.code, "year": fiscal_year,
                          "categories": list(categories), "volumes": list(volume_ids),
                          "items": len(ids)})
    return batch


def _sign(batch: TransferBatch, *, actor: User, side: str, digest: str,
          opinion: str = "") -> TransferSignature:
    roles = actor_roles(actor)
    wanted = ACCOUNTING_ROLES if side == Side.ACCOUNTING else ARCHIVES_ROLES
    role = sorted(roles & wanted, reverse=True)[0]  # the head's role before the clerk's
    profile = Profile.objects.filter(user=actor).first()
    name = (profile.person_name if profile and profile.person_name else "") or (
        actor.get_full_name() or actor.get_username())
    return TransferSignature.objects.create(
        batch=batch, side=side, user=actor, name=name, role=role, signed_at=timezone.now(),
        digest=digest, signature=signing.sign_digest(digest) or {}, opinion=opinion[:500])


def transfer_submit(*, actor: User, batch_id: int,
                    request: HttpRequest | None = None) -> TransferBatch:
    """The accounting side signs the 移交清册 and hands the batch over for checking."""
    with transaction.atomic():
        batch = _batch_for_update(batch_id)
        step = TRANSFER.check("submit", state=batch.state, roles=actor_roles(actor))
        _cashier_refused(actor, what="签署移交清册")
        register = transfer_registers.transfer_register(batch, final=False)
        digest = register_digest(register.rows, columns=register.columns)
        sig = _sign(batch, actor=actor, side=Side.ACCOUNTING, digest=digest)
        batch.state, batch.submitted_at = step.target, timezone.now()
        batch.save(update_fields=["state", "submitted_at"])
        count = batch.items.count()
        audit_log(action="transfer.submit", actor=actor, request=request,
                  object_type="transfer", object_id=batch.pk,
                  detail={"number": batch.number, "digest": digest, "items": count,
                          "signed": bool(sig.signature)})
        pk = batch.pk
        if count <= INLINE_CHECK_LIMIT:
            transaction.on_commit(lambda: transfer_checks_run(batch_id=pk))
        else:
            transaction.on_commit(lambda: transfer_checks_task.enqueue(pk))
    return batch


@task()
def transfer_checks_task(batch_id: int) -> int:
    """The task worker's form of `transfer_checks_run` (here, beside what enqueues it, so the
    services and the tasks module import in one direction only)."""
    return transfer_checks_run(batch_id=batch_id)


def transfer_checks_run(*, batch_id: int, limit: int | None = None) -> int:
    """Run the YJ checks on the batch's unchecked items, one transaction per item, so a run
    stopped halfway resumes where it stopped; when none is left, the batch becomes `checked`
    and the archives side is told. Returns the number of items checked by this call."""
    done = 0
    pending = TransferItem.objects.filter(batch_id=batch_id, checked_at__isnull=True)
    for item_id in list(pending.order_by("pk").values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            item = (TransferItem.objects.select_for_update().select_related("record", "batch")
                    .filter(pk=item_id, checked_at__isnull=True).first())
            if item is None or item.batch.state != TransferState.SUBMITTED:
                continue
            results = yj_check(item.record)
            item.checks = as_json(results)
            item.passed = all(r.passed for r in results)
            item.checked_at = timezone.now()
            item.save(update_fields=["checks", "passed", "checked_at"])
            BusinessEvent.objects.create(
                record=item.record, action="四性检测", occurred_at=item.checked_at,
                mandate="DA/T 70-2018 移交与接收", agent_name="kjda",
                description=f"移交检测（{item.batch.number}）："
                            + ("通过" if item.passed else "未通过：" + "；".join(
                                r.code for r in results if not r.passed)))
            done += 1
    with transaction.atomic():
        batch = _batch_for_update(batch_id)
        if batch.state != TransferState.SUBMITTED or batch.items.filter(
                checked_at__isnull=True).exists():
            return done
        step = TRANSFER.check("checks_done", state=batch.state, roles={SYSTEM})
        batch.state, batch.checked_at = step.target, timezone.now()
        batch.save(update_fields=["state", "checked_at"])
        failed = batch.items.filter(passed=False).count()
        audit_log(action="transfer.check", object_type="transfer", object_id=batch.pk,
                  actor_name="kjda:transfers",
                  detail={"number": batch.number, "items": batch.items.count(),
                          "failed": failed})
        oa_todo_notify(users=_holders(ARCHIVES_ROLES, batch.fonds.code),
                       title=f"接收会计档案 {batch.number}",
                       text=f"{batch.fonds.code} {batch.fiscal_year} 年度会计档案待逐件接收"
                            f"（检测未通过 {failed} 件）",
                       url=f"/transfers/{batch.pk}/", dedupe_key=f"transfer:{batch.pk}:checked")
    return done


def _holders(roles: Iterable[str], fonds_code: str) -> list[User]:
    return users_with_roles(roles=roles, fonds_code=fonds_code, excluding=[Role.CASHIER])


def transfer_items_decide(*, actor: User, batch_id: int,
                          decisions: Sequence[tuple[int, str, str]],
                          request: HttpRequest | None = None) -> list[TransferItem]:
    """The archives side's decision on items: (item id, "accepted" | "rejected", reason). An
    item that failed the YJ checks can only be rejected (Art.12: accept only what passes); a
    rejection needs its reason."""
    with transaction.atomic():
        batch = _batch_for_update(batch_id)
        TRANSFER.check("decide", state=batch.state, roles=actor_roles(actor))
        _cashier_refused(actor, what="接收会计档案")
        items = {i.pk: i for i in batch.items.select_related("record").filter(
            pk__in=[d[0] for d in decisions])}
        now = timezone.now()
        changed: list[TransferItem] = []
        for item_id, decision, reason in decisions:
            item = items.get(int(item_id))
            if item is None:
                raise NotFound("transfer_item_not_found", f"移交批次中没有条目 {item_id}",
                               f"the transfer has no item {item_id}")
            if decision not in (Decision.ACCEPTED, Decision.REJECTED):
                raise DomainError("decision_invalid", "决定须为“接收”或“退回”",
                                  "a decision is accepted or rejected", status=422)
            if decision == Decision.REJECTED and not reason.strip():
                raise DomainError("reason_required", "退回须说明原因",
                                  "a rejection needs its reason", status=422)
            if decision == Decision.ACCEPTED and not item.passed:
                raise Conflict("item_failed_checks",
                               f"{item.record.archive_no} 移交检测未通过，只能退回",
                               f"{item.record.archive_no} failed the transfer checks; it can "
                               "only be rejected")
            item.decision, item.reason = decision, reason.strip()[:500]
            item.decided_by, item.decided_at = actor, now
            changed.append(item)
        TransferItem.objects.bulk_update(changed, ["decision", "reason", "decided_by",
                                                   "decided_at"])
        audit_log(action="transfer.decide", actor=actor, request=request,
                  object_type="transfer", object_id=batch.pk,
                  detail={"number": batch.number, "decisions": [
                      {"item": i.pk, "record": i.record_id, "decision": i.decision,
                       "reason": i.reason} for i in changed]})
    return changed


def transfer_sign(*, actor: User, batch_id: int, opinion: str = "",
                  request: HttpRequest | None = None) -> TransferBatch:
    """The archives side signs once every item is decided: the transfer is accepted, partially
    accepted or rejected, accepted records pass into the archives department's custody, and the
    移交清册 is filed as a record after the commit."""
    with transaction.atomic():
        batch = _batch_for_update(batch_id)
        if batch.state == TransferState.CHECKED and batch.items.filter(
                decision=Decision.UNDECIDED).exists():
            raise Conflict("items_undecided", "还有条目未决定接收或退回",
                           "some items are neither accepted nor rejected yet")
        accepted = batch.items.filter(decision=Decision.ACCEPTED).count()
        total = batch.items.count()
        name = ("accept" if accepted == total else "reject" if accepted == 0
                else "accept_partially")
        step = TRANSFER.check(name, state=batch.state, roles=actor_roles(actor))
        _cashier_refused(actor, what="接收并保管会计档案")
        _accounting_signature_verify(batch)
        register = transfer_registers.transfer_register(batch, final=True)
        digest = register_digest(register.rows, columns=register.columns)
        sig = _sign(batch, actor=actor, side=Side.ARCHIVES, digest=digest, opinion=opinion)
        now = timezone.now()
        today = timezone.localdate()
        record_ids = list(batch.items.filter(decision=Decision.ACCEPTED)
                          .values_list("record_id", flat=True))
        Record.objects.filter(pk__in=record_ids).update(custody=Custody.ARCHIVES,
                                                        custody_since=today)
        BusinessEvent.objects.bulk_create([BusinessEvent(
            record_id=pk, action="移交", occurred_at=now, mandate="《会计档案管理办法》第十二条",
            agent_name=sig.name,
            description=f"由会计机构移交档案机构（{batch.number}），{sig.name} 接收")
            for pk in record_ids])
        rejected = list(batch.items.filter(decision=Decision.REJECTED)
                        .values_list("record_id", "reason"))
        BusinessEvent.objects.bulk_create([BusinessEvent(
            record_id=pk, action="移交退回", occurred_at=now,
            mandate="《会计档案管理办法》第十二条", agent_name=sig.name,
            description=f"移交批次 {batch.number} 退回，仍由会计机构暂管：{reason}")
            for pk, reason in rejected])
        batch.state, batch.completed_at = step.target, now
        batch.save(update_fields=["state", "completed_at"])
        audit_log(action="transfer.sign", actor=actor, request=request,
                  object_type="transfer", object_id=batch.pk,
                  detail={"number": batch.number, "state": batch.state, "digest": digest,
                          "accepted": record_ids, "rejected": [pk for pk, _ in rejected],
                          "signed": bool(sig.signature)})
        if accepted:
            pk = batch.pk
            transaction.on_commit(lambda: transfer_register_file(batch_id=pk))
    return batch


def _accounting_signature_verify(batch: TransferBatch) -> None:
    """DA/T 70 YJ: the transferring side's signature is verified on receipt — over the register
    as it stands now, so a list changed after it was signed is refused."""
    sig = batch.signatures.filter(side=Side.ACCOUNTING).first()
    if sig is None:
        return
    offered = transfer_registers.transfer_register(batch, final=False)
    digest = register_digest(offered.rows, columns=offered.columns)
    if digest != sig.digest or (sig.signature and not signing.verify_digest(digest,
                                                                            sig.signature)):
        raise Conflict("transfer_signature_invalid",
                       "移交方签名与移交清册不符，不能接收（清册在签署后被改动或签名无效）",
                       "the transferring side's signature does not match the register (changed "
                       "after signing, or an invalid signature); it cannot be accepted")


def transfer_register_file(*, batch_id: int, request: HttpRequest | None = None) -> Record:
    """File the completed transfer's 移交清册 (PDF/A with the Excel copy) as a record of the
    category 会计档案移交清册 (idempotent: `transfer:<id>`)."""
    batch = TransferBatch.objects.select_related("fonds").get(pk=batch_id)
    if batch.register_record_id is not None:
        return batch.register_record  # type: ignore[return-value]
    register = transfer_registers.transfer_register(batch, final=True)
    on = timezone.localdate(batch.completed_at) if batch.completed_at else timezone.localdate()
    record = register_file(
        # Without the Excel copy: ingest's GD-3-3 refuses xlsx as a non-archival format (the
        # copy stays downloadable from the transfer).
        pdf=register_pdf(register),
        title=f"会计档案移交清册 {batch.number}", rule_name="会计档案移交清册",
        fonds_code=batch.fonds.code, fiscal_year=on.year, document_no=batch.number,
        external_id=f"transfer:{batch.pk}", on=on, department="档案管理机构", request=request)
    with transaction.atomic():
        TransferBatch.objects.filter(pk=batch.pk).update(register_record=record)
        audit_log(action="transfer.register_file", object_type="transfer", object_id=batch.pk,
                  actor_name="kjda:transfers", request=request,
                  detail={"number": batch.number, "record": record.pk,
                          "archive_no": record.archive_no})
    return record


def transfer_cancel(*, actor: User, batch_id: int, reason: str,
                    request: HttpRequest | None = None) -> TransferBatch:
    with transaction.atomic():
        batch = _batch_for_update(batch_id)
        step = TRANSFER.check("cancel", state=batch.state, roles=actor_roles(actor))
        if not reason.strip():
            raise DomainError("reason_required", "取消须说明原因", "a cancellation needs its reason",
                              status=422)
        batch.state = step.target
        batch.note = (batch.note + "\n" if batch.note else "") + f"取消：{reason.strip()}"
        batch.save(update_fields=["state", "note"])
        audit_log(action="transfer.cancel", actor=actor, request=request,
                  object_type="transfer", object_id=batch.pk,
                  detail={"number": batch.number, "reason": reason.strip()})
    return batch


def custody_extend(*, actor: User, fonds_code: str, fiscal_year: int, until: date, reason: str,
                   request: HttpRequest | None = None) -> CustodyExtension:
    """The archives department consents that the accounting department keeps `fiscal_year` of
    `fonds_code` until `until` (Art.11: at most 3 years after the year's end)."""
    if not actor_roles(actor) & ARCHIVES_ROLES:
        raise Forbidden("custody_extend_forbidden", "只有档案机构可以同意延期暂管",
                        "only the archives department consents to a longer custody")
    _cashier_refused(actor, what="同意延期暂管")
    if not reason.strip():
        raise DomainError("reason_required", "延期暂管须说明理由", "an extension needs its reason",
                          status=422)
    limit = custody_limit(fiscal_year)
    if until > limit:
        raise DomainError("custody_beyond_limit",
                          f"临时保管最长不超过三年（{fiscal_year} 年度至 {limit} 止）",
                          f"temporary custody never exceeds 3 years (for {fiscal_year}: "
                          f"until {limit})", status=422)
    if until <= custody_default_deadline(fiscal_year):
        raise DomainError("custody_not_longer", "延期截止日须晚于一年暂管期满日",
                          "the extension must end after the 1-year custody", status=422)
    with transaction.atomic():
        fonds = _fonds_in_scope(actor, fonds_code)
        before = custody_deadline(fonds, fiscal_year)
        ext, _ = CustodyExtension.objects.update_or_create(
            fonds=fonds, fiscal_year=fiscal_year,
            defaults={"until": until, "reason": reason.strip()[:500], "consented_by": actor})
        audit_log(action="custody.extend", actor=actor, request=request,
                  object_type="fonds", object_id=fonds.code,
                  detail={"year": fiscal_year, "before": before.isoformat(),
                          "until": until.isoformat(), "reason": ext.reason})
    return ext


def custody_overdue_notify(*, today: date | None = None) -> list[tuple[str, int]]:
    """Raise a to-do (once per fonds, year and deadline) where a year's temporary custody has run
    out with records still in the accounting department's custody: to the accounting and
    archives heads and archivists, in their OA too. The (fonds, year) pairs newly raised."""
    raised: list[tuple[str, int]] = []
    for fonds, year, due, count in custody_overdue(today=today or timezone.localdate()):
        with transaction.atomic():
            _, created = CustodyNotice.objects.get_or_create(fonds=fonds, fiscal_year=year,
                                                             due=due)
            if not created:
                continue
            users = _holders({Role.ACCOUNTING_HEAD, Role.ARCHIVES_HEAD, Role.ARCHIVIST},
                             fonds.code)
            oa_todo_notify(users=users, title=f"{fonds.code} {year} 年度会计档案暂管期满，请移交",
                           text=f"{count} 件会计档案仍由会计机构暂管，暂管期已于 {due} 届满"
                                "（《会计档案管理办法》第十一条）",
                           url="/transfers/", dedupe_key=f"custody:{fonds.code}:{year}:{due}")
            audit_log(action="custody.overdue", object_type="fonds", object_id=fonds.code,
                      actor_name="kjda:transfers",
                      detail={"year": year, "due": due.isoformat(), "records": count,
                              "notified": [u.get_username() for u in users]})
            raised.append((fonds.code, year))
    return raised


def custody_register_file(*, actor: User, fonds_code: str, fiscal_year: int,
                          request: HttpRequest | None = None) -> Record:
    """File the 会计档案保管清册 of a fonds' year as a permanent record (rule 会计档案保管清册)."""
    if not actor_roles(actor) & (ARCHIVES_ROLES | ACCOUNTING_ROLES):
        raise Forbidden("custody_register_forbidden", "只有会计机构或档案机构可以归档保管清册",
                        "only the accounting or archives department files a custody register")
    fonds = Fonds.objects.filter(code=fonds_code).first()
    if fonds is None:
        raise DomainError("fonds_unknown", f"未知全宗：{fonds_code}",
                          f"unknown fonds: {fonds_code}", status=422)
    register = transfer_registers.custody_register(fonds, fiscal_year)
    today = timezone.localdate()
    number = f"BG-{fiscal_year}-{today:%Y%m%d}"
    record = register_file(
        pdf=register_pdf(register),
        title=f"会计档案保管清册 {fonds.code} {fiscal_year}", rule_name="会计档案保管清册",
        # Filed in the year it is compiled (ingest's GD-1-5 wants date and year together); the
        # year it lists is in its title and number.
        fonds_code=fonds.code, fiscal_year=today.year, document_no=number,
        external_id=f"custody-register:{fonds.code}:{fiscal_year}:{today:%Y%m%d}", on=today,
        department="档案管理机构", request=request)
    audit_log(action="custody.register_file", actor=actor, request=request,
              object_type="fonds", object_id=fonds.code,
              detail={"year": fiscal_year, "record": record.pk, "archive_no": record.archive_no})
    return record
