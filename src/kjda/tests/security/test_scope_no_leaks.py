"""Issue 15 item 9: nothing outside a user's scope leaks through a record in scope. A record of
another department that A's records duplicate, relate to or share a file with is named to A
only as "a record outside your scope" (no id, 档号, title, link) in the API JSON, the check
report, the metadata XML, the record page and the upload answers; an unscoped archivist still
sees it."""

from __future__ import annotations

import json
import re
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from kjda_oasim.factories import metadata_json, voucher_pdf
from kjda_oasim.testing.clients import ApiClient

SAMPLES = Path(__file__).resolve().parents[4].parent / "shared" / "samples"
# One invoice in two different files (a duplicate claim: kjda.invoices).
INVOICE_1, INVOICE_2 = "ofdrw_converter_发票示例.ofd", "ofdrw_sign_v4signed.ofd"
SECRET_TITLE = "采购部保密采购合同付款"


@pytest.fixture
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip("../shared/samples is not there")
    return SAMPLES


@pytest.fixture
def scoped_user(fonds):
    from django.contrib.auth import get_user_model

    from kjda.accounts.models import Profile

    user = get_user_model().objects.create_user("clerk-a", password="Clerk-Pass-2024")
    Profile.objects.create(user=user, roles=["archivist"], departments=["财务部"])
    return user


@pytest.fixture
def api_a(scoped_user) -> ApiClient:
    from kjda.accounts.services import token_issue

    return ApiClient(token_issue(user=scoped_user, name="a")[1])


def _voucher(number: str) -> bytes:
    return voucher_pdf(number=number, summary="付款", amount=Decimal("99.00"), day=date(2024, 3, 15))


@pytest.fixture
def world(api, api_a, samples):
    """Records of 采购部 (filed by the unscoped archivist) and A's records of 财务部 that
    duplicate, claim again or share a file with them."""
    shared_pdf = _voucher("0777")

    def post(client, ext, files, **meta):
        meta.setdefault("department", "财务部")
        resp = client.post_record(metadata_json(source_system="test", external_id=ext,
                                                files=[{"document_type": "原始凭证"}] * len(files),
                                                **meta), files)
        assert resp.status_code == 201, resp.content
        return resp.json()

    other = post(api, "B-1", [("fp.ofd", (samples / "ofd_invoices" / INVOICE_1).read_bytes()),
                              ("pz.pdf", shared_pdf)],
                 department="采购部", title=SECRET_TITLE, document_no="记-0901")
    assert other["status"] == "filed" and other["archive_no"]
    claim = post(api_a, "A-1", [("fp.ofd", (samples / "ofd_invoices" / INVOICE_2).read_bytes())],
                 title="报销（重复的发票）", document_no="记-0101")
    same_number = post(api_a, "A-2", [("pz.pdf", _voucher("0102"))], title="同号凭证",
                       document_no="记-0901")
    same_file = post(api_a, "A-3", [("pz.pdf", shared_pdf)], title="同一文件", document_no="记-0103")
    return {"other": other, "claim": claim, "same_number": same_number, "same_file": same_file}


def _gd18(body: dict) -> dict:
    return next(i for i in body["check_report"]["items"] if i["code"] == "GD-1-8")


def _no_trace(text: str, other: dict) -> None:
    assert other["archive_no"] not in text
    assert SECRET_TITLE not in text
    # a link to it, not any text that happens to start with its id (a UUID, a 档号)
    assert not re.search(rf"/records/{other['id']}(?![0-9a-f-])", text)
    assert "B-1" not in text


def test_api_detail_names_an_out_of_scope_record_only_as_outside_your_scope(world, api_a):
    other = world["other"]
    claim = api_a.get(f"/api/v1/records/{world['claim']['id']}").json()
    assert claim["status"] == "pending" and "GD-1-8" in claim["check_report"]["blocking_failures"]
    reason = _gd18(claim)["reason"]
    assert "a record outside your scope" in reason and "您权限范围外的一条记录" in reason
    assert "refs" not in _gd18(claim)
    [rel] = [r for r in claim["relations"] if r["relation_type"] == "重复报销"]
    assert rel["target_id"] is None and rel["target_visible"] is False
    assert rel["entity_identifier"].endswith("a record outside your scope")
    assert claim["invoice"]["duplicate_of"] is None
    assert claim["invoice"]["duplicate_claim"] == {"visible": False}
    for key in ("same_number", "same_file"):
        body = api_a.get(f"/api/v1/records/{world[key]['id']}").json()
        assert "a record outside your scope" in _gd18(body)["reason"], key
        _no_trace(json.dumps(body, ensure_ascii=False), other)
    _no_trace(json.dumps(claim, ensure_ascii=False), other)
    # the answers to the uploads themselves (201) said no more
    for key in ("claim", "same_number", "same_file"):
        _no_trace(json.dumps(world[key], ensure_ascii=False), other)
    xml = api_a.get(f"/api/v1/records/{world['claim']['id']}/metadata.xml").content.decode()
    _no_trace(xml, other)
    listing = api_a.get("/api/v1/records").content.decode()
    _no_trace(listing, other)


def test_refiling_an_out_of_scope_external_id_is_a_409_naming_no_record(world, api_a):
    other = world["other"]
    resp = api_a.post_record(metadata_json(source_system="test", external_id="B-1",
                                           files=[{"document_type": "原始凭证"}]),
                             [("pz.pdf", _voucher("0555"))])
    assert resp.status_code == 409, resp.content
    body = resp.json()
    assert body["code"] == "external_id_taken"
    assert "a record outside your scope" in body["message_en"]
    assert str(other["id"]) not in body["message"] + body["message_zh"] + body["message_en"]
    _no_trace(resp.content.decode(), other)


def test_record_page_and_upload_form_name_no_out_of_scope_record(world, scoped_user):
    other = world["other"]
    web = Client()
    web.force_login(scoped_user)
    for key in ("claim", "same_number", "same_file"):
        html = web.get(reverse("web:record_detail", kwargs={"record_id": world[key]["id"]}))
        assert html.status_code == 200
        text = html.content.decode()
        _no_trace(text, other)
        assert "您权限范围外的一条记录" in text, key
    # the upload form re-filing another scope's upload token: no redirect to it, no name
    from kjda.archives.models import Record

    token = uuid.uuid4()
    Record.objects.filter(pk=other["id"]).update(source_system="web",
                                                 external_id=f"upload-{token}")
    resp = web.post("/records/new/", {
        "category": "记账凭证", "fiscal_year": "2024", "period": "3", "title": "x",
        "date": "2024-03-15", "amount": "1.00", "department": "财务部", "applicant": "张三",
        "document_no": "记-0999", "upload_token": str(token),
        "files_voucher": [SimpleUploadedFile("pz.pdf", _voucher("0999"))]})
    assert resp.status_code == 409
    _no_trace(resp.content.decode() + resp.get("Location", ""), other)
    assert "您权限范围外的一条记录" in resp.content.decode()


def test_an_unscoped_archivist_still_sees_the_other_record(world, api, archivist):
    other = world["other"]
    web = Client()
    web.force_login(archivist)
    claim = api.get(f"/api/v1/records/{world['claim']['id']}").json()
    assert other["archive_no"] in _gd18(claim)["reason"]
    [rel] = [r for r in claim["relations"] if r["relation_type"] == "重复报销"]
    assert rel["target_id"] == other["id"] and rel["target_visible"] is True
    assert claim["invoice"]["duplicate_of"] == other["id"]
    assert claim["invoice"]["duplicate_claim"]["archive_no"] == other["archive_no"]
    same_number = api.get(f"/api/v1/records/{world['same_number']['id']}").json()
    assert other["archive_no"] in _gd18(same_number)["reason"]
    same_file = api.get(f"/api/v1/records/{world['same_file']['id']}").json()
    assert other["archive_no"] in _gd18(same_file)["reason"]
    html = web.get(reverse("web:record_detail", kwargs={"record_id": world["claim"]["id"]}))
    assert f"/records/{other['id']}/" in html.content.decode()


def test_a_report_stored_before_the_fix_is_redacted_for_a_scoped_reader(world, api, api_a):
    """Reports written by earlier versions name records in the reason text itself."""
    from kjda.archives.models import Record

    other = world["other"]
    record = Record.objects.get(pk=world["same_file"]["id"])
    report = record.check_report
    for item in report["items"]:
        if item["code"] == "GD-1-8":
            item.pop("refs", None)
            item["reason"] = (f"相同内容的文件已在档案 {other['id']} 中 / identical file already in "
                              f"record(s) {other['id']} ({other['archive_no']})")
    Record.objects.filter(pk=record.pk).update(check_report=report)
    body = api_a.get(f"/api/v1/records/{record.pk}").content.decode()
    _no_trace(body, other)
    assert "a record outside your scope" in body
    assert other["archive_no"] in _gd18(api.get(f"/api/v1/records/{record.pk}").json())["reason"]
