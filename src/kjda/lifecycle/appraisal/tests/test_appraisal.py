from __future__ import annotations

import io
from datetime import date

import pytest
from pypdf import PdfReader

from kjda.archives.models import BusinessEvent, Record, RecordStatus
from kjda.audit.models import AuditEvent
from kjda.errors import DomainError
from kjda.formats.pdfa_check import pdfa_check
from kjda.lifecycle.appraisal import selectors
from kjda.lifecycle.appraisal.models import AppraisalState, ExpiryScan
from kjda.lifecycle.appraisal.providers import appraisal_todos
from kjda.lifecycle.appraisal.services import (
    OutcomeIn,
    appraisal_cancel,
    appraisal_create,
    appraisal_decide,
    appraisal_opinion,
    appraisal_outcomes_set,
    appraisal_submit,
    expiry_scan,
)
from kjda.storage.services import blob_open

from .conftest import ingest

pytestmark = pytest.mark.django_db


@pytest.fixture
def expired(fonds, people):
    """Three real vouchers of 1990 (30 years: expired 2020-12-31), one bank statement of 2001
    (10 years) and an annual report (permanent) that never expires."""
    a = people["archivist"]
    return {"v1": ingest(a, year=1990, no="0001"), "v2": ingest(a, year=1990, no="0002"),
            "stmt": ingest(a, category="银行对账单", year=2001, no="0003"),
            "annual": ingest(a, category="年度财务会计报告", year=1990, no="0004"),
            "fresh": ingest(a, year=2024, no="0005")}


def test_the_daily_scan_finds_expired_records_and_raises_a_todo(expired, people):
    assert all(r.status == RecordStatus.FILED for r in expired.values())
    assert expired["v1"].retention_expires_on == date(2020, 12, 31)
    scans = expiry_scan()
    assert [(s.records_expired, s.volumes_expired) for s in scans] == [(3, 0)]
    assert ExpiryScan.objects.count() == 1 and len(expiry_scan()) == 1  # once a day
    todos = appraisal_todos(people["archivist"])
    assert any("3 件" in t.title and "/appraisals/expired/" in t.url for t in todos)
    listed = set(selectors.expired_records(actor=people["archivist"]).values_list("pk", flat=True))
    assert listed == {expired["v1"].pk, expired["v2"].pk, expired["stmt"].pk}
    by_year = selectors.expired_records(actor=people["archivist"],
                                        filters=selectors.ExpiryFilters(fiscal_year=2001))
    assert list(by_year) == [expired["stmt"]]
    assert AuditEvent.objects.filter(action="appraisal.expiry_scan").exists()


def test_four_opinions_decide_destroy_and_keep_and_file_the_register(expired, people, fonds):
    arch = people["archivist"]
    batch = appraisal_create(actor=arch, fonds=fonds,
                             record_ids=[expired["v1"].pk, expired["v2"].pk, expired["stmt"].pk])
    assert batch.state == AppraisalState.DRAFT and batch.number.startswith("JD-")
    # a permanent or unexpired record can't be put in
    with pytest.raises(DomainError) as err:
        appraisal_create(actor=arch, fonds=fonds, record_ids=[expired["annual"].pk])
    assert err.value.code == "not_expired"
    with pytest.raises(DomainError):  # already in a batch
        appraisal_create(actor=arch, fonds=fonds, record_ids=[expired["v1"].pk])
    with pytest.raises(DomainError) as err:  # only the archives department submits
        appraisal_submit(actor=people["auditor"], batch=batch)
    assert err.value.status == 403
    batch = appraisal_submit(actor=arch, batch=batch)
    items = {i.record_id: i for i in batch.items.all()}
    appraisal_outcomes_set(actor=arch, batch=batch, outcomes=[
        OutcomeIn(items[expired["v1"].pk].pk, "destroy"),
        OutcomeIn(items[expired["v2"].pk].pk, "destroy"),
        OutcomeIn(items[expired["stmt"].pk].pk, "keep", "D5", "涉及未决诉讼，延长保管")])
    appraisal_opinion(actor=arch, batch=batch, opinion="同意按清单处理")
    appraisal_opinion(actor=people["accounting_head"], batch=batch, opinion="会计机构同意")
    appraisal_opinion(actor=people["auditor"], batch=batch, opinion="审计无异议")
    with pytest.raises(DomainError) as err:
        appraisal_decide(actor=arch, batch=batch)
    assert err.value.code == "opinions_missing"
    with pytest.raises(DomainError) as err:  # an auditor can't sign twice
        appraisal_opinion(actor=people["auditor"], batch=batch, opinion="再次")
    assert err.value.status == 409
    appraisal_opinion(actor=people["inspector"], batch=batch, opinion="纪检监察无异议")
    batch = appraisal_decide(actor=people["archives_head"], batch=batch)
    assert batch.state == AppraisalState.DECIDED

    # keep with a new term: the expiry moves to 5 years after this year, with a 鉴定 event
    stmt = Record.objects.get(pk=expired["stmt"].pk)
    today = date.today()
    assert stmt.retention_expires_on == date(today.year + 5, 12, 31)
    event = BusinessEvent.objects.get(record=stmt, action="鉴定")
    assert batch.number in event.description and "未决诉讼" in event.description
    # only the destroy items are appraised for destruction
    assert selectors.records_appraised_for_destruction(
        record_ids=[r.pk for r in expired.values()]) == {expired["v1"].pk, expired["v2"].pk}
    assert not selectors.expired_records(actor=arch).exists()

    # the 鉴定意见书: PDF/A, filed as a permanent record of its category
    register = Record.objects.get(pk=batch.register_record_id)
    assert register.status == RecordStatus.FILED, register.check_report["blocking_failures"]
    assert register.retention == "Y"
    assert register.rule.name == "会计档案鉴定意见书"
    original = register.files.get(role="original")
    with blob_open(sha256=original.sha256) as fh:
        pdf = fh.read()
    assert pdfa_check(pdf).compliant
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    for expected in ("会计档案鉴定意见书", batch.number, "纪检监察无异议", "审计无异议",
                     expired["v1"].archive_no, "销毁", "继续保管"):
        assert expected in text.replace("\n", ""), expected
    actions = set(AuditEvent.objects.filter(object_type="appraisal", object_id=str(batch.pk))
                  .values_list("action", flat=True))
    assert actions >= {"appraisal.create", "appraisal.submit", "appraisal.outcome",
                       "appraisal.opinion", "appraisal.decide"}


def test_a_cancelled_batch_gives_its_items_back(expired, people, fonds):
    batch = appraisal_create(actor=people["archivist"], fonds=fonds,
                             record_ids=[expired["v1"].pk])
    with pytest.raises(DomainError):
        appraisal_cancel(actor=people["archivist"], batch=batch, reason="")
    batch = appraisal_cancel(actor=people["archivist"], batch=batch, reason="范围有误")
    assert batch.state == AppraisalState.CANCELLED
    assert expired["v1"] in selectors.expired_records(actor=people["archivist"])
    with pytest.raises(DomainError) as err:
        appraisal_submit(actor=people["archivist"], batch=batch)
    assert err.value.status == 409
    assert AuditEvent.objects.filter(action="appraisal.cancel").exists()


def test_keep_needs_a_valid_new_term_and_a_reason(expired, people, fonds):
    batch = appraisal_create(actor=people["archivist"], fonds=fonds,
                             record_ids=[expired["v1"].pk])
    batch = appraisal_submit(actor=people["archivist"], batch=batch)
    item = batch.items.get()
    for bad in (OutcomeIn(item.pk, "keep", "D5", ""), OutcomeIn(item.pk, "keep", "X", "理由"),
                OutcomeIn(item.pk, "maybe")):
        with pytest.raises(DomainError):
            appraisal_outcomes_set(actor=people["archivist"], batch=batch, outcomes=[bad])


def test_an_expired_volume_is_appraised_as_one_item_for_all_its_records(fonds, people):
    from kjda.archives.models import Arrangement
    from kjda.archives.services import volume_close

    fonds.arrangement = Arrangement.BY_VOLUME
    fonds.save()
    a = people["archivist"]
    records = [ingest(a, year=1991, no=f"00{i}") for i in range(1, 3)]
    volume = volume_close(volume=Record.objects.get(pk=records[0].pk).volume, actor=a)
    assert list(selectors.expired_volumes(actor=a)) == [volume]
    assert expiry_scan()[0].volumes_expired == 1
    batch = appraisal_create(actor=a, fonds=fonds, volume_ids=[volume.pk])
    batch = appraisal_submit(actor=a, batch=batch)
    appraisal_outcomes_set(actor=a, batch=batch,
                           outcomes=[OutcomeIn(batch.items.get().pk, "destroy")])
    for who in ("archivist", "accounting_head", "auditor", "inspector"):
        appraisal_opinion(actor=people[who], batch=batch, opinion="同意")
    appraisal_decide(actor=a, batch=batch)
    assert selectors.records_appraised_for_destruction(
        record_ids=[r.pk for r in records]) == {r.pk for r in records}
    assert not selectors.expired_volumes(actor=a).exists()


@pytest.mark.django_db
def test_the_expiry_scan_is_enqueued_once_a_day_by_the_workers():
    from django.core.cache import cache
    from django_tasks_db.models import DBTaskResult

    from kjda.lifecycle.daily import daily_enqueue_due

    cache.clear()
    assert "expiry_scan_task" in daily_enqueue_due()
    assert "expiry_scan_task" not in daily_enqueue_due()  # the same day: not again
    assert DBTaskResult.objects.filter(task_path__endswith="expiry_scan_task").count() == 1
