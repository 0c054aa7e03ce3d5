"""Records with long-expired terms, ingested for real, and the people of a destruction."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

from kjda.ingest.metadata import metadata_parse
from kjda.ingest.pipeline import IncomingFile
from kjda.ingest.services import record_ingest
from kjda.storage.tests.conftest import (  # noqa: F401 (fixtures: a real moto S3 server)
    _fresh_backends,
    aws_env,
    moto_endpoint,
    s3_bucket,
    s3_client,
    s3_lock_bucket,
    s3_url,
)
from kjda_oasim.factories import metadata_json, pdf_bytes, user_with_roles

PASSWORD = "Destroy-Pass-2024"


@pytest.fixture
def blob_root(settings: Any, tmp_path: Any) -> Any:
    root = tmp_path / "blobs"
    settings.STORAGE_URL = root.as_uri()
    return root


@pytest.fixture
def people(db: Any) -> dict[str, Any]:
    """One person per role of a destruction: the five signatories and the IT witness, and an
    auditor; the archivist and accountant also witness for their departments (the heads too)."""
    return {name: user_with_roles(name, [role], password=PASSWORD) for name, role in [
        ("head", "head"), ("archives_head", "archives_head"),
        ("accounting_head", "accounting_head"), ("archivist", "archivist"),
        ("accountant", "accountant"), ("it", "it_officer"), ("auditor", "auditor"),
    ]}


@pytest.fixture
def ingest(fonds: Any, people: dict[str, Any], blob_root: Any) -> Callable[..., Any]:
    """File a real voucher (a PDF through the whole ingest pipeline)."""
    counter = {"n": 0}

    def make(*, fiscal_year: int = 1990, content: bytes | None = None, appraised: bool = True,
             **meta: Any) -> Any:
        counter["n"] += 1
        n = counter["n"]
        meta = {"fiscal_year": fiscal_year, "date": f"{fiscal_year}-03-15",
                "document_no": f"记-{n:04d}", "title": f"报销差旅费 {n}", **meta}
        parsed = metadata_parse(metadata_json(**meta))
        data = content or pdf_bytes(["记账凭证", meta["title"], str(n)])
        from kjda.ingest.metadata import FileMetaIn

        record = record_ingest(metadata=parsed,
                               files=[IncomingFile(io.BytesIO(data), f"v{n}.pdf",
                                                   FileMetaIn(document_type="记账凭证"))],
                               actor=people["archivist"]).record
        assert record.status == "filed", record.check_report
        if appraised:  # Art.16: destroyed only after an appraisal found it of no further value
            _appraised_for_destruction(record, people["archives_head"])
        return type(record).objects.get(pk=record.pk)  # without the ingest's prefetched rows

    return make


def _appraised_for_destruction(record: Any, by: Any) -> None:
    """Set-up: a decided appraisal (the appraisal app's own tests walk its steps) whose outcome
    for `record` is destroy."""
    from django.utils import timezone

    from kjda.lifecycle.appraisal.models import (
        AppraisalBatch,
        AppraisalItem,
        AppraisalState,
        Outcome,
    )

    batch, _ = AppraisalBatch.objects.get_or_create(
        number="JD-TEST-0001", defaults={"fonds": record.fonds, "title": "测试鉴定",
                                         "state": AppraisalState.DECIDED, "created_by": by,
                                         "decided_at": timezone.now(), "decided_by": by})
    AppraisalItem.objects.create(batch=batch, record=record, outcome=Outcome.DESTROY,
                                 expired_on=record.retention_expires_on, reason="无保存价值")
