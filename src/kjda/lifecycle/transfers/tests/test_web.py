"""The hand-over pages: list, create form, transfer page with its steps, custody extension."""

from __future__ import annotations

import pytest
from django.test import Client

from kjda.archives.models import Custody, Record
from kjda.audit.models import AuditEvent
from kjda.lifecycle.transfers.models import TransferBatch


def _browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db(transaction=True)
def test_the_pages_walk_a_transfer_from_draft_to_accepted(people, ingest):
    record = ingest(1)
    acc, arc = _browser(people["kuaiji"]), _browser(people["dazhuguan"])
    page = acc.get("/transfers/new/?fonds=Z001&year=2024")
    assert page.status_code == 200 and "编制移交清册" in page.content.decode()
    resp = acc.post("/transfers/new/", {"fonds": "Z001", "year": "2019"})
    assert resp.status_code == 422 and "没有可移交的档案" in resp.content.decode()
    resp = acc.post("/transfers/new/", {"fonds": "Z001", "year": "2024", "note": "年度移交"})
    batch = TransferBatch.objects.get()
    assert resp.status_code == 302 and resp["Location"] == f"/transfers/{batch.pk}/"
    page = acc.get(f"/transfers/{batch.pk}/").content.decode()
    assert "提交并签署移交清册" in page and record.archive_no in page
    # The archives side sees no submit button, and posting it anyway is refused.
    assert "提交并签署移交清册" not in arc.get(f"/transfers/{batch.pk}/").content.decode()
    resp = arc.post(f"/transfers/{batch.pk}/submit/")
    assert resp.status_code == 403 and "需要以下角色之一" in resp.content.decode()
    assert acc.post(f"/transfers/{batch.pk}/submit/").status_code == 302
    page = arc.get(f"/transfers/{batch.pk}/").content.decode()
    assert "YJ-1-1" in page and "接收方签署并完成移交" in page
    item = batch.items.get()
    resp = arc.post(f"/transfers/{batch.pk}/decide/", {f"decision_{item.pk}": "accepted"})
    assert resp.status_code == 302
    resp = arc.post(f"/transfers/{batch.pk}/sign/", {"opinion": "同意接收"})
    assert resp.status_code == 302
    page = arc.get(f"/transfers/{batch.pk}/").content.decode()
    assert "已接收" in page and "档案机构负责人" in page or "archives_head" in page
    assert Record.objects.get(pk=record.pk).custody == Custody.ARCHIVES
    listing = acc.get("/transfers/?state=accepted").content.decode()
    assert batch.number in listing
    assert batch.number not in acc.get("/transfers/?state=draft").content.decode()
    # The record page says who holds it and lists the transfer.
    detail = acc.get(f"/records/{record.pk}/").content.decode()
    assert "档案机构保管" in detail and f"会计档案移交清册 {batch.number}" in detail
    assert AuditEvent.objects.filter(action="transfer.sign", object_id=str(batch.pk)).exists()


@pytest.mark.django_db
def test_the_custody_extension_form_and_who_sees_the_pages(people, ingest):
    ingest(1)
    arc = _browser(people["dangan"])
    resp = arc.post("/custody/extension/", {"fonds": "Z001", "year": "2024",
                                            "until": "2029-01-01", "reason": "系统切换"})
    assert resp.status_code == 422 and "三年" in resp.content.decode()
    resp = arc.post("/custody/extension/", {"fonds": "Z001", "year": "2024",
                                            "until": "2026-06-30", "reason": "系统切换"})
    assert resp.status_code == 302
    assert AuditEvent.objects.filter(action="custody.extend").exists()
    assert _browser(people["yuangong"]).get("/transfers/").status_code == 403
    nav = _browser(people["kuaiji"]).get("/transfers/").content.decode()
    assert 'href="/transfers/"' in nav


@pytest.mark.django_db
def test_the_pages_in_english(people, ingest):
    ingest(1)
    acc = _browser(people["kuaiji"])
    acc.cookies["django_language"] = "en"
    page = acc.get("/transfers/").content.decode()
    assert "Hand-over" in page and "Prepare a transfer register" in page
