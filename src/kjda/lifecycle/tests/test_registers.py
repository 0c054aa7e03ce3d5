from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from kjda.archives.models import RecordStatus, Retention
from kjda.audit.models import AuditEvent
from kjda.formats.pdfa_check import pdfa_check
from kjda.lifecycle.registers import (
    Column,
    Register,
    Signature,
    register_digest,
    register_file,
    register_pdf,
    register_xlsx,
)

COLUMNS = [Column("序号", 0.5, "center"), Column("档案编号", 2), Column("名称", 3),
           Column("应保管期限", 1), Column("已保管期限", 1)]


def _rows(n: int) -> list[list[object]]:
    return [[i, f"Z001-PZ·2024·D30-{i:04d}", f"2024年{i % 12 + 1}月记账凭证（差旅费报销）",
             "30年", "31年"] for i in range(1, n + 1)]


def _register(rows: list[list[object]]) -> Register:
    return Register(
        title="会计档案销毁清册", columns=COLUMNS, rows=rows,
        particulars=[("全宗号", "Z001"), ("清册编号", "XH-2055-0001")],
        summary=[("共计", f"{len(rows)} 件")],
        signatures=[Signature("单位负责人", "张三", datetime(2055, 3, 1, 8, 0, tzinfo=UTC),
                              "同意销毁"), Signature("会计管理机构经办人")],
        created=datetime(2055, 3, 1, tzinfo=UTC))


def test_a_register_is_pdfa_with_its_rows_header_on_every_page_and_page_count():
    pdf = register_pdf(_register(_rows(120)))
    report = pdfa_check(pdf)
    assert report.compliant, report.as_dict()
    reader = PdfReader(io.BytesIO(pdf))
    pages = [p.extract_text() for p in reader.pages]
    assert len(pages) > 2
    assert all("档案编号" in text for text in pages)  # the header row repeats
    assert f"共 {len(pages)} 页" in pages[-1] or f"共{len(pages)}页" in pages[-1].replace(" ", "")
    text = "".join(pages)
    assert "Z001-PZ·2024·D30-0120" in text and "张三" in text and "（未签署）" in text


def test_the_same_register_gives_the_same_bytes_and_digest():
    assert register_pdf(_register(_rows(3))) == register_pdf(_register(_rows(3)))
    assert register_digest(_rows(3), columns=COLUMNS) == register_digest(_rows(3), columns=COLUMNS)
    changed = _rows(3)
    changed[1][2] = "改过的名称"
    assert register_digest(changed, columns=COLUMNS) != register_digest(_rows(3), columns=COLUMNS)


def test_the_excel_register_has_every_row_typed_and_no_live_formula():
    rows = _rows(2) + [[3, "=HYPERLINK(\"http://x\")", "名称", "30年", "1年"]]
    wb = load_workbook(io.BytesIO(register_xlsx(_register(rows))))
    values = [list(r) for r in wb.active.iter_rows(values_only=True)]
    header = values.index(["序号", "档案编号", "名称", "应保管期限", "已保管期限"])
    assert values[header + 1][0] == 1  # numbers stay numbers
    assert values[header + 3][1].startswith("'=")
    assert any(r[:2] == ("单位负责人", "张三") or r[:2] == ["单位负责人", "张三"] for r in values)


@pytest.mark.django_db
def test_a_register_is_filed_as_a_permanent_record_of_its_category_once(fonds):
    pdf = register_pdf(_register(_rows(5)))
    kwargs = dict(pdf=pdf, title="会计档案销毁清册 XH-2025-0001", rule_name="会计档案销毁清册",
                  fonds_code="Z001", fiscal_year=2025, document_no="XH-2025-0001",
                  external_id="destruction:1", on=date(2025, 3, 1))
    record = register_file(**kwargs)
    assert record.status == RecordStatus.FILED, record.check_report
    assert record.retention == Retention.PERMANENT and record.archive_no
    assert [f.role for f in record.files.all()] == ["original"]
    assert register_file(**kwargs).pk == record.pk  # a retried step files it once
    assert AuditEvent.objects.filter(object_type="record", object_id=str(record.pk)).exists()
