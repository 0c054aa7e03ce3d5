"""The API under /api/v1/holds and /api/v1/destructions, end to end with bearer tokens."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook
from pypdf import PdfReader

from kjda.accounts.services import token_issue
from kjda.audit.models import AuditEvent
from kjda.lifecycle.destruction.services import destruction_run

pytestmark = pytest.mark.django_db(transaction=True)


class As:
    def __init__(self, user: Any) -> None:
        self.client = Client()
        raw = token_issue(user=user, name="t", scopes=["read", "ingest", "admin"])[1]
        self.headers = {"Authorization": f"Bearer {raw}"}

    def get(self, path: str) -> Any:
        return self.client.get(f"/api/v1{path}", headers=self.headers)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.client.post(f"/api/v1{path}", json.dumps(body or {}),
                                content_type="application/json", headers=self.headers)


def test_the_whole_destruction_through_the_api(ingest, people):
    records = [ingest(), ingest()]
    api = {name: As(user) for name, user in people.items()}
    review = (timezone.localdate() + timedelta(days=30)).isoformat()
    held = api["archivist"].post("/holds", {"kind": "claims", "reason": "应收账款未结清",
                                            "review_on": review, "owner": "accountant",
                                            "record_ids": [records[1].pk]})
    assert held.status_code == 201, held.content
    hold = held.json()
    assert hold["owner"] == "accountant" and hold["records_held_now"] == 1
    assert api["archivist"].get("/holds").json()[0]["number"] == hold["number"]

    refused = api["archivist"].post("/destructions", {"record_ids": [r.pk for r in records]})
    assert refused.status_code == 409
    body = refused.json()
    assert body["code"] == "items_refused" and body["message_zh"] and body["message_en"]
    assert body["detail"]["refused"][0]["code"] == "held"

    released = api["accountant"].post(f"/holds/{hold['id']}/release", {"reason": "已结清"})
    assert released.status_code == 200 and released.json()["state"] == "released"
    created = api["archivist"].post("/destructions", {"record_ids": [r.pk for r in records],
                                                      "title": "1990年度凭证"})
    assert created.status_code == 201, created.content
    batch = created.json()
    bid = batch["id"]
    assert batch["state"] == "draft" and "submit" in batch["next_steps"]
    assert api["head"].post(f"/destructions/{bid}/submit").status_code == 403
    assert api["archivist"].post(f"/destructions/{bid}/submit").json()["state"] == \
        "under_appraisal"
    for who in ("head", "archives_head", "accounting_head", "archivist", "accountant"):
        signed = api[who].post(f"/destructions/{bid}/sign",
                               {"capacity": who, "opinion": "同意销毁"})
        assert signed.status_code == 200, signed.content
    assert signed.json()["state"] == "signed" and len(signed.json()["signatures"]) == 5
    again = api["head"].post(f"/destructions/{bid}/sign", {"capacity": "head", "opinion": "x"})
    assert again.status_code == 409
    early = api["archivist"].post(f"/destructions/{bid}/execute")
    assert early.status_code == 409 and early.json()["code"] == "witnesses_missing"
    for who, capacity in (("archivist", "archives"), ("accountant", "accounting"), ("it", "it")):
        assert api[who].post(f"/destructions/{bid}/witness",
                             {"capacity": capacity, "note": "核对无误"}).status_code == 200
    started = api["archivist"].post(f"/destructions/{bid}/execute")
    assert started.status_code == 202 and started.json()["state"] == "executing"
    destruction_run(batch_id=bid)  # what the task worker does
    done = api["head"].get(f"/destructions/{bid}").json()
    assert done["state"] == "destroyed" and done["register_record_id"]
    assert {i["state"] for i in done["items"]} == {"done"}

    pdf = api["head"].get(f"/destructions/{bid}/register.pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert records[0].archive_no in text and "单位负责人" in text
    xlsx = api["head"].get(f"/destructions/{bid}/register.xlsx")
    cells = [c for row in load_workbook(io.BytesIO(xlsx.content)).active.iter_rows(
        values_only=True) for c in row if c]
    assert records[1].archive_no in cells and "同意销毁" in cells
    downloads = AuditEvent.objects.filter(action="register.download", object_type="destruction",
                                          object_id=str(bid))
    assert sorted(downloads.values_list("detail__format", flat=True)) == ["pdf", "xlsx"]

    gone = api["archivist"].get(f"/files/{records[0].files.first().pk}/content")
    assert gone.status_code == 410 and gone.json()["code"] == "file_destroyed"
    assert AuditEvent.objects.filter(action="destruction.execute", object_id=str(bid)).exists()


def test_cancel_through_the_api_needs_a_reason_and_the_role(ingest, people):
    record = ingest()
    archivist, it = As(people["archivist"]), As(people["it"])
    bid = archivist.post("/destructions", {"record_ids": [record.pk]}).json()["id"]
    assert it.post(f"/destructions/{bid}/cancel", {"reason": "x"}).status_code == 403
    assert archivist.post(f"/destructions/{bid}/cancel", {"reason": " "}).status_code == 400
    cancelled = archivist.post(f"/destructions/{bid}/cancel", {"reason": "选错了年度"})
    assert cancelled.json()["state"] == "cancelled"
    assert archivist.get("/destructions/999999").status_code == 404
