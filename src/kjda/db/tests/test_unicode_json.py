"""JSON columns hold UTF-8 text: the same JSON, without \\uXXXX escapes."""

from __future__ import annotations

import io
import json

import pytest
from django.db import connection

from kjda.archives.models import Record
from kjda.ingest.metadata import FileMetaIn, metadata_parse
from kjda.ingest.pipeline import IncomingFile
from kjda.ingest.services import record_ingest
from kjda_oasim.factories import metadata_json, pdf_bytes


@pytest.mark.django_db
def test_a_check_report_is_stored_as_utf8_and_reads_back_unchanged(fonds, archivist):
    meta = metadata_parse(metadata_json(extra={"备注": "差旅费"}))
    files = [IncomingFile(stream=io.BytesIO(pdf_bytes(["记账凭证 报销差旅费"])),
                          filename="记-0015.pdf", meta=FileMetaIn())]
    record = record_ingest(metadata=meta, files=files, actor=archivist).record
    with connection.cursor() as cur:
        cur.execute("SELECT check_report, extra FROM archives_record WHERE id = %s", [record.pk])
        stored_report, stored_extra = cur.fetchone()
    if connection.vendor == "sqlite":  # PostgreSQL's jsonb keeps no text
        assert "固化信息有效性检测" in stored_report and "\\u" not in stored_report
        assert stored_extra == '{"备注": "差旅费"}'
    fresh = Record.objects.get(pk=record.pk)
    assert fresh.check_report == json.loads(json.dumps(record.check_report))
    assert fresh.check_report["passed"] is True
    assert fresh.extra == {"备注": "差旅费"}
