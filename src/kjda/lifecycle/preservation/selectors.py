"""Reads of the fixity audit's results."""

from __future__ import annotations

from typing import Any

from kjda.storage.models import BlobFixity, FixityOutcome, FixityRun

# The long-term stage's prefix is believed to be BC (standards.md §5.2, unverified); the items
# mirror the archiving stage's GD-1-1 (digests) and the integrity of the stored file.
CODE_DIGEST = ("BC-1-1", "固化信息有效性检测（摘要值）", "真实性")
CODE_PRESENT = ("BC-2-1", "电子文件存储完整性检测（文件存在）", "完整性")


def fixity_open_failures(*, limit: int = 1000) -> list[BlobFixity]:
    """Blobs whose last check found a copy damaged or missing and left it so, oldest first."""
    return list(BlobFixity.objects.filter(
        outcome__in=[FixityOutcome.MISMATCH, FixityOutcome.MISSING]).order_by("verified_at")
        [:limit])


def fixity_runs(*, limit: int = 10) -> list[FixityRun]:
    """The latest finished fixity audit runs, newest first."""
    return list(FixityRun.objects.filter(finished_at__isnull=False).order_by("-started_at")
                [:limit])


def fixity_items(*, files: list[Any]) -> list[dict[str, Any]]:
    """The 长期保存 stage's check items for a record's current files (issue 19 item 1), read from
    each blob's last fixity result: BC-1-1 (digests) and BC-2-1 (present), one query. Damaged
    copies are also written into the record's check history when found (services._on_failure);
    an intact file shows its last pass here without a row per record per audit."""
    current = [f for f in files if f.superseded_at is None]
    if not current:
        return []
    last = {bf.blob_id: bf for bf in BlobFixity.objects.filter(
        blob_id__in={f.blob_id for f in current})}
    checked = [(f, last[f.blob_id]) for f in current if f.blob_id in last]
    if not checked:
        return []
    items = []
    for code, name, prop in (CODE_DIGEST, CODE_PRESENT):
        bad = [(f, bf) for f, bf in checked if _fixity_failed(bf, missing=code == CODE_PRESENT[0])]
        when = min(bf.verified_at for _, bf in checked)
        reason = (f"{len(checked)}/{len(current)} 个文件最近检测于 {when:%Y-%m-%d} / "
                  f"{len(checked)} of {len(current)} files last checked {when:%Y-%m-%d}")
        if bad:
            names = "、".join(f.filename for f, _ in bad)
            reason = (f"{names}：存储中缺失 / missing from the store" if code == CODE_PRESENT[0]
                      else f"{names}：摘要值不符 / digests differ")
        items.append({"code": code, "name": name, "property": prop,
                      "result": "fail" if bad else "pass", "blocking": False, "reason": reason,
                      "stage": "长期保存"})
    return items


def _fixity_failed(bf: BlobFixity, *, missing: bool) -> bool:
    outcomes = {bf.outcome, bf.replica_outcome}
    return (FixityOutcome.MISSING in outcomes) if missing else (FixityOutcome.MISMATCH in outcomes)
