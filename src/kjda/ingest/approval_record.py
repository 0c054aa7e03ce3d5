"""The approval record (审批记录) in words and as data: vendor results and actions in Chinese
(agree → 同意, start_process_instance → 发起), and the record with the instance's key data as
canonical JSON, archived beside its PDF/A rendition. No reportlab here."""

from __future__ import annotations

import json
from datetime import datetime

from kjda.ingest.types import ApprovalInstance

_RESULT_ZH = {"agree": "同意", "agreed": "同意", "approve": "同意", "approved": "同意",
              "pass": "同意", "passed": "同意", "auto_pass": "自动通过", "refuse": "拒绝",
              "refused": "拒绝", "reject": "拒绝", "rejected": "拒绝", "auto_reject": "自动拒绝",
              "redirect": "转交", "redirected": "转交", "transfer": "转交", "transferred": "转交",
              "none": "", "pending": "待处理", "new": "新建", "running": "审批中",
              "processing": "审批中", "completed": "已完成", "finished": "已完成", "done": "已办理",
              "terminated": "已终止", "canceled": "已撤销", "cancelled": "已撤销",
              "revoked": "已撤销", "reverted": "已撤销", "rollback": "退回", "returned": "退回",
              "deleted": "已删除", "cc": "抄送", "start": "发起", "comment": "评论"}
_ACTION_ZH = {"start_process_instance": "发起", "start": "发起", "execute_task_normal": "审批",
              "execute_task_agent": "代理审批", "approve": "审批", "approval": "审批",
              "process_cc": "抄送", "cc": "抄送", "add_remark": "评论", "comment": "评论",
              "redirect_task": "转交", "transfer": "转交", "add_approver": "加签",
              "terminate_process_instance": "撤销", "finish_process_instance": "结束"}


def _zh(value: str, table: dict[str, str]) -> str:
    return table.get(str(value).strip().lower(), str(value)) if value is not None else ""


def result_zh(result: str) -> str:
    """agree → 同意, refuse → 拒绝, …; unknown values are shown as they are."""
    return _zh(result, _RESULT_ZH)


def action_zh(action: str) -> str:
    return _zh(action, _ACTION_ZH)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def approval_trail_json(instance: ApprovalInstance) -> bytes:
    """The approval record and the instance's key data as canonical JSON (UTF-8, sorted keys,
    no insignificant whitespace, ISO 8601 times): same instance, same bytes."""
    data = {
        "schema": "kjda.approval_trail/1",
        "instance": {"instance_id": instance.instance_id, "process_code": instance.process_code,
                     "title": instance.title, "status": instance.status,
                     "result": instance.result, "originator_id": instance.originator_id,
                     "originator_name": instance.originator_name,
                     "department": instance.department,
                     "created_at": _iso(instance.created_at),
                     "finished_at": _iso(instance.finished_at)},
        "trail": [{"seq": i, "node": t.node, "actor_id": t.actor_id, "actor_name": t.actor_name,
                   "action": t.action, "action_zh": action_zh(t.action), "result": t.result,
                   "result_zh": result_zh(t.result), "time": _iso(t.time), "remark": t.remark}
                  for i, t in enumerate(instance.trail, 1)],
        "attachments": [{"file_id": a.file_id, "filename": a.filename, "size": a.size,
                         "field_id": a.field_id, "field_name": a.field_name}
                        for a in instance.attachments],
    }
    return json.dumps(data, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode("utf-8")
