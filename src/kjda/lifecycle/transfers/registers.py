"""The 会计档案移交清册 (79号令 Art.12, with the columns of Art.24 plus count and bytes) and the
会计档案保管清册 (Art.10) as `kjda.lifecycle.registers.Register`s."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from django.db.models import Count, Sum
from django.utils import timezone

from kjda.archives.models import Fonds, Record, RecordFile
from kjda.lifecycle.destruction.selectors import holds_of_records
from kjda.lifecycle.registers import Column, Register, Signature
from kjda.lifecycle.transfers.models import Decision, Side, TransferBatch, TransferItem
from kjda.lifecycle.transfers.selectors import custody_deadline, custody_records

TRANSFER_COLUMNS = [
    Column("序号", 0.5, "center"), Column("名称", 3.2), Column("卷号", 1.6),
    Column("册数", 0.6, "center"), Column("起止年度", 1.0, "center"), Column("档案编号", 2.2),
    Column("应保管期限", 0.9, "center"), Column("已保管期限", 0.9, "center"),
    Column("文件数", 0.6, "right"), Column("字节数", 1.0, "right"),
]
CUSTODY_COLUMNS = [
    Column("序号", 0.5, "center"), Column("档案编号", 2.2), Column("名称", 3.2),
    Column("卷号", 1.6), Column("应保管期限", 0.9, "center"), Column("已保管期限", 0.9, "center"),
    Column("保管机构", 1.1), Column("保管起始日", 1.0, "center"), Column("文件数", 0.6, "right"),
    Column("字节数", 1.0, "right"),
]


def _files_of(record_ids: list[int]) -> dict[int, tuple[int, int]]:
    rows = (RecordFile.objects.filter(record_id__in=record_ids).values("record_id")
            .annotate(n=Count("id"), b=Sum("size")))
    return {r["record_id"]: (r["n"], r["b"] or 0) for r in rows}


def _kept(record: Record, on: date) -> str:
    years = max(0, on.year - record.fiscal_year)
    return f"{years}年"


def _volume_no(record: Record) -> str:
    if record.volume_id and record.volume is not None:
        return record.volume.archive_no or str(record.volume.volume_no or "")
    return str(record.volume_no or "")


def _item_rows(items: list[TransferItem], on: date) -> list[list[Any]]:
    files = _files_of([i.record_id for i in items])
    rows = []
    for n, item in enumerate(items, 1):
        r = item.record
        count, size = files.get(r.pk, (0, 0))
        rows.append([n, r.title, _volume_no(r), 1, f"{r.fiscal_year}—{r.fiscal_year}",
                     r.archive_no or "", r.get_retention_display(), _kept(r, on), count, size])
    return rows


def transfer_register(batch: TransferBatch, *, final: bool) -> Register:
    """The batch's 移交清册: every item offered (what the accounting side signs on submit) or,
    `final`, the items accepted (what the archives side signs), the rejected ones listed below."""
    items = list(batch.items.select_related("record", "record__volume").order_by("pk"))
    on_dt = batch.submitted_at or timezone.now()
    on = timezone.localdate(on_dt)
    listed = [i for i in items if i.decision == Decision.ACCEPTED] if final else items
    rows = _item_rows(listed, on)
    rejected = [i for i in items if i.decision == Decision.REJECTED] if final else []
    sigs = {s.side: s for s in batch.signatures.all()}
    signatures = []
    for side, label in ((Side.ACCOUNTING, "移交方（会计机构）"), (Side.ARCHIVES, "接收方（档案机构）")):
        s = sigs.get(side)
        signatures.append(Signature(label, f"{s.name}（{s.role}）" if s else "",
                                    s.signed_at if s else None, s.opinion if s else ""))
    extra: list[tuple[str, str]] = []
    if rejected:
        extra.append(("退回条目", "；".join(f"{i.record.archive_no}：{i.reason}" for i in rejected)))
    for s in sigs.values():
        if s.signature:
            extra.append((f"{s.get_side_display()}电子签名（{s.signature.get('algorithm')}）",
                          f"清册摘要 {s.digest}；签名 {s.signature.get('signature', '')[:64]}…；"
                          f"公钥指纹 {s.signature.get('key_fingerprint', '')[:16]}"))
    return Register(
        title="会计档案移交清册", columns=TRANSFER_COLUMNS, rows=rows,
        particulars=[("全宗", f"{batch.fonds.code} {batch.fonds.name}"),
                     ("移交批次", batch.number), ("会计年度", str(batch.fiscal_year)),
                     ("移交日期", on.isoformat())],
        summary=[("共计", f"{len(rows)} 件"), ("文件", f"{sum(r[8] for r in rows)} 个"),
                 ("字节数", str(sum(r[9] for r in rows)))],
        signatures=signatures, extra_sections=extra, created=on_dt,
        notes="电子会计档案连同元数据一并移交（《会计档案管理办法》第十二条）")


def _custody_rows(records: Iterable[Record], on: date) -> Iterable[list[Any]]:
    batch: list[Record] = []
    n = 0

    def flush() -> Iterable[list[Any]]:
        nonlocal n
        files = _files_of([r.pk for r in batch])
        for r in batch:
            n += 1
            count, size = files.get(r.pk, (0, 0))
            yield [n, r.archive_no or "", r.title, _volume_no(r), r.get_retention_display(),
                   _kept(r, on), r.get_custody_display(), r.custody_since, count, size]

    for record in records:
        batch.append(record)
        if len(batch) >= 1000:
            yield from flush()
            batch = []
    yield from flush()


def custody_register(fonds: Fonds, fiscal_year: int) -> Register:
    """What the fonds holds of `fiscal_year`, with who holds it (the 会计档案保管清册)."""
    now = timezone.now()
    on = timezone.localdate(now)
    records = custody_records(fonds=fonds, fiscal_year=fiscal_year)
    held = records.filter(custody="archives").count()
    total = records.count()
    # Art.19: what a hold keeps from destruction is listed in the 保管清册 too, with the hold
    holds = holds_of_records(record_ids=list(records.values_list("pk", flat=True)))
    kept = [f"{r.archive_no or r.record_no}  {r.title}  "
            + "；".join(f"{h.number} {h.get_kind_display()}：{h.reason}" for h in holds[r.pk])
            for r in records.filter(pk__in=holds).order_by("archive_no", "pk")]
    sections = [("保全中的档案（第十九条：不得销毁，单独转存保管）", "\n".join(kept))] if kept else []
    return Register(
        title="会计档案保管清册", columns=CUSTODY_COLUMNS,
        rows=list(_custody_rows(records.iterator(chunk_size=1000), on)),
        particulars=[("全宗", f"{fonds.code} {fonds.name}"), ("会计年度", str(fiscal_year)),
                     ("编制日期", on.isoformat())],
        summary=[("共计", f"{total} 件"), ("档案机构保管", f"{held} 件"),
                 ("会计机构暂管", f"{total - held} 件"),
                 ("暂管期满日", custody_deadline(fonds, fiscal_year).isoformat()),
                 ("保全中", f"{len(kept)} 件")],
        extra_sections=tuple(sections), created=now)
