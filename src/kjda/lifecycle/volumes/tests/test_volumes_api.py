"""组卷 through the API and the web pages: assemble, list, move, close, download, record → volume."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from pypdf import PdfReader

from kjda.accounts.services import token_issue
from kjda.archives.models import Record, Volume
from kjda.audit.models import AuditEvent
from kjda.formats.pdfa_check import pdfa_check


def _client(user) -> Client:
    return Client(headers={"Authorization": f"Bearer {token_issue(user=user, name='t')[1]}"})


@pytest.mark.django_db
def test_the_accountant_assembles_moves_and_closes_through_the_api(by_volume, ingest, archivist,
                                                                   accountant):
    for day, no in (("2024-01-03", "记-0001"), ("2024-01-04", "记-0002"),
                    ("2024-02-01", "记-0003")):
        ingest(date=day, period=int(day[5:7]), document_no=no)
    api = _client(accountant)
    got = api.post("/api/v1/volumes/assemble", {"fonds": "Z001", "fiscal_year": 2024},
                   content_type="application/json")
    assert got.status_code == 200, got.content
    assert got.json()["volumes"] == 2
    listed = api.get("/api/v1/volumes", {"year": 2024, "status": "open"}).json()
    assert listed["count"] == 2
    jan = next(v for v in listed["items"] if "01月" in v["title"])
    feb = next(v for v in listed["items"] if "02月" in v["title"])
    record = Record.objects.get(document_no="记-0002")
    moved = api.post(f"/api/v1/volumes/{jan['id']}/items",
                     {"record_id": record.pk, "to_volume_id": feb["id"]},
                     content_type="application/json")
    assert moved.status_code == 200, moved.content
    assert AuditEvent.objects.filter(action="volume.item_move", actor_name="accountant").exists()
    closed = api.post(f"/api/v1/volumes/{feb['id']}/close")
    assert closed.status_code == 200, closed.content
    assert closed.json()["archive_no"] == "Z001-PZ·2024·D30-0001"
    again = api.post(f"/api/v1/volumes/{feb['id']}/items",
                     {"record_id": record.pk, "to_volume_id": jan["id"]},
                     content_type="application/json")
    assert again.status_code == 409 and again.json()["code"] == "volume_closed"
    detail = api.get(f"/api/v1/volumes/{feb['id']}").json()
    assert detail["metadata"]["item_count"] == 2 and detail["metadata"]["aggregation_level"] == "案卷"
    assert [r["document_no"] for r in detail["records"]] == ["记-0002", "记-0003"]
    pdf = api.get(f"/api/v1/volumes/{feb['id']}/register.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    data = b"".join(pdf.streaming_content)
    assert pdfa_check(data).compliant
    assert "记-0003" in "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    assert api.get(f"/api/v1/volumes/{feb['id']}/register.xlsx").status_code == 200
    assert api.get(f"/api/v1/volumes/{feb['id']}/notes.pdf").status_code == 200
    assert AuditEvent.objects.filter(action="register.download", object_type="volume",
                                     object_id=str(feb["id"]), detail__register="备考表").exists()
    assert api.get(f"/api/v1/volumes/{jan['id']}/register.pdf").status_code == 404
    rec = api.get(f"/api/v1/records/{record.pk}").json()
    assert rec["volume"]["id"] == feb["id"] and rec["volume"]["status"] == "closed"
    assert rec["volume"]["archive_no"] == "Z001-PZ·2024·D30-0001"


@pytest.mark.django_db
def test_only_the_archivist_sets_rules_and_the_format_is_validated(by_volume, archivist,
                                                                   accountant):
    rule = {"fonds": "Z001", "category": "会计凭证", "period": "quarter", "max_items": 500,
            "by_voucher_word": True}
    assert _client(accountant).put("/api/v1/volume-rules", rule,
                                   content_type="application/json").status_code == 403
    arch = _client(archivist)
    got = arch.put("/api/v1/volume-rules", rule, content_type="application/json")
    assert got.status_code == 200 and got.json()["period"] == "quarter"
    assert arch.get("/api/v1/volume-rules").json()[0]["max_items"] == 500
    bad = arch.put("/api/v1/volume-numbering/Z001", {"template": "{fonds}-{volume_no}"},
                   content_type="application/json")
    assert bad.status_code == 400 and bad.json()["code"] == "volume_template_invalid"
    ok = arch.put("/api/v1/volume-numbering/Z001",
                  {"template": "{class_code}-{volume_no:04d}"}, content_type="application/json")
    assert ok.json()["template"] == "{class_code}-{volume_no:04d}"
    assert AuditEvent.objects.filter(action="volume_numbering.set").count() == 1


@pytest.mark.django_db
def test_the_volume_pages_list_show_move_and_close(by_volume, ingest, archivist):
    ingest(date="2024-01-03", period=1, document_no="记-0001")
    ingest(date="2024-02-03", period=2, document_no="记-0002")
    web = Client()
    web.force_login(archivist)
    assemble = web.post("/volumes/assemble/", {"fonds": "Z001", "year": "2024"})
    assert assemble.status_code == 302
    page = web.get("/volumes/", {"year": 2024})
    assert page.status_code == 200 and "2024年01月会计凭证" in page.content.decode()
    jan, feb = Volume.objects.order_by("title")
    record = Record.objects.get(document_no="记-0001")
    moved = web.post(f"/volumes/{jan.pk}/move/", {"record_id": record.pk,
                                                  "to_volume_id": feb.pk})
    assert moved.status_code == 302
    assert Record.objects.get(pk=record.pk).volume_id == feb.pk
    closed = web.post(f"/volumes/{feb.pk}/close/")
    assert closed.status_code == 302
    detail = web.get(f"/volumes/{feb.pk}/").content.decode()
    assert "Z001-PZ·2024·D30-0001" in detail and "register.pdf" in detail
    download = web.get(f"/volumes/{feb.pk}/register.pdf")
    assert download.status_code == 200
    assert b"".join(download.streaming_content).startswith(b"%PDF")
    assert AuditEvent.objects.filter(action="register.download", object_type="volume",
                                     object_id=str(feb.pk), detail__register="卷内目录").count() >= 1


@pytest.mark.django_db
def test_the_archivist_sets_rules_and_the_format_on_the_rules_page(by_volume, archivist,
                                                                   accountant):
    web = Client()
    web.force_login(archivist)
    saved = web.post("/volumes/rules/save/", {"fonds": "Z001", "category": "会计凭证",
                                              "period": "quarter", "max_items": "200",
                                              "by_voucher_word": "on"})
    assert saved.status_code == 302
    page = web.get("/volumes/rules/").content.decode()
    assert "200" in page and "{fonds}-{class_code}-{volume_no:04d}" in page
    web.post("/volumes/numbering/", {"fonds": "Z001", "template": "{fonds}-{volume_no}"})
    refused = web.get("/volumes/rules/").content.decode()
    assert "volume_template_invalid" in refused or "案卷档号格式无效" in refused
    web.post("/volumes/numbering/", {"fonds": "Z001", "template": "{class_code}-{volume_no:04d}"})
    assert AuditEvent.objects.filter(action="volume_numbering.set").count() == 1
    assert AuditEvent.objects.get(action="volume_rule.set").actor_name == "archivist"
    other = Client()
    other.force_login(accountant)
    assert other.get("/volumes/rules/").status_code == 200  # reads the rules
    assert other.post("/volumes/rules/save/", {"fonds": "Z001", "category": "会计凭证",
                                               "period": "year"}).status_code == 403
