"""The business scenarios of an approved OA instance, each filed as one record:

| scenario      | files of the record                                                           |
| reimbursement | the form (PDF/A from the form data), its invoices and images, other attachments, |
|               | the approval trail (PDF/A + JSON), the form data (JSON)                       |
| contract      | the contract scan(s), the form, the approval trail; linked to its payment      |
| payment       | the generated payment voucher (付款凭证, PDF/A), the form, the trail; linked to  |
|               | its reimbursement or contract                                                 |

A mapping's `fields` name the form fields that hold each piece (our name → form field name or
id): title, amount, applicant, department, date, summary, invoices, attachments, contract,
related (the linked approval's instance id), payee, payee_account.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, BinaryIO, cast

from django.utils import timezone

from kjda.accounts.services import system_user
from kjda.archives.models import Fonds, Record, RecordStatus
from kjda.archives.services import relations_resolve
from kjda.connectors.base import ApprovalInstance, AttachmentRef, OAConnector, epoch_seconds
from kjda.connectors.instances import instance_to_json
from kjda.connectors.models import Connector, Mapping, Scenario
from kjda.connectors.notices import notice_create, record_url
from kjda.ingest.metadata import FileMetaIn, FileRole, metadata_parse
from kjda.ingest.pipeline import IncomingFile
from kjda.ingest.selectors import check_report_for
from kjda.ingest.services import record_ingest

SCENARIO_LABEL = {"reimbursement": "报销", "contract": "合同", "payment": "付款"}
RELATION_LABEL = {"reimbursement": "报销-付款", "contract": "合同-付款", "payment": "付款依据"}
SPOOL_BYTES = 8 * 1024 * 1024


@dataclass
class Material:
    metadata: dict[str, Any]
    files: list[IncomingFile] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _names(spec: str | list | None) -> set[str]:
    if not spec:
        return set()
    items = spec if isinstance(spec, list) else str(spec).replace("，", ",").split(",")
    return {s.strip() for s in items if s.strip()}


def _in_field(ref: AttachmentRef, names: set[str]) -> bool:
    return bool(names) and (ref.field_name in names or ref.field_id in names)


def _as_date(value: Any, fallback: date) -> date:
    if isinstance(value, datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()):
        stamp = epoch_seconds(int(value))
        return timezone.localtime(datetime.fromtimestamp(stamp, tz=timezone.get_current_timezone())).date()
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")[:25]).date()
        except ValueError:
            pass
    return fallback


def _file(name: str, data: bytes, document_type: str, role: FileRole = "original"
          ) -> IncomingFile:
    fh = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed by GC
    fh.write(data)
    fh.seek(0)
    # A binary file; typeshed types SpooledTemporaryFile as IO[bytes], not BinaryIO.
    return IncomingFile(cast(BinaryIO, fh), name, FileMetaIn(role=role, document_type=document_type,
                                             filename=name))


def _download(oa: OAConnector, instance: ApprovalInstance, ref: AttachmentRef,
              document_type: str) -> IncomingFile:
    fh = cast(BinaryIO, tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed by GC
        max_size=SPOOL_BYTES))  # a binary file (typeshed: IO[bytes], not BinaryIO)
    name = oa.download_attachment(instance, ref, fh) or ref.filename or ref.file_id
    fh.seek(0)
    return IncomingFile(fh, name, FileMetaIn(role="original", document_type=document_type,
                                             filename=name[:255]))


def _base_metadata(connector: Connector, mapping: Mapping, instance: ApprovalInstance,
                   fields: dict[str, str]) -> dict[str, Any]:
    def get(name: str) -> Any:
        return instance.field_value(fields[name]) if fields.get(name) else None

    finished = instance.finished_at or timezone.now()
    day = _as_date(get("date"), _as_date(finished, timezone.localdate()))
    amount = instance.amount(fields["amount"]) if fields.get("amount") else None
    meta: dict[str, Any] = {
        "category": mapping.category, "fiscal_year": day.year, "period": day.month,
        "title": str(get("title") or instance.title or instance.instance_id)[:500],
        "date": day.isoformat(),
        "applicant": str(get("applicant") or instance.originator_name or
                         instance.originator_id)[:100],
        "department": str(get("department") or instance.department)[:200],
        "source_system": connector.kind, "external_id": instance.instance_id,
        "system_description": f"{connector.get_kind_display()} 审批 {instance.process_code}",
        "abstract": str(get("summary") or "")[:5000],
        "extra": {"oa": {"connector": str(connector.pk), "process_code": instance.process_code,
                         "scenario": mapping.scenario, "originator_id": instance.originator_id}},
        "agents": [{"agent_type": "个人", "name": t.actor_name or t.actor_id, "role": t.action}
                   for t in instance.trail[:50] if (t.actor_name or t.actor_id)],
    }
    if amount is not None:
        meta["amount"] = str(amount.quantize(Decimal("0.01")))
    if connector.fonds_code:
        meta["fonds"] = connector.fonds_code
    related = _names(get("related")) if fields.get("related") else set()
    meta["relations"] = [{"entity_identifier": f"{connector.kind}:{r}", "relation_type": "关联审批",
                          "relation": RELATION_LABEL[mapping.scenario],
                          "description": f"{connector.get_kind_display()} 审批 {r}"}
                         for r in sorted(related)][:20]
    return meta


def _common_files(connector: Connector, mapping: Mapping, instance: ApprovalInstance) -> tuple[
        IncomingFile, list[IncomingFile]]:
    # The PDF rendering stack: loaded on first use (see `_payment_voucher`).
    from kjda.ingest.approval_record import approval_trail_json
    from kjda.ingest.renditions import render_approval_form, render_approval_trail

    form = _file(f"{SCENARIO_LABEL[mapping.scenario]}审批单-{instance.instance_id}.pdf",
                 render_approval_form(instance, platform_label=connector.get_kind_display(),
                                      scenario_label=SCENARIO_LABEL[mapping.scenario]),
                 "审批单")
    trail = [
        _file(f"审批记录-{instance.instance_id}.pdf", render_approval_trail(instance), "审批记录"),
        _file(f"审批记录-{instance.instance_id}.json", approval_trail_json(instance),
              "审批记录数据", role="attachment"),
        _file(f"表单数据-{instance.instance_id}.json",
              json.dumps(instance_to_json(instance), ensure_ascii=False, sort_keys=True,
                         indent=1).encode(), "表单数据", role="attachment"),
    ]
    return form, trail


def build_material(*, connector: Connector, oa: OAConnector, mapping: Mapping,
                   instance: ApprovalInstance) -> Material:
    fields = dict(mapping.fields or {})
    meta = _base_metadata(connector, mapping, instance, fields)
    form, trail = _common_files(connector, mapping, instance)
    material = Material(meta)
    invoice_fields, attachment_fields = _names(fields.get("invoices")), _names(
        fields.get("attachments"))
    contract_fields = _names(fields.get("contract"))
    invoices = [a for a in instance.attachments if _in_field(a, invoice_fields)]
    contracts = [a for a in instance.attachments if _in_field(a, contract_fields)]
    others = [a for a in instance.attachments if a not in invoices and a not in contracts
              and (not attachment_fields or _in_field(a, attachment_fields) or not a.field_id)]
    scenario = mapping.scenario
    if scenario == Scenario.PAYMENT:
        material.files.append(_payment_voucher(connector, instance, fields, meta))
    material.files.append(form)
    if scenario == Scenario.CONTRACT:
        scans = contracts or [a for a in others if a.field_id]
        if not scans:
            material.missing.append("合同扫描件 / contract scan")
        material.files += [_download(oa, instance, a, "合同") for a in scans]
        others = [a for a in others if a not in scans]
    if scenario == Scenario.REIMBURSEMENT:
        if invoice_fields and not invoices:
            material.missing.append("发票 / invoice")
        material.files += [_download(oa, instance, a, "原始凭证") for a in invoices]
    material.files += [_download(oa, instance, a, "附件") for a in others]
    material.files += trail
    if material.missing:
        meta["extra"]["missing_attachments"] = material.missing
    meta["files"] = [f.meta.model_dump(exclude_none=True) for f in material.files]
    return material


def _payment_voucher(connector: Connector, instance: ApprovalInstance, fields: dict[str, str],
                     meta: dict[str, Any]) -> IncomingFile:
    # The PDF rendering stack (fonts, reportlab) is loaded when a record is first built, not
    # by every web process that imports the connectors.
    from kjda.ingest.payment_voucher import render_payment_voucher

    def get(name: str) -> str:
        value = instance.field_value(fields[name]) if fields.get(name) else None
        return "" if value is None else str(value)

    fonds = (Fonds.objects.filter(code=connector.fonds_code).first() if connector.fonds_code
             else Fonds.objects.order_by("id").first())
    voucher_no = f"付-{instance.instance_id[-12:]}"
    pdf = render_payment_voucher(
        voucher_no=voucher_no, date=date.fromisoformat(meta["date"]), payee=get("payee"),
        payee_account=get("payee_account"), amount=Decimal(meta.get("amount") or "0"),
        currency="CNY", summary=get("summary") or meta["title"], payer=fonds.unit_name if fonds
        else "", related=[r["description"] for r in meta["relations"]], approvals=instance.trail,
        company=fonds.unit_name if fonds else "")
    meta["voucher_type"] = "付"
    return _file(f"付款凭证-{voucher_no}.pdf", pdf, "记账凭证")


def archive_instance(*, connector: Connector, oa: OAConnector, mapping: Mapping,
                     instance: ApprovalInstance) -> Record:
    """File the approved instance as one record; notify the applicant and the finance owners
    when something is missing, a check fails or the claim is a duplicate."""
    material = build_material(connector=connector, oa=oa, mapping=mapping, instance=instance)
    result = record_ingest(metadata=metadata_parse(material.metadata), files=material.files,
                           actor=system_user(name=f"oa:{connector.kind}"))
    record = result.record
    relations_resolve(record=record)
    if record.status == RecordStatus.PENDING:
        _notify_pending(connector, instance, record, material)
    return record


def _notify_pending(connector: Connector, instance: ApprovalInstance, record: Record,
                    material: Material) -> None:
    failures = set(record.check_report.get("blocking_failures", []))
    if "GD-2-8" in failures:
        reason, title = "invoice_missing", "报销材料缺失，请补充"
        text = f"审批「{instance.title}」缺少：{'、'.join(material.missing)}。请补充后重新提交。"
    elif "GD-1-8" in failures:
        reason, title = "duplicate_claim", "疑似重复报销"
        text = f"审批「{instance.title}」与已归档档案重复，请核实。"
        # rendered for no reader: the first claim is not named (the OA user may be outside
        # its scope; the link leads to the record, where KJDA applies the reader's scope)
        report = check_report_for(actor=None, report=record.check_report)
        found = next((i["reason"] for i in report.get("items", [])
                      if i.get("code") == "GD-1-8"), "")
        if "重复报销" in found:  # an invoice already claimed: say which
            claimed = found.split(" / ")[0].split("：", 1)[-1].strip()
            text = f"审批「{instance.title}」中的发票已报销：{claimed}。请核实。"
    else:
        reason, title = "check_failed", "归档检测未通过"
        text = f"审批「{instance.title}」四性检测未通过：{', '.join(sorted(failures))}。"
    notice_create(connector=connector, user_ids=[instance.originator_id], reason=reason,
                  title=title, text=text, url=record_url(record.pk), todo=True,
                  record_id=record.pk, dedupe_key=f"{reason}:{record.pk}:applicant")
    notice_create(connector=connector, user_ids=list(connector.finance_owner_ids),
                  reason=reason, title=title, text=text, url=record_url(record.pk),
                  record_id=record.pk, dedupe_key=f"{reason}:{record.pk}:finance")
