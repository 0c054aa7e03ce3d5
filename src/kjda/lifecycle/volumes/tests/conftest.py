from __future__ import annotations

import io

import pytest

from kjda.archives.models import Arrangement
from kjda.ingest.metadata import FileMetaIn, metadata_parse
from kjda.ingest.pipeline import IncomingFile
from kjda.ingest.services import record_ingest
from kjda_oasim.factories import metadata_json, pdf_bytes, user_with_roles


@pytest.fixture
def by_volume(fonds):
    fonds.arrangement = Arrangement.BY_VOLUME
    fonds.save()
    return fonds


@pytest.fixture
def accountant(db):
    return user_with_roles("accountant", ["accountant"], password="Account-Pass-2024")


@pytest.fixture
def ingest(archivist):
    """File a real voucher (a PDF, through the ingest pipeline) with these metadata."""

    def make(**meta):
        meta.setdefault("title", f"凭证 {meta.get('document_no', '')}")
        parsed = metadata_parse(metadata_json(**meta))
        data = pdf_bytes(["记账凭证", str(meta.get("document_no")), meta["title"]])
        return record_ingest(metadata=parsed, files=[IncomingFile(
            io.BytesIO(data), "v.pdf", parsed.files[0] if parsed.files else FileMetaIn())],
            actor=archivist).record

    return make
