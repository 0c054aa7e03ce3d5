"""What the dashboard and the record/volume pages show of appraisal: to-dos (expired records
waiting for an appraisal, batches waiting on this user) and the batches an item is in."""

from __future__ import annotations

from kjda.accounts.roles import Role
from kjda.accounts.selectors import actor_roles
from kjda.archives.models import Record, Volume
from kjda.lifecycle.appraisal import selectors
from kjda.lifecycle.appraisal.models import AppraisalItem, ExpiryScan, Outcome
from kjda.lifecycle.appraisal.register import TITLE
from kjda.lifecycle.appraisal.workflow import APPRAISAL
from kjda.lifecycle.mentions import Mention
from kjda.lifecycle.todos import Actor, Todo


def appraisal_todos(actor: Actor) -> list[Todo]:
    roles = actor_roles(actor)
    todos: list[Todo] = []
    if roles & {Role.ARCHIVIST, Role.ARCHIVES_HEAD}:
        latest = {}
        for scan in ExpiryScan.objects.select_related("fonds").order_by("scanned_on"):
            latest[scan.fonds_id] = scan
        for scan in latest.values():
            if scan.records_expired or scan.volumes_expired:
                todos.append(Todo("appraisal", f"{scan.fonds.code} 有 {scan.records_expired} 件、"
                                  f"{scan.volumes_expired} 卷会计档案保管期满，待鉴定",
                                  f"/appraisals/expired/?fonds={scan.fonds.code}",
                                  scan.created_at))
    for batch in selectors.appraisal_list(actor=actor).filter(state__in=selectors.OPEN_STATES):
        steps = selectors.appraisal_next_steps(actor=actor, batch=batch)
        if steps:
            todos.append(Todo("appraisal", f"{steps[0]['label']} {batch.number}",
                              f"/appraisals/{batch.pk}/", batch.submitted_at or batch.created_at))
    return todos


def _mention(item: AppraisalItem) -> Mention:
    b = item.batch
    outcome = f"（{Outcome(item.outcome).label}）" if item.outcome else ""
    return Mention("appraisal", f"{TITLE} {b.number}", f"{APPRAISAL.state_label(b.state)}{outcome}",
                   f"/appraisals/{b.pk}/", b.decided_at or b.created_at)


def record_mentions(record: Record) -> list[Mention]:
    items = AppraisalItem.objects.select_related("batch").filter(record=record)
    if record.volume_id:
        items = items | AppraisalItem.objects.select_related("batch").filter(
            volume_id=record.volume_id)
    return [_mention(i) for i in items.order_by("id")]


def volume_mentions(volume: Volume) -> list[Mention]:
    return [_mention(i) for i in AppraisalItem.objects.select_related("batch")
            .filter(volume=volume).order_by("id")]
