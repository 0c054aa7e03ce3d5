"""The hand-over through /api/v1/transfers, with bearer tokens of each side."""

from __future__ import annotations

import io
import json

import pytest
from django.test import Client
from openpyxl import load_workbook

from kjda.accounts.services import token_issue
from kjda.audit.models import AuditEvent
from kjda.formats.pdfa_check import pdfa_check


def _client(user) -> Client:
    raw = token_issue(user=user, name="t", scopes=["read", "ingest"])[1]
    return Client(headers={"Authorization": f"Bearer {raw}"})


def _post(client: Client, path: str, body: dict | None = None):
    return client.post(f"/api/v1{path}", json.dumps(body or {}), content_type="application/json")


@pytest.mark.django_db(transaction=True)
def test_a_transfer_through_the_api_from_create_to_signed(people, ingest):
    records = [ingest(1), ingest(2)]
    acc, arc = _client(people["kuaiji"]), _client(people["dangan"])
    resp = _post(acc, "/transfers", {"fonds": "Z001", "fiscal_year": 2024})
    assert resp.status_code == 201, resp.content
    batch = resp.json()
    assert batch["state"] == "draft" and len(batch["items"]) == 2
    assert "submit" in batch["next_steps"] and "cancel" in batch["next_steps"]
    bid = batch["id"]
    # The archives side cannot submit: 403 with both languages.
    resp = _post(arc, f"/transfers/{bid}/submit")
    assert resp.status_code == 403 and resp.json()["message_zh"] and resp.json()["message_en"]
    resp = _post(acc, f"/transfers/{bid}/submit")
    assert resp.status_code == 200 and resp.json()["state"] == "checked"
    detail = arc.get(f"/api/v1/transfers/{bid}").json()
    assert all(i["passed"] and i["checks"][0]["code"].startswith("YJ-") for i in detail["items"])
    assert detail["next_steps"] == ["decide", "accept", "accept_partially", "reject"]
    first, second = detail["items"]
    resp = _post(arc, f"/transfers/{bid}/items/{first['id']}/accept")
    assert resp.status_code == 200
    resp = _post(arc, f"/transfers/{bid}/items/{second['id']}/reject", {"reason": ""})
    assert resp.status_code == 422 and resp.json()["code"] == "reason_required"
    resp = _post(arc, f"/transfers/{bid}/decisions", {"decisions": [
        {"item_id": second["id"], "decision": "rejected", "reason": "凭证号重复，请核对"}]})
    assert resp.status_code == 200
    resp = _post(arc, f"/transfers/{bid}/sign", {"opinion": "部分接收"})
    assert resp.status_code == 200, resp.content
    done = resp.json()
    assert done["state"] == "partially_accepted" and done["register_record_id"]
    assert {s["side"] for s in done["signatures"]} == {"accounting", "archives"}
    assert _post(arc, f"/transfers/{bid}/sign").status_code == 409  # no second signing
    rec = acc.get(f"/api/v1/records/{records[0].pk}").json()
    assert rec["custody"] == "archives" and rec["custody_since"]
    assert acc.get(f"/api/v1/records/{records[1].pk}").json()["custody"] == "accounting"
    pdf = acc.get(f"/api/v1/transfers/{bid}/register.pdf")
    assert pdf.status_code == 200 and pdfa_check(pdf.content).compliant
    xlsx = acc.get(f"/api/v1/transfers/{bid}/register.xlsx")
    rows = [r for r in load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(values_only=True)]
    assert any(r[5] == records[0].archive_no for r in rows if len(r) > 5)
    assert not any(len(r) > 5 and r[5] == records[1].archive_no for r in rows)
    downloads = AuditEvent.objects.filter(action="register.download", object_type="transfer",
                                          object_id=str(bid))
    assert sorted(downloads.values_list("detail__format", flat=True)) == ["pdf", "xlsx"]
    listed = acc.get("/api/v1/transfers?state=partially_accepted").json()
    assert [b["number"] for b in listed] == [batch["number"]]
    assert AuditEvent.objects.filter(action="transfer.sign", object_id=str(bid)).exists()


@pytest.mark.django_db
def test_custody_register_extension_and_refusals_through_the_api(people, ingest):
    ingest(1)
    arc, acc = _client(people["dazhuguan"]), _client(people["kjzhuguan"])
    cashier = _client(people["chuna"])
    resp = _post(cashier, "/transfers", {"fonds": "Z001", "fiscal_year": 2024})
    assert resp.status_code == 403 and resp.json()["code"] == "cashier_not_custodian"
    resp = arc.get("/api/v1/custody-register?fonds=Z001&year=2024")
    assert resp.status_code == 200 and pdfa_check(resp.content).compliant
    resp = arc.get("/api/v1/custody-register?fonds=Z001&year=2024&format=xlsx")
    assert resp.status_code == 200 and resp.content[:2] == b"PK"
    assert AuditEvent.objects.filter(action="register.download", object_type="fonds",
                                     object_id="Z001:2024", detail__format="xlsx").exists()
    assert _client(people["yuangong"]).get(
        "/api/v1/custody-register?fonds=Z001&year=2024").status_code == 404
    resp = _post(arc, "/custody-extensions", {"fonds": "Z001", "fiscal_year": 2024,
                                              "until": "2030-01-01", "reason": "延期"})
    assert resp.status_code == 422 and resp.json()["code"] == "custody_beyond_limit"
    resp = _post(arc, "/custody-extensions", {"fonds": "Z001", "fiscal_year": 2024,
                                              "until": "2026-12-31", "reason": "系统切换"})
    assert resp.status_code == 201
    resp = _post(acc, "/custody-register", {"fonds": "Z001", "year": 2024})
    assert resp.status_code == 201 and resp.json()["archive_no"]
    assert _client(people["yuangong"]).get("/api/v1/transfers").json() == []
    assert acc.get("/api/v1/transfers/999").status_code == 404
