"""The upload form files a record through the same ingest service as the API."""

from __future__ import annotations

import pytest

from kjda.archives.models import Record, RecordFile

from .conftest import upload_data

pytestmark = pytest.mark.django_db


def test_form_offers_the_retention_table_and_the_document_types(web):
    html = web.get("/records/new/").content.decode()
    assert '<optgroup label="会计凭证">' in html and ">记账凭证</option>" in html
    assert ">年度财务会计报告</option>" in html
    for field in ("files_voucher", "files_source", "files_attachment"):
        assert f'name="{field}"' in html
    assert 'type="date" name="date" value="' in html  # ISO value a date input accepts
    assert html.count(" multiple") >= 3
    assert 'enctype="multipart/form-data"' in html


def test_upload_files_the_record_and_redirects_to_it(web, uploaded, voucher_files):
    record = Record.objects.get()
    assert uploaded["Location"] == f"/records/{record.pk}/"
    assert record.status == "filed"
    assert record.archive_no == "Z001-PZ·2024·D30-0001"
    assert record.check_report["passed"] is True
    files = list(RecordFile.objects.filter(record=record).order_by("sequence"))
    assert [(f.document_type, f.filename) for f in files] == [
        ("记账凭证", voucher_files[0][0]), ("原始凭证", voucher_files[1][0])]
    page = web.get(uploaded["Location"]).content.decode()
    assert "已归档，档号 Z001-PZ·2024·D30-0001" in page


def test_a_double_submitted_form_files_one_record(web, voucher_files):
    data = upload_data(voucher_files)
    first = web.post("/records/new/", data)
    data = upload_data(voucher_files, upload_token=data["upload_token"])
    again = web.post("/records/new/", data, follow=True)
    assert Record.objects.count() == 1
    assert again.redirect_chain[0][0] == first["Location"]
    assert "该表单已提交过" in again.content.decode()


def test_without_files_the_form_comes_back_with_the_error_and_nothing_is_stored(web, voucher_files):
    data = upload_data(voucher_files)
    del data["files_voucher"], data["files_source"]
    response = web.post("/records/new/", data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "files_missing" in html and "至少需要一个文件" in html
    assert 'value="报销差旅费"' in html  # what was typed is kept
    assert Record.objects.count() == 0 and RecordFile.objects.count() == 0


def test_a_future_fiscal_year_is_refused_by_the_metadata_rules(web, voucher_files):
    response = web.post("/records/new/", upload_data(voucher_files, fiscal_year="9000"))
    assert response.status_code == 400
    html = response.content.decode()
    assert "metadata_invalid" in html and "fiscal_year" in html
    assert Record.objects.count() == 0


def test_form_errors_are_shown_beside_the_fields(web, voucher_files):
    response = web.post("/records/new/", upload_data(voucher_files, title="", date="not a date"))
    assert response.status_code == 400
    html = response.content.decode()
    assert html.count('class="error"') >= 2
    assert Record.objects.count() == 0


def test_error_message_follows_the_ui_language(web, voucher_files):
    web.post("/i18n/setlang/", {"language": "en", "next": "/"})
    data = upload_data(voucher_files)
    del data["files_voucher"], data["files_source"]
    html = web.post("/records/new/", data).content.decode()
    assert "files_missing" in html and "at least one file is required" in html
    assert "至少需要一个文件" not in html
