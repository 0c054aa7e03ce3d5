"""The data ingest's modules share, in one module that imports none of them:
- the approval data an OA connector fetches and ingest renders and files (`kjda.connectors.base`
  re-exports these classes, so ingest never imports connectors);
- the files, check results and context that the pipeline's steps and checks pass around
  (`kjda.ingest.pipeline` runs them; the checks need not import the pipeline).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from django.core.files.uploadedfile import InMemoryUploadedFile

from kjda.formats import FormatInfo, Probe

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from kjda.archives.models import Fonds, Record, RetentionRule
    from kjda.ingest.metadata import FileMetaIn, RecordMetadata


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


# Extensions we expect for each identified format; a mismatch is a GD-1-9 failure.
_EXTENSIONS = {
    "pdf": {".pdf"}, "pdfa": {".pdf"}, "ofd": {".ofd"}, "xml": {".xml"}, "xbrl": {".xml", ".xbrl"},
    "jpeg": {".jpg", ".jpeg", ".jpe"}, "png": {".png"}, "tiff": {".tif", ".tiff"},
    "txt": {".txt", ".csv", ".log", ""}, "json": {".json"}, "zip": {".zip"},
    "docx": {".docx"}, "xlsx": {".xlsx"}, "pptx": {".pptx"}, "odt": {".odt"}, "ods": {".ods"},
    "odp": {".odp"}, "doc": {".doc", ".wps"}, "xls": {".xls", ".et"}, "ppt": {".ppt", ".dps"},
}  # (.wps/.et/.dps: WPS Office writes the same OLE2 streams as Word, Excel and PowerPoint)
# Content types that say nothing about the format (text/plain is many HTTP clients' default for
# any file), and the aliases senders use.
_VAGUE_MIMES = {"", "application/octet-stream", "binary/octet-stream", "application/x-download",
                "application/force-download", "application/unknown", "text/plain"}
_MIME_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png",
                 "application/x-pdf": "application/pdf", "text/xml": "application/xml",
                 "image/tif": "image/tiff", "application/x-zip-compressed": "application/zip",
                 "application/x-ofd": "application/ofd", "text/json": "application/json"}


def mime_agrees(declared: str, fmt: FormatInfo) -> bool:
    """Whether a sender's Content-Type fits the content: vague types always do, a ZIP type fits
    any ZIP-based format (OFD, Office), XML types fit XML dialects."""
    mime = declared.split(";")[0].strip().lower()
    mime = _MIME_ALIASES.get(mime, mime)
    if mime in _VAGUE_MIMES or mime == fmt.mime:
        return True
    if mime == "application/zip":
        return fmt.name in {"zip", "ofd", "docx", "xlsx", "pptx", "odt", "ods", "odp"}
    if mime in {"application/xml", "application/xbrl+xml"} or mime.endswith("+xml"):
        return fmt.name in {"xml", "xbrl"}
    if fmt.name == "txt":  # text/csv, text/markdown…; Windows browsers call CSV an Excel file
        return mime.startswith("text/") or mime == "application/vnd.ms-excel"
    return False


@dataclass
class IncomingFile:
    stream: BinaryIO
    filename: str
    meta: FileMetaIn
    sha256: str = ""
    sm3: str = ""
    invoice: dict[str, Any] | None = None  # kjda.invoices: the invoice object, when the file holds one
    size: int = 0
    stored_sha256: str = ""  # what the store computed on writing (its Blob row is added on filing)
    format: FormatInfo = field(default_factory=lambda: FormatInfo("unknown", ""))
    probe: Probe = field(default_factory=lambda: Probe(readable=False))
    text: str = ""
    declared_mime: str = ""  # the Content-Type the sender gave the file, if any
    derived_from: int | None = None  # a rendition: index of its original in the record's files
    rendition_note: str = ""  # why a long-term rendition was not made, when one was needed
    signatures: list[dict[str, Any]] = field(default_factory=list)  # see kjda.ingest.signatures
    details: dict[str, Any] = field(default_factory=dict)  # what was read inside (OFD pages, attachments…)

    def __post_init__(self) -> None:
        # An upload held in memory is read directly: pikepdf reads a PDF in hundreds of small
        # seeks and reads, and each through Django's File proxy is a Python-level call.
        if isinstance(self.stream, InMemoryUploadedFile) and self.stream.file is not None:
            self.stream = cast(BinaryIO, self.stream.file)  # a BytesIO

    @property
    def mime_mismatch(self) -> bool:
        return bool(self.declared_mime) and not mime_agrees(self.declared_mime, self.format)

    @property
    def extension_mismatch(self) -> bool:
        ext = os.path.splitext(self.filename)[1].lower()
        expected = _EXTENSIONS.get(self.format.name)
        return expected is not None and ext not in expected and bool(ext)


@dataclass
class CheckResult:
    code: str
    name: str
    property: str
    result: str
    blocking: bool
    reason: str = ""
    # Other records the reason names, as ids: the reason holds REF(i) where refs[i] goes, and
    # kjda.ingest.selectors.check_report_for renders each for the reader (a record outside
    # their scope is never named). Stored as ids because readers of one report differ in scope.
    refs: list[int] | None = None

    def as_dict(self) -> dict:
        # By hand: dataclasses.asdict deep-copies, and every record stores ~30 of these.
        out = {"code": self.code, "name": self.name, "property": self.property,
               "result": self.result, "blocking": self.blocking, "reason": self.reason}
        if self.refs:
            out["refs"] = self.refs
        return out


@dataclass
class IngestContext:
    metadata: RecordMetadata
    files: list[IncomingFile]
    fonds: Fonds
    rule: RetentionRule
    actor: User | None = None
    values: dict[str, Any] = field(default_factory=dict)
    results: list[CheckResult] = field(default_factory=list)
    duplicate_document_of: int | None = None  # the record's id
    same_content_records: list[int] = field(default_factory=list)
    duplicate_claims: dict[str, Record] = field(default_factory=dict)  # invoice identity → first record
    record: Record | None = None
