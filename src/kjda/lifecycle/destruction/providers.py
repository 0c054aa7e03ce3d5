"""What the record and volume pages and the dashboard show of holds and destruction."""

from __future__ import annotations

from django.utils import timezone

from kjda.accounts.selectors import actor_roles
from kjda.archives.models import Record, Volume
from kjda.lifecycle.appraisal.models import AppraisalBatch
from kjda.lifecycle.destruction.flow import ARCHIVES_SIDE, SIGNATORY_ROLES, WITNESS_ROLES
from kjda.lifecycle.destruction.models import (
    DestructionItem,
    DestructionState,
    Hold,
    HoldState,
    Signatory,
    Witness,
)
from kjda.lifecycle.destruction.selectors import holds_of_record, holds_of_records, holds_of_volume
from kjda.lifecycle.mentions import Mention
from kjda.lifecycle.todos import Actor, Todo


def _hold_mention(hold: Hold) -> Mention:
    state = (f"保全至复核日 {hold.review_on:%Y-%m-%d}" if hold.state == HoldState.ACTIVE
             else f"已解除：{hold.release_reason}")
    return Mention(workflow="hold", label=f"保全 {hold.number}（{hold.get_kind_display()}）",
                   state=state, url=f"/holds/{hold.pk}/", when=hold.created_at)


def record_mentions(record: Record) -> list[Mention]:
    out = [_hold_mention(h) for h in holds_of_record(record)]
    for item in DestructionItem.objects.filter(record=record).select_related("batch"):
        b = item.batch
        out.append(Mention(workflow="destruction", label=f"会计档案销毁清册 {b.number}",
                           state=f"{b.get_state_display()} · {item.get_state_display()}",
                           url=f"/destructions/{b.pk}/", when=b.created_at))
    return out


def volume_mentions(volume: Volume) -> list[Mention]:
    return [_hold_mention(h) for h in holds_of_volume(volume)]


def destruction_todos(actor: Actor) -> list[Todo]:
    """Signatures and witnessing waiting on the actor, batches to submit or execute, and holds
    of theirs whose review date has come."""
    from kjda.lifecycle.destruction.models import DestructionBatch

    roles = actor_roles(actor)
    todos: list[Todo] = []
    open_batches = DestructionBatch.objects.filter(
        state__in=[DestructionState.DRAFT, DestructionState.UNDER_APPRAISAL,
                   DestructionState.SIGNED]).prefetch_related("signatures", "witnesses")
    for b in open_batches:
        url = f"/destructions/{b.pk}/"
        if b.state == DestructionState.DRAFT and roles & ARCHIVES_SIDE:
            todos.append(Todo("destruction", f"提交会计档案销毁清册 {b.number}", url, b.created_at))
        elif b.state == DestructionState.UNDER_APPRAISAL:
            signed = {s.capacity for s in b.signatures.all()}
            if any(s.user_id == actor.pk for s in b.signatures.all()):
                continue
            for capacity, label in Signatory.choices:
                if capacity not in signed and roles & SIGNATORY_ROLES[capacity]:
                    todos.append(Todo("destruction", f"以{label}身份签署销毁清册 {b.number}", url,
                                      b.submitted_at))
                    break
        elif b.state == DestructionState.SIGNED:
            witnessed = {w.capacity for w in b.witnesses.all()}
            if len(witnessed) == len(Witness.values):
                if roles & ARCHIVES_SIDE:
                    todos.append(Todo("destruction", f"执行销毁 {b.number}", url, b.signed_at))
                continue
            if any(w.user_id == actor.pk for w in b.witnesses.all()):
                continue
            for capacity, label in Witness.choices:
                if capacity not in witnessed and roles & WITNESS_ROLES[capacity]:
                    todos.append(Todo("destruction", f"以{label}身份监销 {b.number}", url,
                                      b.signed_at))
                    break
    due = Hold.objects.filter(state=HoldState.ACTIVE, owner_id=actor.pk,
                              review_on__lte=timezone.localdate())
    todos.extend(Todo("hold", f"复核保全 {h.number}（{h.get_kind_display()}）",
                      f"/holds/{h.pk}/", h.created_at) for h in due)
    return todos


def appraisal_held_items(batch: AppraisalBatch) -> list[tuple[str, str, str]]:
    """The items of an appraisal that holds keep back (Art.19: listed in the 鉴定意见书), as
    (档号, 题名, 理由)."""
    records = {r.pk: r for r in Record.objects.filter(appraisal_items__batch=batch)}
    records.update({r.pk: r for r in Record.objects.filter(
        volume__in=batch.items.filter(volume__isnull=False).values("volume"))})
    held = holds_of_records(record_ids=list(records))
    return [(records[rid].archive_no or str(records[rid].record_no), records[rid].title,
             "；".join(f"{h.number} {h.get_kind_display()}：{h.reason}" for h in holds))
            for rid, holds in sorted(held.items())]
