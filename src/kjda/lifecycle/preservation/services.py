"""The fixity audit as the DA/T 70 长期保存 stage (standards.md §5.2: checks "periodically or ad
hoc during storage"): `kjda.storage.services.fixity_audit` re-hashes and repairs; this adds what
the archive must do about a damaged copy, in the same transaction as the blob's result: a
长期保存检测 event and check item on every record that holds the file, and an OA notice to the
archivists and the system administrator — through an alarm (kjda.preservation.monitoring) when the
damage is left unrepaired (the dashboard alarm is `providers.fixity_todos`)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from kjda.accounts.roles import Role
from kjda.accounts.selectors import users_with_roles
from kjda.archives.models import RecordFile
from kjda.archives.services import record_check_history_add, record_event_add
from kjda.lifecycle.preservation.selectors import CODE_DIGEST, CODE_PRESENT
from kjda.lifecycle.todos import oa_todo_notify
from kjda.preservation.monitoring.models import AlarmKind, Severity
from kjda.preservation.monitoring.services import alarm_raise
from kjda.storage.models import FixityRun
from kjda.storage.services import fixity_audit

STAGE = "长期保存"
EVENT = "长期保存检测"
MANDATE = "DA/T 70-2018 长期保存阶段检测；GB/T 39784-2021"
STATUS_URL = "/system/preservation/"
_OUTCOME_TEXT = {"mismatch": "摘要值不符 / digests differ",
                 "missing": "存储中缺失 / missing from the store"}


def fixity_check(*, mode: str = "due", sample: int | None = None,
                 bytes_per_second: float | None = None) -> FixityRun:
    """Run the fixity audit now (the daily job, `kjda storage check`): its report."""
    return fixity_audit(mode=mode, sample=sample, bytes_per_second=bytes_per_second,
                        on_failure=_on_failure)


def _item(finding: dict[str, Any]) -> dict[str, Any]:
    code, name, prop = CODE_PRESENT if finding["outcome"] == "missing" else CODE_DIGEST
    copy = "主存储 / primary" if finding["copy"] == "primary" else "副本 / replica"
    memo = f"{copy}: {_OUTCOME_TEXT.get(finding['outcome'], finding['outcome'])}"
    memo += ("；已从另一副本修复并复核 / repaired from the other copy and re-verified"
             if finding["repaired"] else "；未修复 / NOT repaired")
    return {"code": code, "name": name, "property": prop,
            "result": "pass" if finding["repaired"] else "fail",
            "blocking": not finding["repaired"], "reason": memo, "sha256": finding["sha256"]}


def _on_failure(finding: dict[str, Any]) -> None:
    item = _item(finding)
    now = timezone.now()
    records = {f.record_id: f.record for f in RecordFile.objects.filter(
        blob_id=finding["sha256"]).select_related("record")}
    for record in records.values():
        record_event_add(record=record, action=EVENT, mandate=MANDATE, agent_name="系统",
                         description=f"{item['code']} {item['name']}: {item['reason']} "
                                     f"(SHA-256 {finding['sha256']})")
        record_check_history_add(record=record, by=EVENT, report={
            "stage": STAGE, "checked_at": now.isoformat(), "passed": item["result"] == "pass",
            "failures": [] if item["result"] == "pass" else [item["code"]], "items": [item]})
    if finding["copy"] == "replica" and finding["repaired"]:
        return  # the replica caught up from the primary: nothing for people to do
    state = "已修复 / repaired" if finding["repaired"] else "未修复，请处理 / NOT repaired"
    title = "长期保存检测发现文件损坏 / fixity audit found a damaged file"
    text = (f"{item['code']} {item['name']}：{len(records)} 份档案的文件 {item['reason']}；{state}"
            f" / a file of {len(records)} records failed the fixity check; {state}")
    if not finding["repaired"]:
        # Damage left is an alarm, open until acknowledged; its OA to-do goes to the archivists
        # and the system administrators once (again only after an acknowledgement).
        zh, _, en = text.partition(" / ")
        alarm_raise(kind=AlarmKind.FIXITY_DAMAGE, subject=finding["sha256"],
                    title_zh="文件损坏或缺失，未能修复",
                    title_en="a stored file is damaged or missing, not repaired",
                    detail_zh=f"{zh}（SHA-256 {finding['sha256']}）",
                    detail_en=f"{en} (SHA-256 {finding['sha256']})", severity=Severity.CRITICAL,
                    data={"sha256": finding["sha256"], "copy": finding["copy"],
                          "outcome": finding["outcome"], "records": len(records)})
        return
    oa_todo_notify(
        users=users_with_roles(roles=[Role.ARCHIVIST, Role.SYSADMIN]), title=title, text=text,
        url=STATUS_URL, dedupe_key=f"fixity:{finding['sha256']}:{finding['copy']}:{now:%Y%m%d}",
        reason="fixity_alarm", todo=False)
