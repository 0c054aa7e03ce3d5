"""`kjda demo --years N`: a year of demo records taken through custody and disposition on a
simulated clock (issue 17's story): filed, assembled into volumes and closed; handed over to the
archives when the temporary custody ends; appraised when their 30-year term has ended; one
voucher held for an unsettled claim; the rest destroyed with the five signatures and 监销; every
register filed.

The clock is moved with `time-machine` (process-wide: Django's `timezone.now()`, `date.today()`,
the database rows' timestamps), so every step runs through the same services as in production and
writes the dates a real run would have written."""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import time_machine
from django.contrib.auth import get_user_model
from django.utils import timezone

from kjda.archives.models import Fonds, Record, RecordStatus, Volume, VolumeStatus
from kjda.ingest.metadata import FileMetaIn, metadata_parse
from kjda.ingest.pipeline import IncomingFile
from kjda.ingest.services import record_file_add, record_ingest, record_recheck
from kjda.lifecycle.appraisal.selectors import records_appraised_for_destruction
from kjda.lifecycle.appraisal.services import (
    OutcomeIn,
    appraisal_create,
    appraisal_decide,
    appraisal_opinion,
    appraisal_outcomes_set,
    appraisal_submit,
    expiry_scan,
)
from kjda.lifecycle.destruction import services as destruction
from kjda.lifecycle.transfers.models import TransferBatch
from kjda.lifecycle.transfers.services import (
    transfer_checks_run,
    transfer_create,
    transfer_items_decide,
    transfer_sign,
    transfer_submit,
)
from kjda.lifecycle.volumes.services import volume_close, volumes_assemble
from kjda_oasim.factories import invoice_pdf, user_with_roles, voucher_pdf
from kjda_oasim.records import demo_load

# The people of the story, one per role (names as a unit would have them).
PEOPLE = [("demo_accountant", "张会计", ["accountant"]),
          ("demo_accounting_head", "李主管", ["accounting_head"]),
          ("demo_archivist", "王档案", ["archivist"]),
          ("demo_archives_head", "赵主任", ["archives_head"]),
          ("demo_head", "钱总经理", ["head"]),
          ("demo_auditor", "孙审计", ["auditor"]),
          ("demo_inspector", "周纪检", ["inspector"]),
          ("demo_it", "吴信息", ["it_officer"])]


def _at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def _pending_fixed(year: int, actor: Any) -> Record:
    """A travel claim filed without its invoice (pending, GD-2-8), put right as a clerk would:
    the invoice added, the checks run again, filed."""
    day = date(year, 12, 20)
    amount = Decimal("1280.50")
    meta = metadata_parse({"category": "记账凭证", "fiscal_year": year, "period": 12,
                           "title": f"{year}年12月 报销差旅费（补交发票）", "date": day.isoformat(),
                           "amount": str(amount), "document_no": "记-9001",
                           "department": "财务部", "source_system": "demo",
                           "external_id": f"demo-{year}-pending",
                           "extra": {"missing_attachments": ["发票 / invoice"]}})
    voucher = IncomingFile(io.BytesIO(voucher_pdf(number="9001", summary="报销差旅费",
                                                  amount=amount, day=day)),
                           "记账凭证-9001.pdf", FileMetaIn(document_type="记账凭证"))
    record = record_ingest(metadata=meta, files=[voucher], actor=actor).record
    if record.status != RecordStatus.PENDING:
        return record
    invoice = IncomingFile(io.BytesIO(invoice_pdf(number=f"{year % 100:02d}310000000000009001",
                                                  seller="某某酒店有限公司", amount=amount,
                                                  day=day)),
                           "发票-9001.pdf", FileMetaIn(document_type="原始凭证"))
    record_file_add(record=record, upload=invoice, actor=actor)
    return record_recheck(record=Record.objects.get(pk=record.pk), actor=actor)


def lifecycle_demo(*, years: int = 35, records: int = 60,
                   log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the story for the fiscal year `years` ago; what happened, as counts and numbers."""
    year = timezone.localdate().year - years
    fonds = Fonds.objects.order_by("id").first()
    assert fonds is not None, "the fonds is seeded by `kjda serve` / site_prepare"
    if TransferBatch.objects.filter(fonds=fonds, fiscal_year=year).exists():
        log(f"{year} 年度已走完移交与处置流程，未重复执行 / the year {year} has been taken through "
            "already; nothing done")
        return {"year": year, "already": True}
    password = secrets.token_urlsafe(12)
    people = {}
    for username, name, roles in PEOPLE:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            user = user_with_roles(username, roles, password=password)
        else:  # a second run: the same people, a new password
            user.set_password(password)
        user.first_name = name
        user.save(update_fields=["first_name", "password"])
        people[roles[0]] = user
    out: dict[str, Any] = {"year": year, "password": password}

    with time_machine.travel(_at(year + 1, 1, 20), tick=True):
        out["filed"] = demo_load(year=year, records=records, actor=people["accountant"])
        log(f"{year + 1}-01-20 归档 {out['filed']} 件 {year} 年度档案 / filed")
        fixed = _pending_fixed(year, people["accountant"])
        out["fixed"] = fixed.archive_no
        log(f"  待处理的凭证补充发票后重新检测，已归档 {fixed.archive_no} / pending record fixed")
        volumes_assemble(fonds=fonds, fiscal_year=year, actor=people["accountant"])
        open_volumes = Volume.objects.filter(fonds=fonds, fiscal_year=year,
                                             status=VolumeStatus.OPEN, records__isnull=False)
        for volume in open_volumes.distinct().order_by("id"):
            volume_close(actor=people["accountant"], volume=volume)
        out["volumes"] = Volume.objects.filter(fonds=fonds, fiscal_year=year,
                                               status=VolumeStatus.CLOSED).count()
        log(f"  组卷并封卷 {out['volumes']} 卷（卷内目录、备考表） / volumes closed")

    with time_machine.travel(_at(year + 2, 1, 10), tick=True):  # the 1-year custody has ended
        batch = transfer_create(actor=people["accountant"], fonds_code=fonds.code,
                                fiscal_year=year, note="年度移交")
        transfer_submit(actor=people["accountant"], batch_id=batch.pk)
        transfer_checks_run(batch_id=batch.pk)  # the YJ checks (the task worker's step)
        batch.refresh_from_db()
        transfer_items_decide(actor=people["archivist"], batch_id=batch.pk, decisions=[
            (item.pk, "accepted", "") for item in batch.items.all()])
        batch = transfer_sign(actor=people["archivist"], batch_id=batch.pk, opinion="同意接收")
        batch.refresh_from_db()
        out["transfer"] = batch.number
        log(f"{year + 2}-01-10 移交 {batch.number}：{batch.items.count()} 件，"
            f"{batch.get_state_display()} / handed over")

    with time_machine.travel(_at(year + 31, 1, 15), tick=True):  # the 30-year terms have ended
        expiry_scan()
        expired = list(Record.objects.filter(
            fonds=fonds, fiscal_year=year, status=RecordStatus.FILED,
            retention_expires_on__lt=timezone.localdate()).order_by("id")
            .values_list("pk", flat=True))
        appraisal = appraisal_create(actor=people["archivist"], fonds=fonds, record_ids=expired,
                                     title=f"{year} 年度到期会计档案鉴定")
        appraisal = appraisal_submit(actor=people["archivist"], batch=appraisal)
        items = list(appraisal.items.order_by("id"))
        keep = items[0]
        appraisal_outcomes_set(actor=people["archivist"], batch=appraisal, outcomes=[
            OutcomeIn(keep.pk, "keep", "D10", "涉及长期合同，延长保管")] + [
            OutcomeIn(i.pk, "destroy") for i in items[1:]])
        for role, opinion in (("archivist", "经鉴定，除一件外已无保存价值"),
                              ("accounting_head", "会计机构同意"), ("auditor", "审计无异议"),
                              ("inspector", "纪检监察无异议")):
            appraisal_opinion(actor=people[role], batch=appraisal, opinion=opinion)
        appraisal = appraisal_decide(actor=people["archives_head"], batch=appraisal)
        out["appraisal"] = appraisal.number
        destroy = sorted(records_appraised_for_destruction(record_ids=expired))
        log(f"{year + 31}-01-15 鉴定 {appraisal.number}：{len(destroy)} 件可销毁，1 件继续保管 "
            "/ appraised")

        held = destroy[0]
        hold = destruction.hold_place(
            actor=people["auditor"], kind="claims", reason="未结清的债权债务：往来款尚未结清",
            review_on=timezone.localdate() + timedelta(days=180), record_ids=[held])
        out["hold"] = hold.number
        log(f"  保全 {hold.number}：1 件因未结清的债权债务暂缓销毁 / held")

        batch = destruction.destruction_create(actor=people["archivist"],
                                               record_ids=destroy[1:],
                                               title=f"{year} 年度会计档案销毁")
        batch = destruction.destruction_submit(actor=people["archivist"], batch=batch)
        for role in ("head", "archives_head", "accounting_head", "archivist", "accountant"):
            batch = destruction.destruction_sign(actor=people[role], batch=batch,
                                                 capacity=role, opinion="同意销毁")
        for role, capacity in (("archivist", "archives"), ("accountant", "accounting"),
                               ("it_officer", "it")):
            batch = destruction.destruction_witness(actor=people[role], batch=batch,
                                                    capacity=capacity, note="已核对清册")
        batch = destruction.destruction_execute(actor=people["archivist"], batch=batch)
        batch = destruction.destruction_run(batch_id=batch.pk)  # the task worker's step
        out["destruction"] = batch.number
        out["destroyed"] = Record.objects.filter(status=RecordStatus.DESTROYED).count()
        log(f"  销毁 {batch.number}：{out['destroyed']} 件已销毁，五方签署、三方监销 / destroyed")
    out["registers"] = list(Record.objects.filter(
        rule__name__in=["会计档案移交清册", "会计档案鉴定意见书", "会计档案销毁清册"])
        .order_by("id").values_list("rule__name", flat=True))
    log(f"已归档的清册 / registers filed: {'、'.join(out['registers'])}")
    log(f"演示账号 / demo accounts: {', '.join(u for u, _, _ in PEOPLE)}；密码 / password: "
        f"{password}")
    return out
