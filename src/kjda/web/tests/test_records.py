"""Record list and search, detail page, downloads and previews, each scoped and audited."""

from __future__ import annotations

import hashlib

import pytest

from kjda.archives.models import RecordFile
from kjda.audit.models import AuditEvent
from kjda_oasim.factories import png_bytes

from .conftest import upload_data

pytestmark = pytest.mark.django_db


def test_search_with_a_two_character_chinese_word_finds_the_record(web, record):
    response = web.get("/records/", {"q": "差旅"})
    html = response.content.decode()
    assert response.status_code == 200
    assert record.archive_no in html and "报销差旅费" in html
    miss = web.get("/records/", {"q": "工资"}).content.decode()
    assert record.archive_no not in miss and "没有符合条件的档案" in miss
    event = AuditEvent.objects.filter(action="record.search").order_by("-seq").first()
    assert event.detail["q"] == "工资" and event.detail["count"] == 0


def test_search_finds_words_from_the_files_text(web, record):
    # 某某酒店 is only in the invoice PDF's text layer.
    assert record.archive_no in web.get("/records/", {"q": "酒店"}).content.decode()


def test_filters_by_category_year_and_status(web, record):
    def found(**params) -> bool:
        return record.archive_no in web.get("/records/", params).content.decode()

    assert found(category="记账凭证") and found(category="会计凭证")
    assert not found(category="总账")
    assert found(fiscal_year=2024) and not found(fiscal_year=2023)
    assert found(status="filed") and not found(status="pending")
    assert found(fonds="Z001")


def test_htmx_request_gets_only_the_results(web, record):
    response = web.get("/records/", {"q": "差旅"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "<html" not in html and record.archive_no in html
    assert "HX-Request" in response["Vary"]


def test_list_is_paginated(web, fonds, voucher_files):
    for n in range(21):
        web.post("/records/new/", upload_data(voucher_files, document_no=f"记-{n:04d}",
                                              files_source=[]))
    page1 = web.get("/records/").content.decode()
    assert "1 / 2" in page1 and "page=2" in page1
    page2 = web.get("/records/", {"page": 2}).content.decode()
    assert page2.count("st-filed") == 1


def test_detail_shows_metadata_check_report_files_and_trail(web, record):
    response = web.get(f"/records/{record.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert record.archive_no in html and "报销差旅费" in html
    for heading in ("内容描述", "形式特征", "存储位置", "权限管理", "档号", "来源"):
        assert heading in html
    for code in ("GD-1-1", "GD-1-7", "GD-2-6", "GD-4-7"):
        assert code in html
    assert "固化信息有效性检测" in html and "真实性" in html
    files = list(RecordFile.objects.filter(record=record).order_by("sequence"))
    for f in files:
        assert f.filename in html and f.sha256 in html and f.sm3 in html
        assert f"/files/{f.pk}/content?inline=1" in html
    assert html.index(files[0].filename) < html.index(files[1].filename)
    assert "四性检测" in html and "归档" in html  # business events
    assert "record.view" in html and "record.create" in html  # audit trail
    assert AuditEvent.objects.filter(action="record.view", object_id=str(record.pk)).exists()


def test_download_returns_identical_bytes_and_is_audited(web, record, voucher_files):
    f = RecordFile.objects.get(record=record, sequence=2)
    response = web.get(f"/files/{f.pk}/content")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body == voucher_files[1][1]
    assert response["X-Content-SHA256"] == hashlib.sha256(body).hexdigest()
    assert response["Content-Disposition"].startswith("attachment")
    event = AuditEvent.objects.get(action="file.download", object_id=str(f.pk))
    assert event.detail["inline"] is False
    # The download then shows in the record's audit trail.
    assert f"file {f.pk}" in web.get(f"/records/{record.pk}/").content.decode()


def test_inline_preview_only_for_safe_types(web, fonds, voucher_files):
    web.post("/records/new/", upload_data(
        voucher_files, files_attachment=[_upload("stamp.png", png_bytes())]))
    pdf = RecordFile.objects.get(document_type="记账凭证")
    png = RecordFile.objects.get(document_type="附件")
    response = web.get(f"/files/{pdf.pk}/content", {"inline": "1"})
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline")
    assert web.get(f"/files/{png.pk}/content", {"inline": "1"})["Content-Type"] == "image/png"
    detail = web.get(f"/records/{pdf.record_id}/").content.decode()
    assert f'<img src="/files/{png.pk}/content?inline=1"' in detail


def test_xml_is_never_served_inline(web, fonds, voucher_files):
    xml = b'<?xml version="1.0"?><voucher><no>1</no></voucher>'
    web.post("/records/new/", upload_data(voucher_files,
                                          files_attachment=[_upload("voucher.xml", xml)]))
    f = RecordFile.objects.get(filename="voucher.xml")
    response = web.get(f"/files/{f.pk}/content", {"inline": "1"})
    assert response["Content-Disposition"].startswith("attachment")


def test_unknown_record_and_file_are_404_and_audited(web, record):
    assert web.get("/records/999999/").status_code == 404
    assert web.get("/files/999999/content").status_code == 404
    assert AuditEvent.objects.filter(action="record.view", outcome="denied",
                                     object_id="999999").exists()
    assert AuditEvent.objects.filter(action="file.download", outcome="denied").exists()


def _upload(name: str, content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content)


def test_list_and_detail_pages_do_not_query_per_row(web, fonds, voucher_files,
                                                     django_assert_max_num_queries):
    for n in range(3):
        web.post("/records/new/", upload_data(voucher_files, document_no=f"记-{n:04d}"))
    record_id = RecordFile.objects.order_by("-id").first().record_id
    web.get("/retention/")  # clears the flash messages
    with django_assert_max_num_queries(20):
        assert web.get("/records/").status_code == 200
    # + the lifecycle mentions providers: appraisal (1 query: the batches the record is in),
    # hand-over (3: custody deadline, transfers of the record, the latest 保管清册), holds and
    # destruction (1 each), loans (1), the reader's loans of the record (1, issue 18) and the
    # view's 利用 business event (1 insert, issue 18 item 5) and the latest uses shown apart
    # from the other business events (1), the files' last fixity results (1, issue 19)
    with django_assert_max_num_queries(31):
        assert web.get(f"/records/{record_id}/").status_code == 200
    # the dashboard: + the fixity alarms' and the backup's to-do providers (issue 19)
    with django_assert_max_num_queries(21):
        assert web.get("/").status_code == 200


def test_detail_shows_format_puid_and_pdfa_verdict(web, fonds, voucher_files):
    (voucher_name, voucher), _ = voucher_files
    web.post("/records/new/", upload_data(
        [(voucher_name, voucher), ("发票扫描.png", png_bytes(200, 100))]))
    scan = RecordFile.objects.get(filename="发票扫描.png")
    rendition = RecordFile.objects.get(derived_from=scan)
    detail = web.get(f"/records/{scan.record_id}/").content.decode()
    assert '<span class="puid">fmt/11</span>' in detail  # the PNG original
    assert '<span class="puid">fmt/477</span>' in detail  # its PDF/A-2b rendition
    assert "PDF/A-2B ✓" in detail and f"← {scan.sequence}" in detail
    assert rendition.pdfa["compliant"]
    # The voucher PDF's fonts are not embedded: not PDF/A, with the clauses it breaks.
    assert "PDF/A ✗ 6.2.11.4.1" in detail


def test_a_much_used_record_shows_its_latest_uses_and_the_export_keeps_them_all(web, record):
    from datetime import timedelta

    from django.utils import timezone

    from kjda.archives.models import BusinessEvent

    start = timezone.now() - timedelta(days=30)
    BusinessEvent.objects.bulk_create([
        BusinessEvent(record=record, action="利用", occurred_at=start + timedelta(hours=n),
                      description=f"查看 #{n}", agent_name="lisi") for n in range(40)])
    html = web.get(f"/records/{record.pk}/").content.decode()
    # the 40 uses before this view (which is logged after the page is read): the latest 20
    # listed, the count in the heading
    assert "利用 40 次" in html and "显示最近的" in html
    assert "查看 #39" in html and "查看 #20" in html and "查看 #19" not in html
    assert "归档" in html  # the other business events are all there
    xml = web.get(f"/api/v1/records/{record.pk}/metadata.xml").content.decode()
    assert xml.count("<业务行为") >= 41 and "查看 #0" in xml
