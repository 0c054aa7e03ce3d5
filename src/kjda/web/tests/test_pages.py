"""Dashboard, retention table and the language switch."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_dashboard_counts_by_year_category_and_status(web, record):
    response = web.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<svg" in html and "2024 · 会计凭证: 1" in html
    assert "已归档" in html and "待处理" in html
    assert record.archive_no in html  # latest records


def test_dashboard_without_records(web):
    html = web.get("/").content.decode()
    assert "暂无档案" in html and "<svg" not in html


def test_retention_table_lists_all_rows(web):
    html = web.get("/retention/").content.decode()
    # header + 17 rows of 附表1 (16 and the catch-all), header + 27 of 附表2, the local rules
    # (header + "none yet"), the change log (header + "none yet")
    assert html.count("<tr>") == 18 + 28 + 2 + 2
    assert "其他具有保存价值的会计资料" in html and "下级单位报送的会计月、季度报表" in html
    assert "固定资产卡片" in html and "报废清理后保管5年" in html and "永久" in html


def test_english_switch_changes_the_ui_language(web, record):
    response = web.post("/i18n/setlang/", {"language": "en", "next": "/records/"})
    assert response.status_code == 302 and response["Location"] == "/records/"
    html = web.get("/").content.decode()
    assert '<html lang="en">' in html
    assert "Dashboard" in html and "Archive search" in html and "Filed" in html
    assert "概览" not in html
    detail = web.get(f"/records/{record.pk}/").content.decode()
    assert "Content description" in detail and "Integrity" in detail
    assert "Fixity information validity check (digests)" in detail
    retention = web.get("/retention/").content.decode()
    assert "Fixed asset card" in retention and "Permanent" in retention
    web.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert "概览" in web.get("/").content.decode()


def test_static_assets_are_local(web):
    html = web.get("/").content.decode()
    assert "/static/kjda/kjda.css" in html and "/static/django_htmx/htmx-2.min.js" in html
    assert "https://" not in html and "http://" not in html
