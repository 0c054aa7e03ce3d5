"""Reads of what ingest stored, for the acting user: the check report (四性检测) names other
records only when the reader may see them (issue 15 item 9)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from kjda.archives import selectors as archive_selectors
from kjda.archives.models import Record
from kjda.errors import Conflict

if TYPE_CHECKING:
    from kjda.accounts.selectors import Actor

_REF = re.compile("\u27e6(\\d+)\u27e7")
# A GD-1-8 item written before the references were stored as ids names records in its text:
# for a reader whose scope is not the whole archive, it is replaced by this.
_LEGACY_REDACTED = ("与已有档案重复（详情可能涉及您权限范围外的记录，不予显示） / duplicates an "
                    "existing record (details not shown: they may name a record outside your scope)")


def check_report_for(*, actor: Actor, report: dict[str, Any] | None) -> dict[str, Any]:
    """A record's stored check report as `actor` sees it: every record a reason names (by id,
    in the item's `refs`) is rendered as its 档号 (or id) when in the actor's scope, and as
    "a record outside your scope" when not. The ids themselves are not shown."""
    report = dict(report or {})
    items = report.get("items") or []
    wanted = {i for item in items for i in item.get("refs") or []}
    visible = archive_selectors.records_visible(actor=actor, ids=wanted) if wanted else {}
    sees_all = None
    out = []
    for item in items:
        refs = item.get("refs")
        if refs:
            item = {k: v for k, v in item.items() if k != "refs"}
            item["reason"] = _render(item.get("reason", ""), refs, visible)
        elif item.get("code") == "GD-1-8" and item.get("result") != "pass" and item.get("reason"):
            if sees_all is None:
                sees_all = archive_selectors.actor_sees_all(actor=actor)
            if not sees_all:
                item = dict(item, reason=_LEGACY_REDACTED)
        out.append(item)
    report["items"] = out
    return report


def _render(reason: str, refs: list[int], visible: dict[int, Record]) -> str:
    def name(match: re.Match[str], zh: bool | None) -> str:
        i = int(match.group(1))
        r = visible.get(refs[i]) if i < len(refs) else None
        if r is not None:
            return r.archive_no or str(r.pk)
        if zh is None:
            return archive_selectors.OUT_OF_SCOPE
        return archive_selectors.OUT_OF_SCOPE_ZH if zh else archive_selectors.OUT_OF_SCOPE_EN

    if reason.count(" / ") == 1:  # 中文 / English: each side in its own language
        zh, en = reason.split(" / ")
        return (_REF.sub(lambda m: name(m, True), zh) + " / "
                + _REF.sub(lambda m: name(m, False), en))
    return _REF.sub(lambda m: name(m, None), reason)


def existing_record_for(*, actor: Actor, record: Record) -> Record:
    """The record an upload's (source_system, external_id) was filed under before, read in the
    actor's scope; outside it, a 409 that names it only as "a record outside your scope"."""
    visible = archive_selectors.records_visible(actor=actor, ids=[record.pk])
    if record.pk not in visible:
        raise Conflict("external_id_taken",
                       f"该来源系统与外部编号已由{archive_selectors.OUT_OF_SCOPE_ZH}使用",
                       "this source_system and external_id are already used by "
                       f"{archive_selectors.OUT_OF_SCOPE_EN}")
    return archive_selectors.record_get(actor=actor, record_id=record.pk)
