"""The ingest and read API, end to end through real multipart requests."""

from __future__ import annotations

import hashlib
import json

import pytest

from kjda_oasim.factories import metadata_json, pdf_bytes, png_bytes

pytestmark = pytest.mark.django_db


def test_filing_a_voucher_with_its_invoice_assigns_an_archive_number(api, voucher_files,
                                                                     voucher_metadata):
    resp = api.post_record(voucher_metadata, voucher_files)
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["status"] == "filed"
    assert body["archive_no"] == "Z001-PZ·2024·D30-0001"
    assert body["check_report"]["passed"] is True
    codes = {i["code"]: i["result"] for i in body["check_report"]["items"]}
    assert codes["GD-1-1"] == "pass" and codes["GD-1-7"] == "pass" and codes["GD-2-6"] == "pass"
    assert [f["document_type"] for f in body["files"]] == ["记账凭证", "原始凭证"]
    assert body["files"][0]["sha256"] == hashlib.sha256(voucher_files[0][1]).hexdigest()
    assert body["retention"] == "D30"
    assert body["retention_expires_on"] == "2054-12-31"


def test_archive_numbers_follow_each_other_within_a_class(api, voucher_files):
    numbers = []
    for n in range(3):
        resp = api.post_record(metadata_json(document_no=f"记-{n:04d}"), voucher_files[:1])
        numbers.append(resp.json()["archive_no"])
    assert numbers == [f"Z001-PZ·2024·D30-000{i}" for i in (1, 2, 3)]
    other = api.post_record(metadata_json(category="银行对账单", document_no=""), voucher_files[:1])
    assert other.json()["archive_no"] == "Z001-QT·2024·D10-0001"


def test_downloaded_file_is_byte_identical(api, voucher_files, voucher_metadata):
    body = api.post_record(voucher_metadata, voucher_files).json()
    resp = api.get(body["files"][1]["content_url"])
    assert resp.status_code == 200
    assert b"".join(resp.streaming_content) == voucher_files[1][1]
    assert resp["X-Content-SHA256"] == hashlib.sha256(voucher_files[1][1]).hexdigest()


def test_retry_with_same_external_id_returns_the_existing_record(api, voucher_files):
    meta = metadata_json(source_system="dingtalk", external_id="PROC-123")
    first = api.post_record(meta, voucher_files)
    again = api.post_record(meta, voucher_files)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    listing = api.get("/api/v1/records", source_system="dingtalk", external_id="PROC-123").json()
    assert listing["count"] == 1


def test_chinese_two_character_query_finds_the_record(api, voucher_files, voucher_metadata):
    api.post_record(voucher_metadata, voucher_files)
    office = pdf_bytes(["记账凭证", "摘要：购买办公用品"])
    api.post_record(metadata_json(title="购买办公用品", document_no="记-0016"),
                    [("记-0016.pdf", office)])
    found = api.get("/api/v1/records", q="差旅").json()
    assert found["count"] == 1 and found["items"][0]["title"] == "报销差旅费"
    # Text inside the invoice PDF is indexed too.
    assert api.get("/api/v1/records", q="酒店").json()["count"] == 1
    assert api.get("/api/v1/records", q="办公用品").json()["count"] == 1
    assert api.get("/api/v1/records", q="差旅 办公").json()["count"] == 0


@pytest.mark.parametrize(
    ("metadata", "status", "code"),
    [
        (None, 400, "metadata_missing"),
        ("{not json", 400, "metadata_malformed"),
        ("[1, 2]", 400, "metadata_malformed"),
        (metadata_json(category="不存在的类别"), 400, "category_unknown"),
        (metadata_json(fiscal_year=2999), 422, "metadata_invalid"),
        (metadata_json(amount="abc"), 422, "metadata_invalid"),
        (metadata_json(title=""), 422, "metadata_invalid"),
        (metadata_json(retention="D10"), 400, "retention_too_short"),
        (metadata_json(unknown_field=1), 422, "metadata_invalid"),
    ],
)
def test_bad_metadata_is_refused_and_nothing_is_stored(api, voucher_files, metadata, status,
                                                      code):
    from kjda.archives.models import Record

    resp = api.post_record(metadata, voucher_files)
    assert resp.status_code == status, resp.content
    body = resp.json()
    assert body["code"] == code
    assert " / " in body["message"]  # Chinese / English
    assert Record.objects.count() == 0


def test_empty_file_and_missing_files_are_refused(api):
    from kjda.archives.models import Record

    assert api.post_record(metadata_json(), []).json()["code"] == "files_missing"
    resp = api.post_record(metadata_json(), [("empty.pdf", b"")])
    assert resp.status_code == 400 and resp.json()["code"] == "file_empty"
    assert Record.objects.count() == 0


def test_oversized_file_is_refused_with_413(api, settings):
    settings.KJDA_MAX_FILE_BYTES = 1000
    resp = api.post_record(metadata_json(), [("big.png", png_bytes(400, 400))])
    assert resp.status_code == 413 and resp.json()["code"] == "file_too_large"


def test_unreadable_or_mislabelled_file_keeps_record_pending_with_reasons(api):
    resp = api.post_record(metadata_json(), [("voucher.pdf", b"%PDF-1.7\nthis is not a pdf")])
    assert resp.status_code == 201
    body = resp.json()
    assert body["status"] == "pending" and body["archive_no"] is None
    assert "GD-3-2" in body["check_report"]["blocking_failures"]
    mislabelled = api.post_record(metadata_json(document_no="记-0002"),
                                  [("scan.pdf", png_bytes())]).json()
    assert mislabelled["status"] == "pending"
    assert "GD-1-9" in mislabelled["check_report"]["blocking_failures"]


def test_declared_digest_mismatch_fails_authenticity_check(api, voucher_files):
    meta = metadata_json(files=[{"sha256": "0" * 64}])
    body = api.post_record(meta, voucher_files[:1]).json()
    assert body["status"] == "pending"
    assert "GD-1-1" in body["check_report"]["blocking_failures"]


def test_duplicate_voucher_number_is_caught(api, voucher_files):
    assert api.post_record(metadata_json(), voucher_files[:1]).json()["status"] == "filed"
    dup = api.post_record(metadata_json(), voucher_files[:1]).json()
    assert dup["status"] == "pending"
    assert "GD-1-8" in dup["check_report"]["blocking_failures"]


def test_content_already_in_a_record_is_reported_not_blocked(api, voucher_files):
    def gd_1_8(body: dict) -> dict:
        return next(i for i in body["check_report"]["items"] if i["code"] == "GD-1-8")

    first = api.post_record(metadata_json(document_no="记-0001"), voucher_files[:1]).json()
    assert gd_1_8(first)["result"] == "pass"
    again = api.post_record(metadata_json(document_no="记-0002"), voucher_files[:1]).json()
    assert again["status"] == "filed"
    # named for this reader (who may see it) by its 档号
    assert gd_1_8(again)["result"] == "warn" and first["archive_no"] in gd_1_8(again)["reason"]


@pytest.mark.parametrize("title", ["报销\ue000差旅费", "报销\U000f0001差旅费", "报销<b>差旅费",
                                   "报销\x07差旅费"])
def test_special_characters_in_metadata_keep_the_record_pending(api, voucher_files, title):
    body = api.post_record(metadata_json(title=title), voucher_files[:1]).json()
    assert body["status"] == "pending"
    assert "GD-1-6" in body["check_report"]["blocking_failures"]


def test_ordinary_chinese_text_passes_the_special_character_check(api, voucher_files):
    body = api.post_record(metadata_json(title="报销差旅费（北京—上海）·第1笔"), voucher_files[:1]).json()
    assert body["status"] == "filed", body["check_report"]["blocking_failures"]


def test_requests_without_a_valid_token_get_401(db, fonds):
    from django.test import Client

    resp = Client().get("/api/v1/records", headers={"Authorization": "Bearer kjda_nope"})
    assert resp.status_code == 401 and resp.json()["code"] == "unauthenticated"


def test_token_endpoint_issues_a_working_token(archivist, fonds):
    from django.test import Client

    c = Client()
    bad = c.post("/api/v1/auth/token", json.dumps({"username": "archivist", "password": "x"}),
                 content_type="application/json")
    assert bad.status_code == 401
    good = c.post("/api/v1/auth/token",
                  json.dumps({"username": "archivist", "password": "Archive-Pass-2024"}),
                  content_type="application/json")
    token = good.json()["token"]
    listing = c.get("/api/v1/records", headers={"Authorization": f"Bearer {token}"})
    assert listing.status_code == 200 and listing.json() == {"items": [], "count": 0}


def test_retention_rules_list_the_whole_legal_table(db):
    from django.test import Client

    rules = Client().get("/api/v1/retention-rules").json()
    assert len(rules) == 17  # 附表1's 16 rows and the catch-all 其他具有保存价值的会计资料
    by_name = {r["name"]: r["retention"] for r in rules}
    assert by_name["年度财务会计报告"] == "Y" and by_name["银行对账单"] == "D10"
    assert by_name["固定资产卡片"] == "FA5" and by_name["其他具有保存价值的会计资料"] == "D10"
    public = Client().get("/api/v1/retention-rules?schedule=2").json()
    assert len(public) == 27 and {r["name"]: r["retention"] for r in public}[
        "下级单位报送的会计月、季度报表"] == "D2"


def test_metadata_exports_as_dat94_xml(api, voucher_files, voucher_metadata):
    from defusedxml import ElementTree

    body = api.post_record(voucher_metadata, voucher_files).json()
    resp = api.get(f"/api/v1/records/{body['id']}/metadata.xml")
    root = ElementTree.fromstring(resp.content)
    ns = {"m": "urn:kjda:dat94-2022"}
    assert root.find("m:文件实体/m:档号", ns).get("值") == body["archive_no"]
    assert root.find("m:文件实体/m:内容描述/m:题名", ns).text == "报销差旅费"
    assert root.find("m:文件实体/m:内容描述/m:会计年度", ns).get("M") == "M40"
    assert len(root.findall("m:文件实体/m:电子属性", ns)) == 2
    assert [e.find("m:业务行为", ns).text for e in root.findall("m:业务实体", ns)] == ["四性检测", "归档"]


def test_fonds_category_codes_and_arrangement_are_configurable(api, voucher_files):
    resp = api.client.patch("/api/v1/fonds/Z001",
                            json.dumps({"category_codes": {"会计凭证": "KJPZ"},
                                        "archive_no_with_fonds": False}),
                            content_type="application/json", headers=api.headers)
    assert resp.status_code == 200, resp.content
    assert resp.json()["category_codes"]["会计凭证"] == "KJPZ"
    body = api.post_record(metadata_json(), voucher_files[:1]).json()
    assert body["archive_no"] == "KJPZ·2024·D30-0001"
    bad = api.client.patch("/api/v1/fonds/Z001", json.dumps({"category_codes": {"会计凭证": "kj-1"}}),
                           content_type="application/json", headers=api.headers)
    assert bad.status_code == 400 and bad.json()["code"] == "category_code_invalid"
