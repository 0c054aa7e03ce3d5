from __future__ import annotations

import io

import pytest
from django.test import Client
from pypdf import PdfReader

from kjda.audit.models import AuditEvent

from .conftest import ingest

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_the_appraisal_walks_through_the_api(fonds, people):
    a = people["archivist"]
    r1 = ingest(a, year=1990, no="0001")
    ingest(a, year=2024, no="0002")
    arch = _client(a)
    listed = arch.get("/api/v1/appraisals/expired?fonds=Z001").json()
    assert [r["id"] for r in listed["records"]] == [r1.pk]
    created = arch.post("/api/v1/appraisals", {"fonds": "Z001", "record_ids": [r1.pk]},
                        content_type="application/json")
    assert created.status_code == 201, created.content
    bid = created.json()["id"]
    # the wrong role is refused with a Chinese and an English message
    denied = _client(people["auditor"]).post(f"/api/v1/appraisals/{bid}/submit")
    assert denied.status_code == 403 and denied.json()["message_zh"]
    assert arch.post(f"/api/v1/appraisals/{bid}/submit").json()["state"] == "in_review"
    item = arch.get(f"/api/v1/appraisals/{bid}").json()["items"][0]["id"]
    arch.post(f"/api/v1/appraisals/{bid}/outcomes", [{"item_id": item, "outcome": "destroy"}],
              content_type="application/json")
    for who, text in (("archivist", "同意"), ("accounting_head", "会计同意"),
                      ("auditor", "审计同意"), ("inspector", "纪检同意")):
        r = _client(people[who]).post(f"/api/v1/appraisals/{bid}/opinion", {"opinion": text},
                                      content_type="application/json")
        assert r.status_code == 200, r.content
    decided = arch.post(f"/api/v1/appraisals/{bid}/decide").json()
    assert decided["state"] == "decided" and decided["register_record_id"]
    pdf = arch.get(f"/api/v1/appraisals/{bid}/register.pdf")
    assert pdf["Content-Type"] == "application/pdf"
    assert "纪检同意" in "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert arch.get(f"/api/v1/appraisals/{bid}/register.xlsx").content[:2] == b"PK"
    downloads = AuditEvent.objects.filter(action="register.download", object_type="appraisal",
                                          object_id=str(bid))
    assert sorted(downloads.values_list("detail__format", flat=True)) == ["pdf", "xlsx"]
    assert AuditEvent.objects.filter(action="appraisal.decide", object_id=str(bid)).exists()


def test_local_rules_and_the_fonds_schedule_through_the_api(fonds, people):
    from kjda.accounts.services import token_issue
    token = token_issue(user=people["sysadmin"], name="t", scopes=["read", "admin"])[1]
    admin = Client(headers={"Authorization": f"Bearer {token}"})
    rules = admin.get("/api/v1/retention-rules/all").json()
    assert {r["schedule"] for r in rules} == {"1", "2"}
    base = next(r for r in rules if r["schedule"] == "1" and r["name"] == "原始凭证")
    short = admin.post("/api/v1/retention-rules/local",
                       {"extends_id": base["id"], "name": "合同类原始凭证", "retention": "D20"},
                       content_type="application/json")
    assert short.status_code == 400 and short.json()["code"] == "retention_too_short"
    ok = admin.post("/api/v1/retention-rules/local",
                    {"extends_id": base["id"], "name": "合同类原始凭证", "retention": "D50"},
                    content_type="application/json")
    assert ok.status_code == 201 and ok.json()["local"]
    rid = ok.json()["id"]
    assert admin.patch(f"/api/v1/retention-rules/{rid}", {"retention": "Y", "reason": "x"},
                       content_type="application/json").json()["version"] == 2
    assert [v["version"] for v in admin.get(f"/api/v1/retention-rules/{rid}/versions").json()] \
        == [2, 1]
    put = admin.put("/api/v1/fonds/Z001/retention-schedule", {"schedule": "2"},
                    content_type="application/json")
    assert put.status_code == 200 and put.json()["retention_schedule"] == "2"


def test_the_art8_page_shows_the_evidence_of_the_fonds(fonds, people):
    a = people["archivist"]
    ingest(a, year=2023, no="0001")
    ingest(a, category="年度财务会计报告", year=2023, no="0002")
    data = _client(a).get("/api/v1/fonds/Z001/art8").json()
    conds = {c["no"]: c for c in data["conditions"]}
    assert sorted(conds) == [1, 2, 3, 4, 5, 6]
    assert conds[1]["figures"]["records"] == 2 and conds[1]["figures"]["authenticity_passed"] == 2
    # plain PDF vouchers (not PDF/A): the format condition is not yet shown as met
    assert conds[2]["figures"]["records"] == 2 and conds[2]["status"] != "ok"
    assert conds[4]["figures"]["audit_chain_ok"] is True and conds[4]["status"] == "ok"
    assert conds[5]["status"] == "missing" and "备份" in conds[5]["note"]  # no backup yet
    assert conds[6]["status"] == "flag" and conds[6]["figures"]["permanent_records"] == 1
