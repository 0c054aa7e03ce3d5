"""Temporary custody (Art.11): its end, the archives department's consented extension (never
beyond 3 years), the to-do when it runs out, and the 保管清册."""

from __future__ import annotations

import io
import subprocess
from datetime import date

import pytest
from allauth.socialaccount.models import SocialAccount
from pypdf import PdfReader

from kjda.archives.models import RecordFile
from kjda.audit.models import AuditEvent
from kjda.connectors.models import Connector, Notice
from kjda.errors import DomainError
from kjda.formats.pdfa_check import pdfa_check
from kjda.lifecycle.mentions import mentions_of_record
from kjda.lifecycle.registers import register_digest
from kjda.lifecycle.signing import verify_digest
from kjda.lifecycle.todos import todos_for
from kjda.lifecycle.transfers import services
from kjda.lifecycle.transfers.registers import transfer_register
from kjda.lifecycle.transfers.selectors import custody_deadline
from kjda.lifecycle.transfers.tasks import custody_overdue_task
from kjda.storage.services import get_backend


@pytest.mark.django_db
def test_custody_ends_a_year_after_year_end_and_may_be_extended_up_to_three(people, ingest,
                                                                            fonds):
    record = ingest(1)
    assert custody_deadline(fonds, 2024) == date(2025, 12, 31)
    custody = [m for m in mentions_of_record(record) if m.workflow == "custody"][0]
    assert "会计机构暂管" in custody.label and "2025-12-31" in custody.state
    with pytest.raises(DomainError) as exc:
        services.custody_extend(actor=people["dangan"], fonds_code="Z001", fiscal_year=2024,
                                until=date(2028, 1, 1), reason="系统切换")
    assert exc.value.code == "custody_beyond_limit"
    with pytest.raises(DomainError) as exc:  # consent is the archives department's
        services.custody_extend(actor=people["kjzhuguan"], fonds_code="Z001", fiscal_year=2024,
                                until=date(2026, 6, 30), reason="系统切换")
    assert exc.value.status == 403
    services.custody_extend(actor=people["dazhuguan"], fonds_code="Z001", fiscal_year=2024,
                            until=date(2027, 12, 31), reason="系统切换，延期移交")
    assert custody_deadline(fonds, 2024) == date(2027, 12, 31)
    event = AuditEvent.objects.get(action="custody.extend", object_id="Z001")
    assert event.detail["until"] == "2027-12-31" and event.detail["before"] == "2025-12-31"
    assert services.custody_overdue_notify(today=date(2026, 1, 5)) == []  # extended


@pytest.mark.django_db
def test_a_to_do_is_raised_once_when_custody_runs_out(people, ingest, settings):
    ingest(1)
    assert services.custody_overdue_notify(today=date(2025, 12, 31)) == []  # the last day
    connector = Connector.objects.create(kind="webhook", name="OA", enabled=True)
    SocialAccount.objects.create(user=people["kjzhuguan"], provider="webhook", uid="u-kjzg")
    assert services.custody_overdue_notify(today=date(2026, 1, 1)) == [("Z001", 2024)]
    assert services.custody_overdue_notify(today=date(2026, 1, 2)) == []  # once
    event = AuditEvent.objects.get(action="custody.overdue")
    # the heads and archivists (the ingest fixture's "archivist" too), not the accountant
    assert set(event.detail["notified"]) == {"kjzhuguan", "dangan", "dazhuguan", "archivist"}
    assert "chuna" not in event.detail["notified"]  # the cashier is never the custodian
    notice = Notice.objects.get(connector=connector)
    assert notice.user_ids == ["u-kjzg"] and "暂管期满" in notice.title
    titles = [t.title for t in todos_for(people["dangan"])]
    assert any("2024 年度会计档案暂管期满" in t for t in titles)
    assert not [t for t in todos_for(people["yuangong"]) if t.workflow == "custody"]
    # Once everything is handed over, the to-do is gone.
    batch = services.transfer_create(actor=people["kuaiji"], fonds_code="Z001", fiscal_year=2024)
    services.transfer_submit(actor=people["kuaiji"], batch_id=batch.pk)
    services.transfer_checks_run(batch_id=batch.pk)
    item = batch.items.get()
    services.transfer_items_decide(actor=people["dangan"], batch_id=batch.pk,
                                   decisions=[(item.pk, "accepted", "")])
    services.transfer_sign(actor=people["dangan"], batch_id=batch.pk)
    assert not [t for t in todos_for(people["dangan"]) if t.workflow == "custody"]


@pytest.mark.django_db
def test_the_daily_task_raises_the_to_do(people, ingest):
    ingest(1, year=2020)  # long past its custody on any clock this runs on
    assert custody_overdue_task.call() == 1
    assert AuditEvent.objects.filter(action="custody.overdue").count() == 1


@pytest.mark.django_db
def test_both_sides_sign_the_register_with_an_sm2_key(people, ingest, settings, tmp_path):
    key = tmp_path / "sm2.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "SM2", "-out", str(key)], check=True,
                   capture_output=True)
    settings.KJDA_REGISTER_SIGNING_KEY = str(key)
    ingest(1)
    batch = services.transfer_create(actor=people["kuaiji"], fonds_code="Z001", fiscal_year=2024)
    services.transfer_submit(actor=people["kuaiji"], batch_id=batch.pk)
    services.transfer_checks_run(batch_id=batch.pk)
    services.transfer_items_decide(actor=people["dangan"], batch_id=batch.pk,
                                   decisions=[(batch.items.get().pk, "accepted", "")])
    services.transfer_sign(actor=people["dazhuguan"], batch_id=batch.pk)
    batch.refresh_from_db()
    sigs = {s.side: s for s in batch.signatures.all()}
    assert set(sigs) == {"accounting", "archives"}
    assert sigs["archives"].role == "archives_head" and sigs["accounting"].role == "accountant"
    for side, final in (("accounting", False), ("archives", True)):
        reg = transfer_register(batch, final=final)
        digest = register_digest(reg.rows, columns=reg.columns)
        assert sigs[side].digest == digest
        assert sigs[side].signature["algorithm"] == "SM2-SM3"
        assert verify_digest(digest, sigs[side].signature)
        assert not verify_digest("0" * 64, {**sigs[side].signature, "digest": "0" * 64})


@pytest.mark.django_db
def test_the_custody_register_is_filed_as_a_permanent_record(people, ingest):
    first = ingest(1)
    record = services.custody_register_file(actor=people["dangan"], fonds_code="Z001",
                                            fiscal_year=2024)
    assert record.status == "filed", record.check_report
    assert record.retention == "Y"
    assert record.rule.name == "会计档案保管清册"
    pdf = get_backend().path_for(
        RecordFile.objects.get(record=record, role="original").sha256).read_bytes()
    assert pdfa_check(pdf).compliant
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert first.archive_no in text and "会计机构暂管" in text
    assert AuditEvent.objects.filter(action="custody.register_file").exists()
    # the records it lists name it on their pages
    from kjda.lifecycle.mentions import mentions_of_record

    [mention] = [m for m in mentions_of_record(first) if m.workflow == "custody_register"]
    assert mention.url == f"/records/{record.pk}/" and record.archive_no in mention.label
    with pytest.raises(DomainError):
        services.custody_register_file(actor=people["yuangong"], fonds_code="Z001",
                                       fiscal_year=2024)


@pytest.mark.django_db
def test_the_custody_check_is_enqueued_once_a_day():
    from django.core.cache import cache
    from django_tasks_db.models import DBTaskResult

    from kjda.lifecycle.daily import daily_enqueue_due

    cache.clear()
    assert "custody_overdue_task" in daily_enqueue_due()
    assert daily_enqueue_due() == []  # the same day: not again
    assert DBTaskResult.objects.filter(task_path__endswith="custody_overdue_task").count() == 1


@pytest.mark.django_db
def test_a_transferring_signature_that_no_longer_matches_is_refused_on_receipt(people, ingest,
                                                                              settings,
                                                                              tmp_path):
    key = tmp_path / "sm2.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "SM2", "-out", str(key)], check=True,
                   capture_output=True)
    settings.KJDA_REGISTER_SIGNING_KEY = str(key)
    record = ingest(1)
    batch = services.transfer_create(actor=people["kuaiji"], fonds_code="Z001", fiscal_year=2024)
    services.transfer_submit(actor=people["kuaiji"], batch_id=batch.pk)
    services.transfer_checks_run(batch_id=batch.pk)
    services.transfer_items_decide(actor=people["dangan"], batch_id=batch.pk,
                                   decisions=[(batch.items.get().pk, "accepted", "")])
    # A title changed behind the register's back after the accounting side signed it.
    type(record).objects.filter(pk=record.pk).update(title="改过的题名")
    with pytest.raises(DomainError) as exc:
        services.transfer_sign(actor=people["dangan"], batch_id=batch.pk)
    assert exc.value.code == "transfer_signature_invalid" and exc.value.status == 409
    record.refresh_from_db()
    assert record.custody == "accounting"


def test_the_custody_register_lists_what_a_hold_keeps(people, ingest):
    """Art.19: held items are listed in the 保管清册 as well, with their hold."""
    from datetime import timedelta

    from django.utils import timezone

    from kjda.lifecycle.destruction.services import hold_place
    from kjda.lifecycle.transfers.registers import custody_register

    held, free = ingest(1), ingest(2)
    hold_place(actor=people["dangan"], kind="litigation", reason="合同纠纷诉讼证据",
               review_on=timezone.localdate() + timedelta(days=60), record_ids=[held.pk])
    register = custody_register(held.fonds, 2024)
    (heading, body), = register.extra_sections
    assert "第十九条" in heading and held.archive_no in body and "合同纠纷诉讼证据" in body
    assert free.archive_no not in body
    assert ("保全中", "1 件") in register.summary
