"""`POST /api/v1/files/inspect`: what a file is, before anything is filed. Nothing is stored."""

from __future__ import annotations

from typing import BinaryIO, cast

from django.conf import settings
from django.http import HttpRequest
from ninja import File, Router, Schema
from ninja.files import UploadedFile

from kjda.accounts.roles import Perm
from kjda.audit.services import audit_log
from kjda.errors import DomainError
from kjda.ingest.inspect import file_inspect

from .permissions import require_any

router = Router(tags=["files"])


class ViolationOut(Schema):
    clause: str
    message: str


class PdfAOut(Schema):
    claimed: str | None
    checked_as: str
    compliant: bool
    violations: list[ViolationOut]


class SignatureOut(Schema):
    status: str  # valid | invalid | unsupported
    reason: str = ""
    signer: str = ""


class InspectOut(Schema):
    format: str
    format_version: str
    profile: str
    mime: str
    puid: str | None
    archival: bool
    readable: bool
    encrypted: bool
    pages: int | None
    problems: list[str]
    pdfa: PdfAOut | None
    signatures: list[SignatureOut]
    invoice: dict | None


@router.post("/files/inspect", response=InspectOut,
             summary="Identify and check one file (format, PRONOM id, PDF/A); nothing is stored")
def file_inspect_api(request: HttpRequest, file: File[UploadedFile]):
    """For integrators and for checks before an approval is finished: multipart field `file`.
    Any user who may read or file records may ask."""
    require_any(request, [Perm.RECORD_READ, Perm.RECORD_INGEST])
    if not file.size:
        raise DomainError("file_empty", "文件为空", "the file is empty")
    if file.size > settings.KJDA_MAX_FILE_BYTES:
        raise DomainError("file_too_large", f"文件超过 {settings.KJDA_MAX_FILE_BYTES} 字节上限",
                          f"the file exceeds the {settings.KJDA_MAX_FILE_BYTES}-byte limit",
                          status=413)
    result = file_inspect(cast(BinaryIO, file))  # an UploadedFile reads as a binary file
    audit_log(action="file.inspect", request=request, object_type="file",
              detail={"filename": (file.name or "")[:200], "size": file.size,
                      "format": result["format"], "puid": result["puid"]})
    return result
