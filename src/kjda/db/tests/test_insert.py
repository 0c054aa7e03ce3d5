"""rows_insert stores what Model.save() stores, and reads the primary keys back in order."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from django.forms.models import model_to_dict

from kjda.archives.models import BusinessEvent, Record, RecordFile
from kjda.archives.services import record_build, rule_for_category
from kjda.audit.models import AuditEvent
from kjda.db.insert import rows_insert
from kjda.storage.services import blob_store
from kjda_oasim.factories import pdf_bytes


def _record(fonds, n: int) -> Record:
    rule = rule_for_category(name="记账凭证")
    return record_build(fonds=fonds, rule=rule, values={
        "retention": rule.retention, "fiscal_year": 2024, "period": 3, "title": f"报销差旅费 {n}",
        "date": date(2024, 3, 15), "amount": Decimal("1280.50"), "currency": "CNY",
        "responsible": "张三", "source_system": "t", "external_id": f"e-{n}",
        "extra": {"键": ["值", 1]}})


def _columns(obj) -> dict:
    skip = {"id", "record_no", "external_id", "title", "created_at", "updated_at"}
    return {k: v for k, v in model_to_dict(obj).items() if k not in skip}


@pytest.mark.django_db(transaction=True)
def test_rows_insert_stores_what_save_stores(fonds):
    saved, inserted = _record(fonds, 1), _record(fonds, 2)
    saved.save(force_insert=True)
    rows_insert([inserted])
    assert inserted.pk is not None and inserted.pk != saved.pk
    assert not inserted._state.adding
    a, b = Record.objects.get(pk=saved.pk), Record.objects.get(pk=inserted.pk)
    assert _columns(a) == _columns(b)
    assert b.extra == {"键": ["值", 1]} and b.amount == Decimal("1280.50")
    assert b.created_at is not None  # auto_now_add ran
    assert str(b.record_no) == str(inserted.record_no)


@pytest.mark.django_db(transaction=True)
def test_rows_insert_many_rows_get_their_own_keys(fonds):
    record = _record(fonds, 3)
    rows_insert([record])
    blobs = [blob_store(source=io.BytesIO(pdf_bytes([f"文件 {i}"]))) for i in range(3)]
    files = [RecordFile(record=record, blob_id=b.sha256, sequence=i, sha256=b.sha256, sm3=b.sm3,
                        size=b.size, filename=f"f{i}.pdf") for i, b in enumerate(blobs, start=1)]
    rows_insert(files)
    for f in files:
        stored = RecordFile.objects.get(pk=f.pk)
        assert (stored.sequence, stored.filename, stored.sha256) == (f.sequence, f.filename,
                                                                    f.sha256)


def test_rows_insert_refuses_mixed_input(fonds):
    record = _record(fonds, 4)
    with pytest.raises(ValueError):
        rows_insert([record, BusinessEvent(action="x")])
    with pytest.raises(ValueError):
        rows_insert([AuditEvent(pk=5, action="x"), AuditEvent(action="y")])
