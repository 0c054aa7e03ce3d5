from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kjda_oasim.factories import metadata_json, pdf_bytes, user_with_roles

PASSWORD = "Loan-Pass-2024!"


@pytest.fixture
def blob_root(settings: Any, tmp_path: Path) -> Path:
    from kjda.storage import services

    root = tmp_path / "blobs"
    settings.STORAGE_URL = root.as_uri()
    services._backend_for.cache_clear()
    yield root
    services._backend_for.cache_clear()


@pytest.fixture
def people(db, fonds, archivist):
    from kjda.accounts.models import Profile

    out = {name: user_with_roles(name, roles, password=PASSWORD) for name, roles in {
        "dazhuguan": ["archives_head"], "fuzeren": ["head"], "lisi": ["employee"],
        "shenji": ["auditor"], "wangwu": ["employee"],
    }.items()}
    Profile.objects.filter(user=out["lisi"]).update(person_name="李四", department="销售部")
    Profile.objects.filter(user=out["wangwu"]).update(person_name="王五", department="销售部")
    out["dangan"] = archivist
    return out


@pytest.fixture
def ingest(fonds, archivist, blob_root):
    """File a voucher (a real PDF through the real ingest); the applicant is 赵六, so the
    employees 李四 and 王五 do not see it by their own scope."""
    from kjda.ingest.metadata import FileMetaIn, metadata_parse
    from kjda.ingest.pipeline import IncomingFile
    from kjda.ingest.services import record_ingest

    def make(n: int, *, year: int = 2024, department: str = "财务部", title: str = ""):
        title = title or f"报销差旅费 {n}"
        meta = metadata_parse(metadata_json(
            fiscal_year=year, title=title, applicant="赵六",
            department=department, date=date(year, 3, 15).isoformat(),
            document_no=f"记-{n:04d}", external_id=f"loan-{year}-{n}", source_system="tests"))
        files = [IncomingFile(stream=io.BytesIO(pdf_bytes([f"记账凭证 {n} {title}"])),
                              filename=f"记-{n:04d}.pdf", meta=FileMetaIn())]
        record = record_ingest(metadata=meta, files=files, actor=archivist).record
        assert record.status == "filed", record.check_report
        return record

    return make
