from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from ninja import Schema
from pydantic import BaseModel


class DictOut(BaseModel):
    """A response schema filled from plain dicts (what the views build), validated by pydantic
    alone: ninja's `Schema` wraps every nested object in a `DjangoGetter` (Python attribute
    lookups per field), which cost more than the rest of a record's response."""


class CheckItemOut(DictOut):
    code: str
    name: str
    property: str
    result: str
    blocking: bool
    reason: str


class CheckReportOut(DictOut):
    stage: str = "归档"
    checked_at: str | None = None
    passed: bool = False
    blocking_failures: list[str] = []
    failures: list[str] = []
    items: list[CheckItemOut] = []
    files: list[dict] = []  # per file: signatures, OFD pages/attachments (kjda.ingest.content)


class FileOut(DictOut):
    id: int
    sequence: int
    role: str
    document_type: str
    filename: str
    size: int
    sha256: str
    sm3: str
    format: str
    format_version: str
    mime: str
    puid: str
    profile: str = ""
    pdfa: dict | None = None  # {claimed, checked_as, compliant, violations[{clause, message}]}
    derived_from: int | None = None  # a rendition: the id of the original it was made from
    content_url: str
    signatures: list[dict] = []  # each: status valid|invalid|unsupported, reason, signer, kind
    # set when the file was replaced while its record was pending: kept, no longer part of it
    superseded_at: datetime | None = None


class AgentOut(DictOut):
    agent_type: str
    name: str
    org_code: str
    position: str
    role: str


class RelationOut(DictOut):
    entity_identifier: str
    relation_type: str
    relation: str
    description: str
    target_id: int | None  # null when the target is outside your scope (target_visible false)
    target_visible: bool = True


class EventOut(DictOut):
    status: str
    action: str
    occurred_at: datetime
    mandate: str
    description: str
    agent_name: str


class RecordSummaryOut(DictOut):
    id: int
    record_no: str
    archive_no: str | None
    status: str
    fonds: str
    category: str
    category_group: str
    fiscal_year: int
    period: int | None
    title: str
    date: date
    amount: Decimal | None
    currency: str
    department: str
    applicant: str
    retention: str
    source_system: str
    external_id: str
    created_at: datetime


class RecordOut(RecordSummaryOut):
    class_code: str
    volume_no: int | None
    item_no: int | None
    retention_expires_on: date | None
    custody: str  # accounting (会计机构暂管) | archives (档案机构保管)
    custody_since: date | None
    document_no: str
    voucher_type: str
    responsible: str
    security_level: str
    preparer: str
    prepared_on: date | None
    reviewer: str
    reviewed_on: date | None
    base_currency: str
    keywords: str
    abstract: str
    notes: str
    filed_at: datetime | None
    metadata: dict
    files: list[FileOut]
    agents: list[AgentOut]
    relations: list[RelationOut]
    events: list[EventOut]
    check_report: CheckReportOut
    invoice: dict | None = None  # the first file's invoice object (kjda.invoices)
    invoices: list[dict] = []  # one per file that holds an invoice
    # the check reports a re-check replaced, oldest first: {superseded_at, status, report}
    check_history: list[dict] = []
    volume: dict | None = None  # {id, archive_no, status, title} when filed into a volume (组卷)


class RecordWithdrawIn(Schema):
    reason: str


class RecordListOut(DictOut):
    items: list[RecordSummaryOut]
    count: int


class RetentionRuleOut(Schema):
    seq: int
    name: str
    category: str
    category_code: str
    retention: str
    retention_label: str
    note: str
    aliases: list[str]


class FondsOut(Schema):
    code: str
    name: str
    unit_name: str
    arrangement: str
    archive_no_with_fonds: bool
    category_codes: dict[str, str]
