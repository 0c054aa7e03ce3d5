"""The web pages: hold list and form, release, the destruction list with the expired records,
the batch page through every step, the record page's mentions and the dashboard's to-dos."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from kjda.audit.models import AuditEvent
from kjda.lifecycle.destruction.models import DestructionBatch, Hold
from kjda.lifecycle.destruction.services import destruction_run
from kjda.lifecycle.destruction.tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def _as(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.get_username(), password=PASSWORD)
    return client


def test_hold_form_and_release_on_the_web(ingest, people):
    record = ingest(department="法务部")
    web = _as(people["archivist"])
    review = (timezone.localdate() + timedelta(days=60)).isoformat()
    bad = web.post("/holds/", {"kind": "litigation", "reason": "", "review_on": review,
                               "q_department": "法务部"})
    assert bad.status_code == 400 and "reason_required" in bad.content.decode()
    placed = web.post("/holds/", {"kind": "litigation", "reason": "合同纠纷诉讼中",
                                  "owner": "accountant", "review_on": review,
                                  "q_department": "法务部"})
    hold = Hold.objects.get()
    assert placed.status_code == 302 and placed["Location"] == f"/holds/{hold.pk}/"
    page = web.get(f"/holds/{hold.pk}/").content.decode()
    assert hold.number in page and record.archive_no in page and "合同纠纷诉讼中" in page
    assert hold.number in web.get("/holds/").content.decode()
    record_page = web.get(f"/records/{record.pk}/").content.decode()
    assert hold.number in record_page  # the record page lists the hold (mentions)
    candidates = web.get("/destructions/").content.decode()
    assert record.archive_no in candidates and f'value="{record.pk}"' not in candidates
    released = web.post(f"/holds/{hold.pk}/", {"reason": "已判决结案"})
    assert released.status_code == 302
    hold.refresh_from_db()
    assert hold.state == "released"
    assert AuditEvent.objects.filter(action="hold.release").exists()


def test_a_destruction_walked_through_the_pages(ingest, people):
    records = [ingest(), ingest()]
    archivist = _as(people["archivist"])
    listing = archivist.get("/destructions/").content.decode()
    assert all(f'value="{r.pk}"' in listing for r in records)
    created = archivist.post("/destructions/", {"record": [str(r.pk) for r in records],
                                                "title": "1990年度记账凭证"})
    batch = DestructionBatch.objects.get()
    assert created.status_code == 302 and created["Location"] == f"/destructions/{batch.pk}/"
    page = archivist.get(f"/destructions/{batch.pk}/").content.decode()
    assert "提交签署" in page and records[0].archive_no in page
    archivist.post(f"/destructions/{batch.pk}/submit/")
    head = _as(people["head"])
    assert "以单位负责人身份签署销毁清册" in head.get("/").content.decode()  # dashboard to-do
    page = head.get(f"/destructions/{batch.pk}/").content.decode()
    assert 'name="capacity" value="head"' in page and "待签署" in page
    for who in ("head", "archives_head", "accounting_head", "archivist", "accountant"):
        response = _as(people[who]).post(f"/destructions/{batch.pk}/sign/",
                                         {"capacity": who, "opinion": "同意销毁"})
        assert response.status_code == 302, response.content.decode()[:500]
    wrong = _as(people["it"]).post(f"/destructions/{batch.pk}/witness/",
                                   {"capacity": "archives"})
    assert wrong.status_code == 400 and "capacity_forbidden" in wrong.content.decode()
    for who, capacity in (("archivist", "archives"), ("accountant", "accounting"), ("it", "it")):
        assert _as(people[who]).post(f"/destructions/{batch.pk}/witness/",
                                     {"capacity": capacity, "note": "已核对"}).status_code == 302
    page = archivist.get(f"/destructions/{batch.pk}/").content.decode()
    assert "执行销毁" in page and "档案机构执行销毁" in page
    archivist.post(f"/destructions/{batch.pk}/execute/")
    destruction_run(batch_id=batch.pk)
    page = archivist.get(f"/destructions/{batch.pk}/").content.decode()
    assert "已销毁" in page and "已归档的销毁清册" in page
    pdf = archivist.get(f"/destructions/{batch.pk}/register.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert AuditEvent.objects.filter(action="register.download", object_type="destruction",
                                     object_id=str(batch.pk), detail__format="pdf").exists()
    assert archivist.get(f"/destructions/{batch.pk}/register.doc").status_code == 404
    record_page = archivist.get(f"/records/{records[0].pk}/").content.decode()
    assert batch.number in record_page
    assert _as(people["it"]).get(f"/destructions/{batch.pk}/").status_code == 200


def test_the_batch_page_in_english(ingest, people):
    from kjda.lifecycle.destruction.services import destruction_create, destruction_submit

    batch = destruction_create(actor=people["archivist"], record_ids=[ingest().pk])
    destruction_submit(actor=people["archivist"], batch=batch)
    web = _as(people["head"])
    web.post("/i18n/setlang/", {"language": "en", "next": "/"})
    page = web.get(f"/destructions/{batch.pk}/").content.decode()
    assert "Waiting for signatures" in page and "Head of the unit" in page
    assert "Sign your opinion as Head of the unit" in page and "Witnesses" in page
