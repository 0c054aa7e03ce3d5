"""Borrowing through /api/v1/loans with bearer tokens: request, approve, the record appearing
in the borrower's API reads and disappearing after return; the register and statistics."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook

from kjda.accounts.services import token_issue
from kjda.audit.models import AuditEvent
from kjda.formats.pdfa_check import pdfa_check


def _client(user, scopes=("read", "ingest")) -> Client:
    raw = token_issue(user=user, name="t", scopes=list(scopes))[1]
    return Client(headers={"Authorization": f"Bearer {raw}"})


def _post(client: Client, path: str, body: dict | None = None):
    return client.post(f"/api/v1{path}", json.dumps(body or {}), content_type="application/json")


def _until(days: int) -> str:
    return (timezone.localdate() + timedelta(days=days)).isoformat()


@pytest.mark.django_db(transaction=True)
def test_a_loan_through_the_api_from_request_to_return(people, ingest):
    lent, other = ingest(1), ingest(2)
    bor, arc = _client(people["lisi"]), _client(people["dangan"])
    assert bor.get(f"/api/v1/records/{lent.pk}").status_code == 404
    resp = _post(bor, "/loans", {"records": [lent.archive_no], "purpose": "审计",
                                 "until": _until(5), "rights": ["view", "download"]})
    assert resp.status_code == 201, resp.content
    loan = resp.json()
    assert loan["state"] == "requested" and loan["items"] == [
        {"record_id": lent.pk, "archive_no": lent.archive_no, "title": ""}]
    assert loan["next_steps"] == ["cancel"]
    lid = loan["id"]
    # the borrower cannot approve their own loan; an unknown field value is a 422
    assert _post(bor, f"/loans/{lid}/approve").status_code == 403
    assert _post(bor, "/loans", {"purpose": "x", "until": "soon"}).status_code == 422
    listed = arc.get("/api/v1/loans").json()
    assert [x["loan_no"] for x in listed] == [loan["loan_no"]]
    assert "approve" in listed[0]["next_steps"]
    resp = _post(arc, f"/loans/{lid}/approve", {"comment": "同意"})
    assert resp.status_code == 200 and resp.json()["state"] == "active"
    assert resp.json()["decided_by"] == "archivist"
    # the lent record, and only it, is readable by the borrower through the API
    assert bor.get(f"/api/v1/records/{lent.pk}").status_code == 200
    assert bor.get(f"/api/v1/records/{other.pk}").status_code == 404
    found = bor.get("/api/v1/records").json()
    ids = {r["id"] for r in (found["items"] if isinstance(found, dict) else found)}
    assert ids == {lent.pk}
    assert bor.get(f"/api/v1/loans/{lid}").json()["items"][0]["title"] == lent.title
    # renew, then return
    resp = _post(bor, f"/loans/{lid}/renew", {"until": _until(9)})
    assert resp.status_code == 201 and resp.json()["renewal_of"] == loan["loan_no"]
    renewal_id = resp.json()["id"]
    resp = _post(bor, f"/loans/{lid}/return")
    assert resp.status_code == 200 and resp.json()["state"] == "returned"
    assert bor.get(f"/api/v1/records/{lent.pk}").status_code == 404
    assert _post(bor, f"/loans/{lid}/return").status_code == 409
    # the renewal can no longer be approved: the loan has ended
    resp = _post(arc, f"/loans/{renewal_id}/approve")
    assert resp.status_code == 409 and resp.json()["code"] == "loan_ended"
    # another user neither sees nor acts on the loan
    assert _client(people["wangwu"]).get(f"/api/v1/loans/{lid}").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_the_register_and_statistics_are_for_archivists_and_the_register_is_pdfa_and_xlsx(
        people, ingest):
    record = ingest(1)
    bor, arc = _client(people["lisi"]), _client(people["dangan"])
    lid = _post(bor, "/loans", {"records": [record.pk], "purpose": "外部审计",
                                "until": _until(5), "external": True,
                                "organisation": "某会计师事务所"}).json()["id"]
    assert _post(arc, f"/loans/{lid}/approve").json()["state"] == "approved"
    head = _client(people["fuzeren"])
    assert _post(head, f"/loans/{lid}/approve").json()["state"] == "active"
    year = timezone.localdate().year
    assert bor.get(f"/api/v1/loans/register?year={year}").status_code == 403
    resp = arc.get(f"/api/v1/loans/register?year={year}")
    assert resp.status_code == 200 and resp["Content-Type"] == "application/pdf"
    report = pdfa_check(resp.content)
    assert report.compliant, report.as_dict()
    resp = arc.get(f"/api/v1/loans/register?year={year}&format=xlsx")
    sheet = load_workbook(io.BytesIO(resp.content)).active
    cells = [str(c.value) for row in sheet.iter_rows() for c in row if c.value is not None]
    assert any(record.archive_no in c for c in cells)
    assert "是：某会计师事务所" in cells and "李四" in cells
    assert AuditEvent.objects.filter(action="register.download", object_type="loan_register",
                                     object_id=str(year)).count() == 2
    stats = arc.get(f"/api/v1/loans/statistics?year={year}").json()
    assert stats["years"][0]["active"] == 1 and stats["top_borrowers"][0]["name"] == "李四"
    assert stats["top_records"][0]["record_id"] == record.pk
    assert bor.get("/api/v1/loans/statistics").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_loan_rules_are_set_by_archivists_only(people, fonds):
    arc = _client(people["dangan"], scopes=("read", "admin"))
    rules = arc.get("/api/v1/loan-rules").json()
    assert rules[0]["fonds"] == "Z001" and rules[0]["mode"] == "archivist"
    resp = arc.put("/api/v1/loan-rules/Z001", json.dumps({"mode": "auto", "max_days": 14}),
                   content_type="application/json")
    assert resp.status_code == 200 and resp.json()["mode"] == "auto"
    resp = arc.put("/api/v1/loan-rules/Z001", json.dumps({"mode": "nobody"}),
                   content_type="application/json")
    assert resp.status_code == 400
    head = _client(people["dazhuguan"], scopes=("read", "admin"))
    resp = head.put("/api/v1/loan-rules/Z001", json.dumps({"mode": "oa"}),
                    content_type="application/json")
    assert resp.status_code == 403
