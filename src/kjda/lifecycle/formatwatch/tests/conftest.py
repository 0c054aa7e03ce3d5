from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from kjda_oasim.factories import metadata_json, user_with_roles
from kjda_oasim.testing import SAMPLES

PASSWORD = "Format-Pass-2024!"
OFD = SAMPLES / "ofd_invoices" / "ofdrw_converter_1.ofd"


@pytest.fixture
def blob_root(settings: Any, tmp_path: Path):
    from kjda.storage import services

    root = tmp_path / "blobs"
    settings.STORAGE_URL = root.as_uri()
    services._backend_for.cache_clear()
    yield root
    services._backend_for.cache_clear()


@pytest.fixture
def accountant(db):
    return user_with_roles("kuaiji", ["accountant"], password=PASSWORD)


@pytest.fixture
def sysadmin(db):
    return user_with_roles("xitong", ["sysadmin"], password=PASSWORD)


@pytest.fixture
def file_record(fonds, archivist, blob_root):
    """File a record with the given files through the real ingest pipeline."""
    from kjda.ingest.metadata import FileMetaIn, metadata_parse
    from kjda.ingest.pipeline import IncomingFile
    from kjda.ingest.services import record_ingest

    def make(files: list[tuple[str, bytes]], *, n: int = 1):
        meta = metadata_parse(metadata_json(
            fiscal_year=2024, title=f"发票 {n}", date=date(2024, 3, 15).isoformat(),
            document_no=f"记-{n:04d}", external_id=f"fmt-{n}", source_system="tests",
            files=[{"document_type": "原始凭证"} for _ in files]))
        incoming = [IncomingFile(stream=io.BytesIO(data), filename=name, meta=FileMetaIn(
            document_type="原始凭证")) for name, data in files]
        record = record_ingest(metadata=meta, files=incoming, actor=archivist).record
        assert record.status == "filed", record.check_report
        return record

    return make


@pytest.fixture
def ofd_record(settings, file_record):
    """A filed OFD invoice without a rendition (KJDA_OFD_RENDITION off when it was filed, as
    on a site that filed OFDs before renditions were made)."""
    if not OFD.exists():
        pytest.skip(f"no sample corpus at {SAMPLES}")
    settings.KJDA_OFD_RENDITION = False

    def make(n: int = 1, sample: Path = OFD):
        record = file_record([("invoice.ofd", sample.read_bytes())], n=n)
        assert [f.role for f in record.files.all()] == ["original"]
        return record

    yield make
    settings.KJDA_OFD_RENDITION = True


def helvetica_pdf(text: str = "Invoice 0001") -> bytes:
    """A PDF whose font is not embedded (reportlab's standard Helvetica): no PDF/A can be made
    of it without substituting the font, which the converter refuses."""
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.setFont("Helvetica", 12)
    c.drawString(72, 720, text)
    c.showPage()
    c.save()
    return buf.getvalue()
