"""The upload form: the same `record_ingest` the API calls, then on to the filed record."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from kjda.accounts.requests import AuthedRequest
from kjda.accounts.roles import Perm
from kjda.archives import selectors
from kjda.archives.models import RecordStatus
from kjda.errors import DomainError
from kjda.ingest.metadata import metadata_parse
from kjda.ingest.selectors import existing_record_for
from kjda.ingest.services import record_ingest
from kjda.web.forms import RecordUploadForm
from kjda.web.permissions import perm_required


@perm_required(Perm.RECORD_INGEST)
def record_upload(request: AuthedRequest) -> HttpResponse:
    rules = selectors.retention_rule_list()
    if request.method != "POST":
        return render(request, "web/record_upload.html", {"form": RecordUploadForm(rules=rules)})
    form = RecordUploadForm(request.POST, request.FILES, rules=rules)
    error = None
    if form.is_valid():
        try:
            result = record_ingest(metadata=metadata_parse(form.metadata()),
                                   files=form.incoming_files(), actor=request.user,
                                   request=request)
            # filed before under another scope: a 409 that names no record (no redirect to it)
            record = result.record if result.created else existing_record_for(
                actor=request.user, record=result.record)
        except DomainError as exc:
            error = exc
        else:
            _announce(request, record, created=result.created)
            return redirect("web:record_detail", record_id=record.pk)
    status = error.status if error is not None and error.status == 409 else 400
    return render(request, "web/record_upload.html", {"form": form, "error": error}, status=status)


def _announce(request: HttpRequest, record, *, created: bool) -> None:
    if not created:
        messages.info(request, _("该表单已提交过，以下是当时归档的档案。"))
    elif record.status == RecordStatus.FILED and record.archive_no:
        messages.success(request, _("已归档，档号 %(no)s。") % {"no": record.archive_no})
    elif record.status == RecordStatus.FILED:
        messages.success(request, _("已归档，封卷时编档号。"))
    else:
        messages.warning(request, _("四性检测未通过，档案待处理。"))
