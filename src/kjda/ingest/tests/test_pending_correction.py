"""Putting a pending record right (issue 17 item 1): real records held back by real checks,
fixed by adding or replacing files, correcting metadata and re-checking, or withdrawn; a filed
record's description corrected by the archivist."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from kjda.archives.models import (
    BusinessEvent,
    CheckReportHistory,
    Record,
    RecordFile,
    RecordStatus,
)
from kjda.audit.models import AuditEvent
from kjda.storage.models import Blob
from kjda.storage.services import blob_exists
from kjda_oasim.factories import metadata_json, pdf_bytes, user_with_roles
from kjda_oasim.testing.clients import ApiClient

MISSING_INVOICE = {"extra": {"missing_attachments": ["发票 / invoice"]},
                   "files": [{"document_type": "记账凭证"}]}


def _pending_missing_invoice(api, voucher_files, external_id="pend-1") -> dict:
    """A voucher received without its invoice, as the OA intake files it (GD-2-8 fails)."""
    resp = api.post_record(metadata_json(external_id=external_id, **MISSING_INVOICE),
                           voucher_files[:1])
    assert resp.status_code == 201, resp.content
    record = resp.json()
    assert record["status"] == "pending" and record["archive_no"] is None
    assert "GD-2-8" in record["check_report"]["blocking_failures"]
    return record


def _add_file(api, record_id, name, content, **form):
    return api.client.post(f"/api/v1/records/{record_id}/files",
                           {"file": SimpleUploadedFile(name, content), **form},
                           headers=api.headers)


def _post(api, path, body=None):
    return api.client.post(path, json.dumps(body or {}), content_type="application/json",
                           headers=api.headers)


def _patch(api, record_id, body):
    return api.client.patch(f"/api/v1/records/{record_id}", json.dumps(body, ensure_ascii=False),
                            content_type="application/json", headers=api.headers)


def test_a_missing_invoice_added_and_rechecked_files_the_record_with_its_archive_no(
        api, voucher_files):
    record = _pending_missing_invoice(api, voucher_files)
    old_report = record["check_report"]
    invoice_name, invoice = voucher_files[1]
    resp = _add_file(api, record["id"], invoice_name, invoice, document_type="原始凭证")
    assert resp.status_code == 201, resp.content
    assert resp.json()["status"] == "pending"  # nothing is filed before the checks run
    assert AuditEvent.objects.filter(action="record.file_add", object_id=str(record["id"])).exists()

    resp = _post(api, f"/api/v1/records/{record['id']}/recheck")
    assert resp.status_code == 200, resp.content
    out = resp.json()
    assert out["status"] == "filed"
    assert out["archive_no"] == "Z001-PZ·2024·D30-0001"
    assert out["check_report"]["passed"]
    assert [f["filename"] for f in out["files"] if not f["superseded_at"]][:2] == [
        voucher_files[0][0], invoice_name]
    assert out["invoice"]["invoice_number"] == "24310000000012345678"
    # the old report is kept in the record's history, with the state it was given in
    assert len(out["check_history"]) == 1
    assert out["check_history"][0]["status"] == "pending"
    assert out["check_history"][0]["report"]["blocking_failures"] == old_report["blocking_failures"]
    stored = Record.objects.get(pk=record["id"])
    assert stored.check_report["recheck"] is True
    past = CheckReportHistory.objects.get(record=stored)
    assert past.report == old_report | {"items": past.report["items"]} and past.superseded_by == "archivist"
    assert stored.extra["missing_attachments"] == []
    assert stored.extra["supplied_attachments"] == ["发票 / invoice"]
    event = AuditEvent.objects.get(action="record.recheck", object_id=str(record["id"]))
    assert event.detail["passed"] and event.detail["archive_no"] == out["archive_no"]
    assert event.detail["previous_blocking_failures"] == ["GD-2-8"]
    actions = list(BusinessEvent.objects.filter(record_id=record["id"])
                   .values_list("action", flat=True))
    assert actions == ["四性检测", "待处理", "补充文件", "四性检测", "归档"]
    # searchable by the text of the invoice now part of it
    found = api.get("/api/v1/records", q="某某酒店").json()
    assert [r["id"] for r in found["items"]] == [record["id"]]


def test_numbering_stays_gap_free_when_a_pending_record_is_filed_later(api, voucher_files):
    pending = _pending_missing_invoice(api, voucher_files, external_id="late")
    other = api.post_record(metadata_json(external_id="on-time", document_no="记-0016",
                                          files=[{"document_type": "记账凭证"},
                                                 {"document_type": "原始凭证"}]),
                            voucher_files).json()
    assert other["archive_no"].endswith("-0001")
    _add_file(api, pending["id"], *voucher_files[1], document_type="原始凭证")
    out = _post(api, f"/api/v1/records/{pending['id']}/recheck").json()
    # the same invoice is claimed by the other record now: held back as a duplicate claim
    assert out["status"] == "pending" and "GD-1-8" in out["check_report"]["blocking_failures"]
    # replace it with another invoice: the replaced file is kept, superseded
    dup = next(f for f in out["files"] if f["filename"] == voucher_files[1][0]
               and not f["superseded_at"])
    resp = _add_file(api, pending["id"], "发票-2.pdf",
                     pdf_bytes(["电子发票（普通发票）", "发票号码：24310000000099999999",
                                "价税合计 1280.50"], invoice=True), replace=dup["id"])
    assert resp.status_code == 201, resp.content
    assert AuditEvent.objects.filter(action="record.file_replace").count() == 1
    out = _post(api, f"/api/v1/records/{pending['id']}/recheck").json()
    assert out["status"] == "filed", out["check_report"]
    assert out["archive_no"].endswith("-0002")  # the next number of the class, no gap
    old = RecordFile.objects.get(pk=dup["id"])
    assert old.superseded_at is not None and blob_exists(sha256=old.sha256)
    assert Blob.objects.filter(pk=old.sha256).exists()
    assert len(out["check_history"]) == 2
    # the DA/T 94 metadata lists the files of the item, not the replaced one
    xml = api.get(f"/api/v1/records/{pending['id']}/metadata.xml").content.decode()
    active = [f for f in out["files"] if not f["superseded_at"]]
    assert xml.count("<电子属性") == len(active) and len(active) < len(out["files"])


def test_a_filed_record_refuses_new_files_with_409(api, voucher_files):
    filed = api.post_record(metadata_json(files=[{"document_type": "记账凭证"},
                                                 {"document_type": "原始凭证"}]),
                            voucher_files).json()
    assert filed["status"] == "filed"
    resp = _add_file(api, filed["id"], "x.pdf", pdf_bytes(["x"]))
    assert resp.status_code == 409
    body = resp.json()
    assert body["code"] == "record_filed" and "内容不可更改" in body["message_zh"]
    assert "cannot change" in body["message_en"]
    assert _post(api, f"/api/v1/records/{filed['id']}/recheck").status_code == 409
    assert _post(api, f"/api/v1/records/{filed['id']}/withdraw",
                 {"reason": "x"}).status_code == 409


def test_withdrawing_a_pending_record_keeps_it_with_the_reason(api, voucher_files):
    record = _pending_missing_invoice(api, voucher_files)
    assert _post(api, f"/api/v1/records/{record['id']}/withdraw", {"reason": " "}).status_code == 400
    resp = _post(api, f"/api/v1/records/{record['id']}/withdraw", {"reason": "重复提交的报销单"})
    assert resp.status_code == 200, resp.content
    assert resp.json()["status"] == "withdrawn"
    stored = Record.objects.get(pk=record["id"])
    assert stored.status == RecordStatus.WITHDRAWN and stored.get_status_display() == "已撤回"
    assert stored.files.count() == 1
    event = BusinessEvent.objects.get(record=stored, action="撤回")
    assert "重复提交的报销单" in event.description
    audit = AuditEvent.objects.get(action="record.withdraw", object_id=str(stored.pk))
    assert audit.detail == {"reason": "重复提交的报销单"}
    assert _post(api, f"/api/v1/records/{record['id']}/withdraw",
                 {"reason": "again"}).status_code == 409


def test_pending_metadata_is_corrected_as_ingest_validates_it_then_rechecked(api, voucher_files):
    resp = api.post_record(metadata_json(external_id="bad-date", date="2022-03-15",
                                         files=[{"document_type": "记账凭证"},
                                                {"document_type": "原始凭证"}]),
                           voucher_files)
    record = resp.json()
    assert record["status"] == "pending" and "GD-1-5" in record["check_report"]["failures"]
    bad = _patch(api, record["id"], {"date": "not a date"})
    assert bad.status_code == 422 and bad.json()["code"] == "metadata_invalid"
    assert _patch(api, record["id"], {"external_id": "x"}).status_code == 400
    assert _patch(api, record["id"], {"extra": {}}).status_code == 400  # a finding stays
    resp = _patch(api, record["id"], {"date": "2024-03-15", "title": "报销差旅费（更正）"})
    assert resp.status_code == 200, resp.content
    event = AuditEvent.objects.get(action="record.correct", object_id=str(record["id"]))
    assert event.detail["changes"]["date"] == {"before": "2022-03-15", "after": "2024-03-15"}
    assert event.detail["changes"]["title"]["after"] == "报销差旅费（更正）"
    out = _post(api, f"/api/v1/records/{record['id']}/recheck").json()
    assert out["status"] == "filed" and out["title"] == "报销差旅费（更正）"


def test_a_filed_records_description_is_corrected_by_the_archivist_with_before_and_after(
        api, voucher_files):
    filed = api.post_record(metadata_json(files=[{"document_type": "记账凭证"},
                                                 {"document_type": "原始凭证"}]),
                            voucher_files).json()
    resp = _patch(api, filed["id"], {"fiscal_year": 2023})
    assert resp.status_code == 409, resp.content
    assert resp.json()["code"] == "field_locked"
    resp = _patch(api, filed["id"], {"title": "报销北京差旅费", "keywords": "差旅"})
    assert resp.status_code == 200, resp.content
    out = resp.json()
    assert out["title"] == "报销北京差旅费" and out["archive_no"] == filed["archive_no"]
    event = BusinessEvent.objects.get(record_id=filed["id"], action="元数据更正")
    assert "报销差旅费" in event.description and "报销北京差旅费" in event.description
    audit = AuditEvent.objects.get(action="record.correct", object_id=str(filed["id"]))
    assert audit.detail["changes"] == {
        "title": {"before": "报销差旅费", "after": "报销北京差旅费"},
        "keywords": {"before": "", "after": "差旅"}}
    # an accountant may file but not correct a filed record
    accountant = user_with_roles("acc", ["accountant"], password="Acc-Pass-2024-x")
    from kjda.accounts.services import token_issue
    other = ApiClient(token_issue(user=accountant, name="t")[1])
    resp = _patch(other, filed["id"], {"title": "x"})
    assert resp.status_code == 403 and resp.json()["code"] == "archivist_only"


@pytest.fixture
def applicant(db):
    from kjda.accounts.services import token_issue

    user = user_with_roles("zhangsan", ["employee"], password="Emp-Pass-2024-x")
    user.kjda_profile.person_name = "张三"
    user.kjda_profile.save()
    return ApiClient(token_issue(user=user, name="t")[1])


def test_the_applicant_adds_the_file_and_rechecks_but_may_not_edit_or_withdraw(
        api, applicant, voucher_files):
    record = _pending_missing_invoice(api, voucher_files)
    resp = _patch(applicant, record["id"], {"title": "x"})
    assert resp.status_code == 403 and resp.json()["code"] == "applicant_limited"
    resp = _post(applicant, f"/api/v1/records/{record['id']}/withdraw", {"reason": "x"})
    assert resp.status_code == 403
    assert _add_file(applicant, record["id"], *voucher_files[1],
                     document_type="原始凭证").status_code == 201
    out = _post(applicant, f"/api/v1/records/{record['id']}/recheck").json()
    assert out["status"] == "filed" and out["archive_no"]


def test_out_of_scope_users_are_refused_403_and_strangers_see_nothing(api, voucher_files):
    from kjda.accounts.services import token_issue

    record = _pending_missing_invoice(api, voucher_files)
    user = user_with_roles("acc2", ["accountant"], password="Acc-Pass-2024-y")
    user.kjda_profile.departments = ["销售部"]
    user.kjda_profile.save()
    other = ApiClient(token_issue(user=user, name="t")[1])
    resp = _add_file(other, record["id"], *voucher_files[1])
    assert resp.status_code == 404  # outside the reader's scope the record does not exist
    reader = user_with_roles("aud", ["auditor"], password="Aud-Pass-2024-y")
    resp = _post(ApiClient(token_issue(user=reader, name="t")[1]),
                 f"/api/v1/records/{record['id']}/recheck")
    assert resp.status_code == 403 and resp.json()["code"] == "out_of_scope"
    read_only = ApiClient(token_issue(user=Record.objects.get().created_by, name="ro",
                                      scopes=["read"])[1])
    assert _post(read_only, f"/api/v1/records/{record['id']}/recheck").status_code == 403


def test_the_pending_record_page_says_what_failed_and_offers_the_fixes(
        api, archivist, voucher_files):
    from django.test import Client

    record = _pending_missing_invoice(api, voucher_files)
    web = Client()
    web.force_login(archivist)
    html = web.get(f"/records/{record['id']}/").content.decode()
    assert "待处理：检测未通过" in html and "GD-2-8" in html and "附件完整性检测" in html
    assert "缺少" in html and "发票" in html  # the blocking item in words
    for action in ("files/", "recheck/", "withdraw/", "correct/"):
        assert f"/records/{record['id']}/{action}" in html
    resp = web.post(f"/records/{record['id']}/files/",
                    {"file": SimpleUploadedFile(*voucher_files[1]), "document_type": "原始凭证"})
    assert resp.status_code == 302 and resp["Location"].endswith("#fix")
    resp = web.post(f"/records/{record['id']}/recheck/")
    assert resp.status_code == 302
    stored = Record.objects.get(pk=record["id"])
    assert stored.status == RecordStatus.FILED and stored.archive_no
    html = web.get(f"/records/{record['id']}/").content.decode()
    assert "待处理：检测未通过" not in html
    assert "历史检测报告" in html and "GD-2-8" in html  # the old report, in the history
    assert "检测通过，已归档" in html  # the message after the redirect
    # a filed record: the archivist's correction form, descriptive fields only
    assert "更正描述性元数据" in html and 'name="fiscal_year"' not in html
    resp = web.post(f"/records/{record['id']}/correct/",
                    {"title": "报销差旅费（已更正）", "notes": "题名更正"})
    assert resp.status_code == 302
    stored.refresh_from_db()
    assert stored.title == "报销差旅费（已更正）" and stored.notes == "题名更正"
    html = web.get(f"/records/{record['id']}/").content.decode()
    assert "元数据更正" in html and "报销差旅费（已更正）" in html
    # a content change on the filed record is refused with the reason
    web.post(f"/records/{record['id']}/files/", {"file": SimpleUploadedFile("x.pdf", b"%PDF-1.4")},
             follow=False)
    html = web.get(f"/records/{record['id']}/").content.decode()
    assert "已归档档案的内容不可更改" in html


def test_withdrawing_from_the_page_keeps_the_record(api, archivist, voucher_files):
    from django.test import Client

    record = _pending_missing_invoice(api, voucher_files)
    web = Client()
    web.force_login(archivist)
    web.post(f"/records/{record['id']}/withdraw/", {"reason": "申请人已放弃报销"})
    stored = Record.objects.get(pk=record["id"])
    assert stored.status == RecordStatus.WITHDRAWN
    html = web.get(f"/records/{record['id']}/").content.decode()
    assert "已撤回" in html, html[html.find("subtitle"):][:600]
    assert "申请人已放弃报销" in html and "重新检测" not in html


def test_a_replaced_file_is_no_orphan_and_keeps_its_bytes(settings, tmp_path, api, voucher_files):
    import os
    import time

    from kjda.storage.services import get_backend, storage_sweep

    settings.DATA_DIR = tmp_path
    settings.STORAGE_URL = (tmp_path / "blobs").as_uri()
    settings.KJDA_ORPHAN_GRACE_HOURS = 1
    record = _pending_missing_invoice(api, voucher_files)
    first = RecordFile.objects.get(record_id=record["id"])
    resp = _add_file(api, record["id"], "记账凭证-0015-v2.pdf",
                     pdf_bytes(["记账凭证 记-0015", "报销差旅费 1280.50"]), replace=first.pk)
    assert resp.status_code == 201, resp.content
    first.refresh_from_db()
    assert first.superseded_at is not None
    then = time.time() - 3 * 3600
    for f in RecordFile.objects.filter(record_id=record["id"]):
        os.utime(get_backend().path_for(f.sha256), (then, then))
    report = storage_sweep(dry_run=True)
    assert not [f for f in report.found if f.kind == "orphan"]
    assert report.referenced == 2  # the replaced file's blob is still referenced
    # the replaced file is still served, exactly
    body = b"".join(api.get(f"/api/v1/files/{first.pk}/content").streaming_content)
    assert body == voucher_files[0][1]


def test_by_volume_a_rechecked_record_joins_its_open_volume(api, fonds, voucher_files):
    fonds.arrangement = "volume"
    fonds.save()
    record = _pending_missing_invoice(api, voucher_files)
    _add_file(api, record["id"], *voucher_files[1], document_type="原始凭证")
    out = _post(api, f"/api/v1/records/{record['id']}/recheck").json()
    assert out["status"] == "filed" and out["archive_no"] is None
    stored = Record.objects.get(pk=record["id"])
    assert stored.volume is not None and stored.volume.status == "open"
    assert stored.volume.title == "2024年03月记账凭证"


def test_a_pending_records_category_change_is_resolved_as_on_ingest(api, voucher_files):
    record = _pending_missing_invoice(api, voucher_files)
    resp = _patch(api, record["id"], {"category": "没有这种"})
    assert resp.status_code == 400 and resp.json()["code"] == "category_unknown"
    resp = _patch(api, record["id"], {"category": "原始凭证", "fiscal_year": 2023,
                                      "date": "2023-12-20"})
    assert resp.status_code == 200, resp.content
    stored = Record.objects.get(pk=record["id"])
    assert stored.rule.name == "原始凭证" and stored.class_code == "PZ·2023·D30"
    assert stored.retention_expires_on.year == 2053


def test_the_applicant_from_the_oa_notice_sees_only_the_file_and_recheck_forms(
        api, voucher_files):
    from django.test import Client

    from kjda.connectors.notices import record_url

    record = _pending_missing_invoice(api, voucher_files)
    user = user_with_roles("zs", ["employee"], password="Emp-Pass-2024-z")
    user.kjda_profile.person_name = "张三"
    user.kjda_profile.save()
    web = Client()
    web.force_login(user)
    path = record_url(record["id"]).split("://", 1)[-1].split("/", 1)[1]
    html = web.get("/" + path).content.decode()
    assert "GD-2-8" in html and f"/records/{record['id']}/files/" in html
    assert f"/records/{record['id']}/recheck/" in html
    assert f"/records/{record['id']}/withdraw/" not in html
    assert f"/records/{record['id']}/correct/" not in html
    web.post(f"/records/{record['id']}/files/",
             {"file": SimpleUploadedFile(*voucher_files[1]), "document_type": "原始凭证"})
    web.post(f"/records/{record['id']}/recheck/")
    assert Record.objects.get(pk=record["id"]).status == RecordStatus.FILED
    assert AuditEvent.objects.get(action="record.recheck").actor_name == "zs"


def test_the_correction_endpoints_are_in_the_openapi_document(api):
    paths = api.get("/api/v1/openapi.json").json()["paths"]
    assert "patch" in paths["/api/v1/records/{record_id}"]
    for tail in ("files", "recheck", "withdraw"):
        assert "post" in paths[f"/api/v1/records/{{record_id}}/{tail}"]


def test_the_dashboard_lists_pending_records_to_whoever_may_put_them_right(
        api, archivist, voucher_files):
    from django.test import Client

    record = _pending_missing_invoice(api, voucher_files)
    web = Client()
    web.force_login(archivist)
    html = web.get("/").content.decode()
    assert f"/records/{record['id']}/#fix" in html and "补正待处理档案：报销差旅费" in html
    auditor = user_with_roles("aud2", ["auditor"], password="Aud-Pass-2024-q")
    web.force_login(auditor)  # reads it, may not put it right
    assert f"/records/{record['id']}/#fix" not in web.get("/").content.decode()
    _post(api, f"/api/v1/records/{record['id']}/withdraw", {"reason": "不再报销"})
    web.force_login(archivist)
    assert f"/records/{record['id']}/#fix" not in web.get("/").content.decode()
