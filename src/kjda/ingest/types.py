"""Data shared by ingest and the layers above it, defined here so that ingest never imports them:
the approval data an OA connector fetches (`kjda.connectors.base` re-uses these classes) and
ingest renders and files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class FormField:
    """One form control. `value` is normalised: str, Decimal for money/number, list for
    multi-values; `raw` keeps the vendor's own shape."""

    id: str
    name: str
    value: Any
    kind: str = ""  # vendor component type, e.g. DDAttachment, Money, attachmentV2
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AttachmentRef:
    file_id: str
    filename: str
    size: int | None = None
    field_id: str = ""  # the form field it came from ("" for comment/trail attachments)
    field_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # spaceId, a download URL, …


@dataclass(frozen=True)
class TrailEntry:
    """One step of the approval record (审批记录)."""

    actor_id: str
    actor_name: str
    action: str  # e.g. 发起 / 审批 / 抄送
    result: str  # e.g. agree / refuse / none
    time: datetime | None
    remark: str = ""
    node: str = ""


@dataclass(frozen=True)
class ApprovalInstance:
    instance_id: str
    process_code: str
    title: str
    status: str
    result: str
    originator_id: str
    originator_name: str = ""
    department: str = ""
    created_at: datetime | None = None
    finished_at: datetime | None = None
    fields: list[FormField] = field(default_factory=list)
    attachments: list[AttachmentRef] = field(default_factory=list)
    trail: list[TrailEntry] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    # Set when this instance is itself the reversal of another one (DingTalk: an agreed
    # instance with bizAction REVOKE reverts its mainProcessInstanceId): the pipeline marks
    # that instance's record revoked instead of archiving this one.
    reverts_instance_id: str = ""

    def field_value(self, name_or_id: str) -> Any:
        for f in self.fields:
            if name_or_id in (f.id, f.name):
                return f.value
        return None

    def amount(self, name_or_id: str) -> Decimal | None:
        value = self.field_value(name_or_id)
        if value in (None, ""):
            return None
        try:
            return Decimal(str(value).replace(",", "").replace("¥", "").strip())
        except ArithmeticError:
            return None
