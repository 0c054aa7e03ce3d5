from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kjda_oasim.factories import metadata_json, pdf_bytes


@pytest.fixture
def blob_root(settings: Any, tmp_path: Path) -> Path:
    from kjda.storage import services

    root = tmp_path / "blobs"
    settings.STORAGE_URL = root.as_uri()
    services._backend_for.cache_clear()
    yield root
    services._backend_for.cache_clear()


@pytest.fixture
def package_key(settings: Any, tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "package-key.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    settings.KJDA_REGISTER_SIGNING_KEY = str(path)
    return path


@pytest.fixture
def ingest(fonds, archivist, blob_root):
    """File a record of 2024 (real PDFs through the real ingest)."""
    from kjda.ingest.metadata import FileMetaIn, metadata_parse
    from kjda.ingest.pipeline import IncomingFile
    from kjda.ingest.services import record_ingest

    def make(n: int, *, year: int = 2024, category: str = "记账凭证",
             files: list[tuple[str, bytes]] | None = None, **extra: Any):
        fields = {"category": category, "fiscal_year": year, "title": f"报销差旅费 {n}",
                  "date": date(year, 3, 15).isoformat(), "document_no": f"记-{n:04d}",
                  "external_id": f"pk-{year}-{n}", "source_system": "tests", **extra}
        meta = metadata_parse(metadata_json(**fields))
        files = files or [(f"记-{n:04d}.pdf", pdf_bytes([f"记账凭证 {n} 报销差旅费"]))]
        incoming = [IncomingFile(stream=io.BytesIO(data), filename=name, meta=FileMetaIn())
                    for name, data in files]
        record = record_ingest(metadata=meta, files=incoming, actor=archivist).record
        assert record.status == "filed", record.check_report
        return record

    return make
