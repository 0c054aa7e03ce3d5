"""The 会计档案鉴定意见书 (79号令 Art.16) as a register: the items with their outcome, the counts,
the four functions' opinions as signatures, and (through a hook) the items held back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from django.utils import timezone

from kjda.archives.models import retention_label
from kjda.lifecycle.appraisal.models import AppraisalBatch, Outcome, Side
from kjda.lifecycle.registers import Column, Register, Signature

TITLE = "会计档案鉴定意见书"
COLUMNS = [Column("序号", 0.5, "center"), Column("档号", 2.2), Column("题名", 3),
           Column("年度", 0.6, "center"), Column("应保管期限", 0.9, "center"),
           Column("保管期满日", 1), Column("鉴定结论", 0.9, "center"),
           Column("新保管期限", 0.9, "center"), Column("理由", 2)]

# Items held back from destruction (Art.19: 未结清的债权债务, 未了事项 …) must be listed in the
# 鉴定意见书. Holds belong to the destruction app above this one's peers; it registers a
# provider here: batch → [(档号, 题名, 理由)].
HeldItems = Callable[[AppraisalBatch], list[tuple[str, str, str]]]
_HELD: list[HeldItems] = []


def appraisal_held_items_provider(fn: HeldItems) -> HeldItems:
    if fn not in _HELD:
        _HELD.append(fn)
    return fn


def _rows(batch: AppraisalBatch) -> list[list[object]]:
    rows: list[list[object]] = []
    for n, item in enumerate(batch.items.select_related("record", "volume").order_by("id"), 1):
        if item.record is not None:
            r = item.record
            ident, title, year, term = (r.archive_no or str(r.record_no), r.title, r.fiscal_year,
                                        r.retention)
        else:
            v = item.volume
            assert v is not None
            ident, title, year, term = v.archive_no or v.title, v.title, v.fiscal_year, v.retention
        rows.append([n, ident, title, year, retention_label(term), item.expired_on,
                     Outcome(item.outcome).label if item.outcome else "待定",
                     retention_label(item.new_retention) if item.new_retention else "",
                     item.reason])
    return rows


def appraisal_register(batch: AppraisalBatch, *,
                       held: Sequence[tuple[str, str, str]] | None = None,
                       created: datetime | None = None) -> Register:
    rows = _rows(batch)
    destroy = sum(1 for r in rows if r[6] == Outcome.DESTROY.label)
    keep = sum(1 for r in rows if r[6] == Outcome.KEEP.label)
    opinions = {o.side: o for o in batch.opinions.select_related("user")}
    signatures = []
    for side in Side:
        o = opinions.get(side)
        signatures.append(Signature(
            str(side.label), (o.user.get_full_name() or o.user.get_username()) if o else "",
            o.signed_at if o else None, o.opinion if o else ""))
    if held is None:
        held = [h for provider in _HELD for h in provider(batch)]
    sections: list[tuple[str, str]] = []
    if held:
        sections.append(("不得销毁的档案（第十九条：单独抽出、单独转存保管）",
                         "\n".join(f"{a}  {t}  {why}" for a, t, why in held)))
    return Register(
        title=TITLE, columns=COLUMNS, rows=rows,
        particulars=[("全宗", f"{batch.fonds.code} {batch.fonds.name}"), ("鉴定编号", batch.number),
                     ("鉴定日期", (batch.decided_at or timezone.now()).date().isoformat())],
        summary=[("共鉴定", f"{len(rows)} 项"), ("销毁", f"{destroy} 项"),
                 ("继续保管", f"{keep} 项"), ("不得销毁", f"{len(held)} 项")],
        signatures=signatures, extra_sections=tuple(sections),
        notes="依据《会计档案管理办法》第十六、十七条，由档案管理机构牵头，会同会计、审计、纪检监察机构共同鉴定。",
        created=created or batch.decided_at or batch.created_at)
