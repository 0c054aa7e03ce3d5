"""What the record page and the dashboard show of the hand-over."""

from __future__ import annotations

from kjda.accounts.selectors import actor_profile, actor_roles
from kjda.archives.models import Custody, Record, RecordStatus, Volume
from kjda.lifecycle.mentions import Mention
from kjda.lifecycle.todos import Actor, Todo
from kjda.lifecycle.transfers.models import CustodyNotice, Decision, TransferBatch
from kjda.lifecycle.transfers.selectors import OPEN_STATES, custody_deadline, transfers_of_record
from kjda.lifecycle.transfers.workflow import ACCOUNTING_ROLES, ARCHIVES_ROLES, TRANSFER


def record_mentions(record: Record) -> list[Mention]:
    out = [Mention("custody", f"保管：{record.get_custody_display()}",
                   f"自 {record.custody_since}" if record.custody_since else
                   f"暂管期至 {custody_deadline(record.fonds_id, record.fiscal_year)}")]
    for item in transfers_of_record(record):
        state = (item.get_decision_display() if item.decision != Decision.UNDECIDED
                 else TRANSFER.state_label(item.batch.state))
        if item.decision == Decision.REJECTED and item.reason:
            state += f"：{item.reason}"
        out.append(Mention("transfer", f"会计档案移交清册 {item.batch.number}", state,
                           f"/transfers/{item.batch_id}/", item.batch.created_at))
    # the latest 保管清册 filed for the record's fonds and year lists it too
    prefix = f"custody-register:{record.fonds.code}:{record.fiscal_year}:"
    register = (Record.objects.filter(source_system="kjda", external_id__startswith=prefix)
                .only("pk", "archive_no", "filed_at").order_by("-pk").first())
    if register is not None:
        out.append(Mention("custody_register", f"会计档案保管清册 {register.archive_no or ''}",
                           "已归档", f"/records/{register.pk}/", register.filed_at))
    return out


def volume_mentions(volume: Volume) -> list[Mention]:
    """The transfers that carried any record of `volume`."""
    batches = (TransferBatch.objects.filter(items__record__volume=volume).distinct()
               .order_by("pk"))
    return [Mention("transfer", f"会计档案移交清册 {b.number}", TRANSFER.state_label(b.state),
                    f"/transfers/{b.pk}/", b.created_at) for b in batches]


def todos(actor: Actor) -> list[Todo]:
    roles = actor_roles(actor)
    if "cashier" in roles:
        return []
    qs = TransferBatch.objects.filter(state__in=OPEN_STATES).select_related("fonds")
    scope = actor_profile(actor).fonds
    if scope:
        qs = qs.filter(fonds__code__in=scope)
    out = []
    for batch in qs:
        steps = [t for t in TRANSFER.allowed(state=batch.state, roles=roles)
                 if t.name not in ("cancel", "reject", "accept_partially")]
        if steps:
            out.append(Todo("transfer", f"{steps[0].label}：{batch.number}",
                            f"/transfers/{batch.pk}/", batch.created_at))
    if roles & (ACCOUNTING_ROLES | ARCHIVES_ROLES):
        out += _custody_todos(scope)
    return out


def _custody_todos(scope: list[str]) -> list[Todo]:
    """Years whose temporary custody ran out (a notice was raised) with records still held by
    the accounting department."""
    notices = CustodyNotice.objects.select_related("fonds").order_by("fiscal_year")
    if scope:
        notices = notices.filter(fonds__code__in=scope)
    out = []
    seen: set[tuple[int, int]] = set()
    for n in notices:
        key = (n.fonds_id, n.fiscal_year)
        if key in seen:
            continue
        seen.add(key)
        if Record.objects.filter(fonds_id=n.fonds_id, fiscal_year=n.fiscal_year,
                                 status=RecordStatus.FILED,
                                 custody=Custody.ACCOUNTING).exists():
            out.append(Todo("custody", f"{n.fonds.code} {n.fiscal_year} 年度会计档案暂管期满"
                            f"（{n.due}），请移交档案机构",
                            f"/transfers/new/?fonds={n.fonds.code}&year={n.fiscal_year}",
                            n.raised_at))
    return out
