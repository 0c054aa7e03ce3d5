"""The metadata an integrator sends with a record, validated before anything is stored.

Field names are the model field names (`fonds`, `category`, `fiscal_year`, `title`, …). Structural
problems (bad JSON, wrong types, unknown category, future fiscal year, too long to store) are
refused with a 4xx; problems with the content itself are found by the 四性 checks and keep the
record pending.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kjda.errors import DomainError
from kjda.inputs import json_check, json_loads

# The field `date` (M14) hides the type inside RecordMetadata: later fields name it this way.
_Date = date

Str50 = Annotated[str, Field(max_length=50)]
Str100 = Annotated[str, Field(max_length=100)]
Str200 = Annotated[str, Field(max_length=200)]
Str500 = Annotated[str, Field(max_length=500)]


class AgentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agent_type: Literal["单位", "内设机构", "个人"] = "个人"
    name: Str200
    org_code: Str50 = ""
    position: Str100 = ""
    role: Str50 = ""


class RelationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entity_identifier: Str200
    relation_type: Str50
    relation: Str50 = ""
    description: Str500 = ""


FileRole = Literal["original", "rendition", "signature", "attachment"]


class FileMetaIn(BaseModel):
    """Per-file metadata, matched to the uploaded files by position."""

    model_config = ConfigDict(extra="forbid")
    role: FileRole = "original"
    document_type: Str50 = ""
    filename: Annotated[str, Field(max_length=255)] | None = None
    size: int | None = Field(default=None, ge=0)
    sha256: Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")] | None = None
    format: Str50 | None = None
    creating_application: Str200 = ""


class RecordMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    fonds: Annotated[str, Field(min_length=4, max_length=4)] | None = None
    category: Str100
    fiscal_year: int = Field(ge=1900, le=9999)
    period: int | None = Field(default=None, ge=1, le=12)
    title: Annotated[str, Field(min_length=1, max_length=500)]
    date: date
    amount: Decimal | None = Field(default=None, max_digits=18, decimal_places=2)
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "CNY"
    base_currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "CNY"
    department: Str200 = ""
    applicant: Str100 = ""
    source_system: Str50 = ""
    external_id: Str200 = ""
    # Y, D<years> (D30, D10, 附表2's D2, a local D50) or FA5; checked against the rule in ingest
    retention: Annotated[str, Field(pattern=r"^(?:Y|D[1-9]\d{0,2}|FA5)$")] | None = None
    asset_disposed_on: _Date | None = None
    document_no: Str100 = ""
    voucher_type: Annotated[str, Field(max_length=10)] = ""
    responsible: Str200 = ""
    preparer: Str100 = ""
    prepared_on: _Date | None = None
    reviewer: Str100 = ""
    reviewed_on: _Date | None = None
    security_level: Literal["公开", "限制", "秘密", "机密", "绝密"] = "公开"
    secrecy_period: Str50 = ""
    org_unit: Str50 = ""
    catalogue_no: Annotated[str, Field(max_length=20)] = ""
    page_no: Annotated[str, Field(max_length=20)] = ""
    parallel_title: Str500 = ""
    subtitle: Str500 = ""
    title_note: Str500 = ""
    descriptors: Str500 = ""
    keywords: Str500 = ""
    person_names: Str500 = ""
    abstract: Annotated[str, Field(max_length=5000)] = ""
    classification_no: Str50 = ""
    genre: Str50 = ""
    urgency: Annotated[str, Field(max_length=20)] = ""
    main_recipient: Str200 = ""
    copy_recipient: Str200 = ""
    page_count: int | None = Field(default=None, ge=0)
    language: Annotated[str, Field(max_length=20)] = "汉语"
    manuscript: Annotated[str, Field(max_length=20)] = ""
    system_description: Str500 = ""
    digitized_form: Str100 = ""
    scan_resolution: Annotated[str, Field(max_length=20)] = ""
    scan_color_mode: Literal["", "黑白二值", "灰度", "彩色"] = ""
    image_compression: Str50 = ""
    offline_carrier_no: Str100 = ""
    offline_carrier_location: Str200 = ""
    microform_no: Str50 = ""
    ip_statement: Str500 = ""
    authorized_agent: Str200 = ""
    authorized_action: Literal["", "公布", "复制", "浏览", "解密", "其他"] = ""
    control_flag: Literal["", "开放", "控制", "其他"] = ""
    notes: Annotated[str, Field(max_length=5000)] = ""
    agents: list[AgentIn] = Field(default_factory=list, max_length=100)
    relations: list[RelationIn] = Field(default_factory=list, max_length=100)
    files: list[FileMetaIn] = Field(default_factory=list, max_length=200)
    file_count: int | None = Field(default=None, ge=0)
    total_bytes: int | None = Field(default=None, ge=0)
    extra: dict = Field(default_factory=dict)

    @field_validator("fiscal_year")
    @classmethod
    def _not_in_future(cls, value: int) -> int:
        if value > timezone.localdate().year:
            raise ValueError(f"会计年度 {value} 在未来 / fiscal year {value} is in the future")
        return value


def metadata_parse(raw: str | bytes | dict | None) -> RecordMetadata:
    if raw is None or raw == "" or raw == b"":
        raise DomainError("metadata_missing", "缺少元数据（metadata 字段）",
                          "metadata is missing (form field `metadata`)")
    if isinstance(raw, (str, bytes)):
        data = json_loads(raw, what=("元数据", "metadata"), malformed="metadata_malformed")
    else:
        data = json_check(raw, what=("元数据", "metadata"))
    if not isinstance(data, dict):
        raise DomainError("metadata_malformed", "元数据必须是 JSON 对象",
                          "metadata must be a JSON object")
    try:
        return RecordMetadata.model_validate(data)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in err["loc"]), "error": err["msg"]}
            for err in exc.errors()
        ]
        listing = "; ".join(f"{p['field']}: {p['error']}" for p in problems)
        raise DomainError("metadata_invalid", f"元数据不合法：{listing}",
                          f"invalid metadata: {listing}", status=422,
                          detail={"errors": problems}) from exc


def metadata_file_parse(raw: dict) -> FileMetaIn:
    """One file's metadata (role, document type…), validated as ingest validates it (422)."""
    try:
        return FileMetaIn.model_validate(raw)
    except ValidationError as exc:
        listing = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                            for e in exc.errors())
        raise DomainError("metadata_invalid", f"文件元数据不合法：{listing}",
                          f"invalid file metadata: {listing}", status=422) from exc
