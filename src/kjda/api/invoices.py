"""Invoice checks for integrators: is this invoice already claimed? Nothing is stored."""

from __future__ import annotations

from typing import BinaryIO, cast

from django.http import HttpRequest
from ninja import File, Router, Schema
from ninja.files import UploadedFile

from kjda.accounts.roles import Perm
from kjda.audit.services import audit_log
from kjda.errors import DomainError
from kjda.invoices.services import invoice_check

from .permissions import require

router = Router(tags=["invoices"])


class InvoiceCheckOut(Schema):
    format: str  # the file's format, identified by content
    invoice: dict | None  # kind, invoice_code, invoice_number, issue_date, totals, parties, …
    duplicate: bool
    duplicate_of: dict | None  # {visible, record_id, archive_no, title, status} | {visible: false}


@router.post("/invoices/check", response=InvoiceCheckOut,
             summary="The invoice in a file and the record that claimed it")
def invoices_check(request: HttpRequest, file: File[UploadedFile] = None):  # type: ignore[assignment]
    """Multipart `file`: returns `invoice` (or null) and `duplicate_of`: the record that
    already claimed the same invoice (its id and 档号 when it is in your scope, else only
    `{"visible": false}`), or null. An OA calls this before approving a claim."""
    require(request, Perm.RECORD_INGEST)
    if file is None or not file.size:
        raise DomainError("file_missing", "需要一个文件（file 字段）",
                          "a file is required (form field `file`)")
    result = invoice_check(actor=request.user, upload=cast(BinaryIO, file))  # reads as one
    audit_log(action="invoice.check", request=request, object_type="invoice",
              object_id=(result["invoice"] or {}).get("identity", ""),
              detail={"duplicate": result["duplicate"]})
    return result
