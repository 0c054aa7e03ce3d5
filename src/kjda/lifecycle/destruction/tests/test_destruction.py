"""Holds and destruction on real ingested records: selection rules, the five signatures, 监销,
execution against the local store, the tombstone, the filed 销毁清册 and resumption."""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook
from pypdf import PdfReader

from kjda.archives.models import BusinessEvent, Record, RecordStatus, RecordText
from kjda.audit.models import AuditEvent
from kjda.errors import DomainError
from kjda.formats.pdfa_check import pdfa_check
from kjda.lifecycle.destruction import selectors, services
from kjda.lifecycle.destruction.models import DestructionState, ItemState
from kjda.lifecycle.destruction.tests.conftest import PASSWORD
from kjda.lifecycle.registers import register_pdf, register_xlsx
from kjda.lifecycle.todos import todos_for
from kjda.storage.models import Blob
from kjda.storage.services import get_backend

pytestmark = pytest.mark.django_db(transaction=True)

FIVE = [("head", "head"), ("archives_head", "archives_head"),
        ("accounting_head", "accounting_head"), ("archivist", "archivist"),
        ("accountant", "accountant")]
THREE = [("archivist", "archives"), ("accountant", "accounting"), ("it", "it")]


def _review_on() -> date:
    return timezone.localdate() + timedelta(days=90)


def _sign_all(batch: Any, people: dict[str, Any]) -> Any:
    for who, capacity in FIVE:
        batch = services.destruction_sign(actor=people[who], batch=batch, capacity=capacity,
                                          opinion="同意销毁")
    return batch


def _witness_all(batch: Any, people: dict[str, Any]) -> Any:
    for who, capacity in THREE:
        batch = services.destruction_witness(actor=people[who], batch=batch, capacity=capacity,
                                             note="已核对清册与实物一致")
    return batch


def _actions() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


def test_a_hold_on_records_blocks_selection_with_the_reason(ingest, people):
    kept, other = ingest(), ingest()
    hold = services.hold_place(actor=people["archivist"], kind="claims",
                               reason="与某供应商的应付账款尚未结清", owner="accountant",
                               review_on=_review_on(), record_ids=[kept.pk])
    assert AuditEvent.objects.filter(action="hold.place", object_id=str(hold.pk)).exists()
    assert selectors.held_record_ids(record_ids=[kept.pk, other.pk]) == {kept.pk}
    with pytest.raises(DomainError) as refused:
        services.destruction_create(actor=people["archivist"], record_ids=[kept.pk, other.pk])
    assert refused.value.status == 409
    [reason] = refused.value.detail["refused"]
    assert reason["record_id"] == kept.pk and reason["code"] == "held"
    assert hold.number in reason["message_zh"]


def test_a_hold_by_query_holds_records_filed_later_until_released(ingest, people):
    before = ingest(department="工程部")
    hold = services.hold_place(actor=people["archivist"], kind="construction",
                               reason="在建项目未竣工决算", review_on=_review_on(),
                               query={"fonds": "Z001", "department": "工程部"})
    assert list(hold.records.values_list("pk", flat=True)) == [before.pk]
    later, elsewhere = ingest(department="工程部"), ingest(department="财务部")
    assert selectors.held_record_ids(record_ids=[before.pk, later.pk, elsewhere.pk]) == {
        before.pk, later.pk}
    services.hold_release(actor=people["archives_head"], hold=hold, reason="项目已竣工决算")
    assert AuditEvent.objects.filter(action="hold.release", object_id=str(hold.pk)).exists()
    hold.refresh_from_db()
    assert hold.state == "released" and hold.release_reason == "项目已竣工决算"
    assert selectors.held_record_ids(record_ids=[before.pk, later.pk]) == set()
    batch = services.destruction_create(actor=people["archivist"], record_ids=[later.pk])
    assert batch.items.count() == 1
    with pytest.raises(DomainError):
        services.hold_release(actor=people["archivist"], hold=hold, reason="再次解除")


def test_permanent_unexpired_and_destroyed_records_are_refused_each_with_its_reason(ingest, people):
    permanent = ingest(category="年度财务会计报告")
    current = ingest(fiscal_year=timezone.localdate().year)
    gone = ingest()
    unappraised = ingest(appraised=False)
    Record.objects.filter(pk=gone.pk).update(status=RecordStatus.DESTROYED)
    assert permanent.retention == "Y"
    with pytest.raises(DomainError) as refused:
        services.destruction_create(actor=people["archivist"],
                                    record_ids=[permanent.pk, current.pk, gone.pk,
                                                unappraised.pk])
    codes = {r["record_id"]: r["code"] for r in refused.value.detail["refused"]}
    assert codes == {permanent.pk: "permanent", current.pk: "term_not_ended",
                     gone.pk: "already_destroyed", unappraised.pk: "not_appraised"}
    assert not AuditEvent.objects.filter(action="destruction.create").exists()


def test_a_hold_placed_after_selection_blocks_signing_and_execution(ingest, people):
    record = ingest()
    batch = services.destruction_create(actor=people["archivist"], record_ids=[record.pk])
    batch = services.destruction_submit(actor=people["archivist"], batch=batch)
    hold = services.hold_place(actor=people["auditor"], kind="audit", reason="审计署专项审计",
                               review_on=_review_on(), record_ids=[record.pk])
    with pytest.raises(DomainError) as refused:
        services.destruction_sign(actor=people["head"], batch=batch, capacity="head",
                                  opinion="同意")
    assert refused.value.code == "items_refused"
    services.hold_release(actor=people["auditor"], hold=hold, reason="审计结束")
    batch = _witness_all(_sign_all(batch, people), people)
    services.hold_place(actor=people["auditor"], kind="litigation", reason="诉讼证据",
                        review_on=_review_on(), record_ids=[record.pk])
    with pytest.raises(DomainError) as refused:
        services.destruction_execute(actor=people["archivist"], batch=batch)
    assert refused.value.detail["refused"][0]["code"] == "held"
    batch.refresh_from_db()
    assert batch.state == DestructionState.SIGNED


def test_five_sign_once_each_in_their_own_capacity_and_three_witness(ingest, people):
    batch = services.destruction_create(actor=people["archivist"], record_ids=[ingest().pk])
    with pytest.raises(DomainError) as early:
        services.destruction_sign(actor=people["head"], batch=batch, capacity="head", opinion="同意")
    assert early.value.status == 409  # still a draft
    batch = services.destruction_submit(actor=people["archivist"], batch=batch)
    with pytest.raises(DomainError) as wrong:
        services.destruction_sign(actor=people["accountant"], batch=batch, capacity="head",
                                  opinion="同意")
    assert wrong.value.status == 403
    with pytest.raises(DomainError) as outsider:
        services.destruction_sign(actor=people["it"], batch=batch, capacity="head", opinion="同意")
    assert outsider.value.status == 403
    services.destruction_sign(actor=people["head"], batch=batch, capacity="head", opinion="同意")
    with pytest.raises(DomainError) as twice:
        services.destruction_sign(actor=people["head"], batch=batch, capacity="head",
                                  opinion="同意")
    assert twice.value.code == "already_signed"
    assert "以档案管理机构负责人身份签署" in todos_for(people["archives_head"])[0].title
    for who, capacity in FIVE[1:]:
        batch.refresh_from_db()
        assert batch.state == DestructionState.UNDER_APPRAISAL
        batch = services.destruction_sign(actor=people[who], batch=batch, capacity=capacity,
                                          opinion="同意销毁")
    assert batch.state == DestructionState.SIGNED
    signed = AuditEvent.objects.filter(action="destruction.sign").order_by("id")
    assert [e.detail["capacity"] for e in signed] == [c for _, c in FIVE]
    assert len({e.detail["digest"] for e in signed}) == 1  # all signed the same register
    with pytest.raises(DomainError) as not_yet:
        services.destruction_execute(actor=people["archivist"], batch=batch)
    assert not_yet.value.code == "witnesses_missing"
    with pytest.raises(DomainError) as not_it:
        services.destruction_witness(actor=people["accountant"], batch=batch, capacity="it")
    assert not_it.value.status == 403
    batch = _witness_all(batch, people)
    assert AuditEvent.objects.filter(action="destruction.witness").count() == 3
    assert todos_for(people["archivist"])[0].title.startswith("执行销毁")


def test_execution_removes_the_bytes_keeps_the_tombstone_and_files_the_register(ingest, people,
                                                                                blob_root):
    records = [ingest(), ingest()]
    kept = ingest(fiscal_year=timezone.localdate().year)
    sha_of = {r.pk: list(r.files.values_list("sha256", flat=True)) for r in records}
    blobs = [s for shas in sha_of.values() for s in shas]
    assert RecordText.objects.filter(record=records[0]).exists()
    assert all(get_backend().exists(s) for s in blobs)
    batch = services.destruction_create(actor=people["archivist"], title="1990年度记账凭证",
                                        record_ids=[r.pk for r in records])
    batch = services.destruction_submit(actor=people["archivist"], batch=batch)
    batch = _witness_all(_sign_all(batch, people), people)
    batch = services.destruction_execute(actor=people["archivist"], batch=batch)
    assert batch.state == DestructionState.EXECUTING
    batch = services.destruction_run(batch_id=batch.pk)
    assert batch.state == DestructionState.DESTROYED
    for record in records:
        record.refresh_from_db()
        assert record.status == RecordStatus.DESTROYED and record.archive_no
        assert list(record.files.values_list("sha256", flat=True)) == sha_of[record.pk]
        assert BusinessEvent.objects.filter(record=record, action="销毁").exists()
        assert not RecordText.objects.filter(record=record).exists()  # content text went too
    for sha in blobs:
        assert not get_backend().exists(sha)
        assert Blob.objects.get(pk=sha).destroyed_at is not None
    assert all(get_backend().exists(s) for s in kept.files.values_list("sha256", flat=True))
    register = Record.objects.get(pk=batch.register_record_id)
    assert register.status == RecordStatus.FILED, register.check_report
    assert register.retention == "Y"
    assert register.rule.name == "会计档案销毁清册"
    pdf = b"".join(get_backend().open(register.files.get(sequence=1).sha256))
    assert pdfa_check(pdf).compliant
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    for column in ("名称", "卷号", "册数", "起止年度", "档案编号", "应保管期限", "已保管期限",
                   "销毁时间"):
        assert column in text
    assert records[0].archive_no in text and "信息系统管理机构监销人" in text
    assert timezone.localdate().isoformat() in text  # 销毁时间
    actions = _actions()
    for action in ("destruction.create", "destruction.submit", "destruction.sign",
                   "destruction.witness", "destruction.execute", "blob.destroyed",
                   "record.destroy", "destruction.complete"):
        assert action in actions, action
    assert AuditEvent.objects.filter(action="destruction.complete",
                                     object_id=str(batch.pk)).get().detail["destroyed"] == 2
    assert AuditEvent.objects.filter(action="record.destroy").count() == 2
    assert AuditEvent.objects.filter(action="blob.destroyed").count() == len(set(blobs))

    # A destroyed file answers 410 Gone, on the web and through the API.
    client = Client()
    assert client.login(username="archivist", password=PASSWORD)
    file_id = records[0].files.first().pk
    response = client.get(f"/files/{file_id}/content")
    assert response.status_code == 410
    assert "已按销毁程序销毁" in response.content.decode()


def test_a_blob_shared_with_a_kept_record_is_not_removed(ingest, people):
    from kjda_oasim.factories import pdf_bytes

    content = pdf_bytes(["记账凭证", "共用的原始凭证扫描件"])
    old = ingest(content=content)
    current = ingest(fiscal_year=timezone.localdate().year, content=content)
    [sha] = old.files.values_list("sha256", flat=True)
    assert current.files.filter(sha256=sha).exists()
    batch = services.destruction_create(actor=people["archivist"], record_ids=[old.pk])
    batch = services.destruction_submit(actor=people["archivist"], batch=batch)
    batch = _witness_all(_sign_all(batch, people), people)
    services.destruction_execute(actor=people["archivist"], batch=batch)
    services.destruction_run(batch_id=batch.pk)
    old.refresh_from_db()
    assert old.status == RecordStatus.DESTROYED
    assert get_backend().exists(sha) and Blob.objects.get(pk=sha).destroyed_at is None
    assert not AuditEvent.objects.filter(action="blob.destroyed", object_id=sha).exists()


def test_an_interrupted_execution_resumes_where_it_stopped(ingest, people, monkeypatch):
    records = [ingest() for _ in range(3)]
    batch = services.destruction_create(actor=people["archivist"],
                                        record_ids=[r.pk for r in records])
    batch = services.destruction_submit(actor=people["archivist"], batch=batch)
    batch = _witness_all(_sign_all(batch, people), people)
    services.destruction_execute(actor=people["archivist"], batch=batch)
    real = services.record_destroy
    calls = {"n": 0}

    def crash_on_the_second(**kwargs: Any) -> Any:  # the worker dies mid-way
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("worker killed")
        return real(**kwargs)

    monkeypatch.setattr(services, "record_destroy", crash_on_the_second)
    with pytest.raises(SystemExit):
        services.destruction_run(batch_id=batch.pk)
    states = dict(batch.items.values_list("record_id", "state"))
    assert states[records[0].pk] == ItemState.DONE
    assert states[records[1].pk] == ItemState.BYTES_REMOVED  # bytes gone, tombstone not yet
    assert states[records[2].pk] == ItemState.PENDING
    batch.refresh_from_db()
    assert batch.state == DestructionState.EXECUTING
    monkeypatch.setattr(services, "record_destroy", real)
    batch = services.destruction_run(batch_id=batch.pk)
    assert batch.state == DestructionState.DESTROYED
    assert set(batch.items.values_list("state", flat=True)) == {ItemState.DONE}
    assert AuditEvent.objects.filter(action="record.destroy").count() == 3
    assert AuditEvent.objects.filter(action="blob.destroyed").count() == 3
    assert services.destruction_run(batch_id=batch.pk).state == DestructionState.DESTROYED
    assert AuditEvent.objects.filter(action="destruction.complete").count() == 1


def test_a_hold_placed_during_execution_withholds_the_item_listed_in_the_register(ingest,
                                                                                  people):
    records = [ingest(), ingest()]
    batch = services.destruction_create(actor=people["archivist"],
                                        record_ids=[r.pk for r in records])
    batch = services.destruction_submit(actor=people["archivist"], batch=batch)
    batch = _witness_all(_sign_all(batch, people), people)
    services.destruction_execute(actor=people["archivist"], batch=batch)
    hold = services.hold_place(actor=people["archivist"], kind="unfinished",
                               reason="未了事项：合同纠纷", review_on=_review_on(),
                               record_ids=[records[1].pk])
    batch = services.destruction_run(batch_id=batch.pk)
    assert batch.state == DestructionState.DESTROYED
    records[1].refresh_from_db()
    assert records[1].status == RecordStatus.FILED
    assert AuditEvent.objects.filter(action="destruction.withhold").exists()
    register = selectors.destruction_register(batch)
    rows = list(register.rows)
    assert rows[1][-1] == f"暂缓销毁（保全 {hold.number}）" and rows[1][-2] == ""
    wb = load_workbook(io.BytesIO(register_xlsx(selectors.destruction_register(batch))))
    values = [c for row in wb.active.iter_rows(values_only=True) for c in row if c]
    assert f"暂缓销毁（保全 {hold.number}）" in values
    assert "暂缓销毁" in "".join(p.extract_text() for p in PdfReader(io.BytesIO(
        register_pdf(selectors.destruction_register(batch)))).pages)
    from kjda.lifecycle.mentions import mentions_of_record

    labels = [m.label for m in mentions_of_record(records[1])]
    assert any(hold.number in label for label in labels)
    assert any(batch.number in label for label in labels)


def test_a_cancelled_batch_frees_its_records(ingest, people):
    record = ingest()
    batch = services.destruction_create(actor=people["archivist"], record_ids=[record.pk])
    with pytest.raises(DomainError) as busy:
        services.destruction_create(actor=people["archivist"], record_ids=[record.pk])
    assert busy.value.detail["refused"][0]["code"] == "in_other_batch"
    services.destruction_cancel(actor=people["archivist"], batch=batch, reason="范围有误")
    assert AuditEvent.objects.filter(action="destruction.cancel").exists()
    assert services.destruction_create(actor=people["archivist"], record_ids=[record.pk])


def test_the_owner_gets_a_to_do_when_the_review_date_of_a_hold_comes(ingest, people):
    record = ingest()
    due = services.hold_place(actor=people["archivist"], kind="claims", reason="应收账款未收回",
                              owner="accountant", review_on=timezone.localdate(),
                              record_ids=[record.pk])
    services.hold_place(actor=people["archivist"], kind="claims", reason="以后复核",
                        owner="accountant", review_on=_review_on(), record_ids=[record.pk])
    titles = [t.title for t in todos_for(people["accountant"])]
    assert titles == [f"复核保全 {due.number}（未结清的债权债务）"]
    assert not [t for t in todos_for(people["archivist"]) if t.workflow == "hold"]
    # ... and the same to-do in the OA the owner signs in with, raised by the daily job once
    from allauth.socialaccount.models import SocialAccount

    from kjda.connectors.models import Connector, Notice

    connector = Connector.objects.create(kind="webhook", name="OA", enabled=True)
    SocialAccount.objects.create(user=people["accountant"], provider="webhook", uid="u-acc")
    assert services.hold_reviews_notify() == [due.number]
    assert services.hold_reviews_notify() == []  # once per hold and review date
    notice = Notice.objects.get(connector=connector)
    assert notice.todo and notice.user_ids == ["u-acc"] and due.number in notice.title
    assert notice.url.endswith(f"/holds/{due.pk}/")
    event = AuditEvent.objects.get(action="hold.review_due")
    assert event.detail["number"] == due.number and event.detail["owner"] == "accountant"
    with pytest.raises(DomainError) as past:
        services.hold_place(actor=people["archivist"], kind="claims", reason="x",
                            review_on=timezone.localdate() - timedelta(days=1),
                            record_ids=[record.pk])
    assert past.value.code == "review_date_past"
    with pytest.raises(DomainError) as nobody:
        services.hold_place(actor=people["it"], kind="claims", reason="x",
                            review_on=_review_on(), record_ids=[record.pk])
    assert nobody.value.status == 403


def test_volumes_are_held_and_selected_with_their_records(fonds, ingest, people):
    from kjda.archives.models import Arrangement, Volume
    from kjda.archives.services import volume_close

    fonds.arrangement = Arrangement.BY_VOLUME
    fonds.save()
    first = [ingest(fiscal_year=1990), ingest(fiscal_year=1990)]
    other = ingest(fiscal_year=1991)
    volume = volume_close(volume=Volume.objects.get(fiscal_year=1990), actor=people["archivist"])
    hold = services.hold_place(actor=people["archivist"], kind="unfinished", reason="未了事项",
                               review_on=_review_on(), volume_ids=[volume.pk])
    assert selectors.held_record_ids(record_ids=[r.pk for r in first] + [other.pk]) == {
        r.pk for r in first}
    from kjda.lifecycle.mentions import mentions_of_volume

    assert [m.label for m in mentions_of_volume(volume)] == [f"保全 {hold.number}（未了事项）"]
    with pytest.raises(DomainError):
        services.destruction_create(actor=people["archivist"], volume_ids=[volume.pk])
    services.hold_release(actor=people["archivist"], hold=hold, reason="事项已了结")
    batch = services.destruction_create(actor=people["archivist"], volume_ids=[volume.pk])
    assert set(batch.items.values_list("record_id", flat=True)) == {r.pk for r in first}
    rows = list(selectors.register_rows(batch))
    assert {row[2] for row in rows} == {volume.archive_no}  # 卷号


def test_a_held_item_of_an_appraisal_is_listed_in_its_appraisal_register(ingest, people):
    """Art.19: what a hold keeps back is listed in the 鉴定意见书 (the destruction app tells the
    appraisal's register through its hook)."""

    from kjda.lifecycle.appraisal.models import AppraisalBatch
    from kjda.lifecycle.appraisal.register import appraisal_register
    from kjda.lifecycle.registers import register_pdf

    held, free = ingest(), ingest()
    services.hold_place(actor=people["auditor"], kind="claims", reason="未结清的债权：甲公司欠款",
                        review_on=_review_on(), record_ids=[held.pk])
    register = appraisal_register(AppraisalBatch.objects.get(number="JD-TEST-0001"))
    section = dict(register.extra_sections)["不得销毁的档案（第十九条：单独抽出、单独转存保管）"]
    assert held.archive_no in section and "甲公司欠款" in section
    assert free.archive_no not in section
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(register_pdf(register))).pages)
    assert "甲公司欠款" in text


def test_a_held_record_appraised_for_destruction_is_listed_in_the_destruction_register(
        ingest, people):
    """Art.19: a record the appraisal found of no further value but a hold keeps back never
    enters the batch, yet the 销毁清册 lists it as kept apart, with its hold."""
    from kjda.lifecycle.destruction.selectors import destruction_register
    from kjda.lifecycle.registers import register_pdf

    held, other = ingest(), ingest()
    services.hold_place(actor=people["auditor"], kind="claims", reason="未结清的债权：乙公司往来",
                        review_on=_review_on(), record_ids=[held.pk])
    batch = services.destruction_create(actor=people["archivist"], record_ids=[other.pk])
    register = destruction_register(batch)
    (heading, body), = register.extra_sections
    assert "第十九条" in heading and held.archive_no in body and "乙公司往来" in body
    assert other.archive_no not in body
    assert ("保全未列入", "1 件") in register.summary
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(register_pdf(register))).pages)
    assert "乙公司往来" in text
