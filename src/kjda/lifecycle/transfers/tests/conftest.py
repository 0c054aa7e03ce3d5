from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kjda_oasim.factories import metadata_json, pdf_bytes, user_with_roles

PASSWORD = "Transfer-Pass-2024"


@pytest.fixture
def blob_root(settings: Any, tmp_path: Path) -> Path:
    from kjda.storage import services

    root = tmp_path / "blobs"
    settings.STORAGE_URL = root.as_uri()
    services._backend_for.cache_clear()
    yield root
    services._backend_for.cache_clear()


@pytest.fixture
def people(db, fonds):
    return {name: user_with_roles(name, roles, password=PASSWORD) for name, roles in {
        "kuaiji": ["accountant"], "kjzhuguan": ["accounting_head"],
        "dangan": ["archivist"], "dazhuguan": ["archives_head"],
        "chuna": ["cashier", "accountant"], "yuangong": ["employee"],
    }.items()}


@pytest.fixture
def ingest(fonds, archivist, blob_root):
    """File a voucher of 2024 (a real PDF through the real ingest)."""
    from kjda.ingest.metadata import FileMetaIn, metadata_parse
    from kjda.ingest.pipeline import IncomingFile
    from kjda.ingest.services import record_ingest

    def make(n: int, *, year: int = 2024, category: str = "记账凭证"):
        meta = metadata_parse(metadata_json(
            category=category, fiscal_year=year, title=f"报销差旅费 {n}",
            date=date(year, 3, 15).isoformat(), document_no=f"记-{n:04d}",
            external_id=f"tr-{year}-{n}", source_system="tests"))
        files = [IncomingFile(stream=io.BytesIO(pdf_bytes([f"记账凭证 {n} 报销差旅费"])),
                              filename=f"记-{n:04d}.pdf", meta=FileMetaIn())]
        record = record_ingest(metadata=meta, files=files, actor=archivist).record
        assert record.status == "filed", record.check_report
        return record

    return make
