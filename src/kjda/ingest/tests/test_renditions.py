"""Renditions of OA data: text read back with pypdfium2, fonts, PDF/A claim, pagination,
reproducible bytes, and 人民币大写."""

from __future__ import annotations

import gc
import io
import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pikepdf
import pypdfium2 as pdfium
import pytest

from kjda.connectors.base import ApprovalInstance, AttachmentRef, FormField, TrailEntry
from kjda.formats import fonts
from kjda.formats.fonts import RenditionError
from kjda.formats.pdfa import pdfa_claim
from kjda.ingest.approval_record import approval_trail_json
from kjda.ingest.payment_voucher import amount_in_chinese, render_payment_voucher
from kjda.ingest.renditions import (
    render_approval_form,
    render_approval_trail,
    table_rows,
)
from kjda.ingest.tests.test_pdfa import assert_fonts_embedded, assert_pdfa2b_structure

CST = timezone(timedelta(hours=8))
T0 = datetime(2024, 3, 15, 9, 12, 5, tzinfo=CST)
DINGTALK_TABLE = json.dumps([
    {"rowValue": [{"label": "费用类型", "value": "交通"},
                  {"label": "金额", "value": "553", "componentType": "MoneyField"},
                  {"label": "说明", "value": "北京南—上海虹桥 G1 二等座"}]},
    {"rowValue": [{"label": "费用类型", "value": "住宿"},
                  {"label": "金额", "value": "727.5", "componentType": "MoneyField"},
                  {"label": "说明", "value": "全季酒店 两晚"}]}], ensure_ascii=False)


def trail(*extra: TrailEntry) -> list[TrailEntry]:
    return [TrailEntry("u1001", "张三", "START_PROCESS_INSTANCE", "none", T0, "", "发起"),
            TrailEntry("u2001", "李经理", "EXECUTE_TASK_NORMAL", "agree", T0 + timedelta(hours=1),
                       "同意，按标准报销。", "部门负责人"),
            *extra,
            TrailEntry("u3001", "王会计", "EXECUTE_TASK_NORMAL", "agree", T0 + timedelta(hours=5),
                       "票据齐全", "财务审核")]


def instance(**overrides) -> ApprovalInstance:
    data = dict(
        instance_id="PROC-20240315-7f3a9c", process_code="PROC-BX-001",
        title="张三提交的差旅费报销", status="COMPLETED", result="agree", originator_id="u1001",
        originator_name="张三", department="市场部", created_at=T0,
        finished_at=T0 + timedelta(hours=5),
        fields=[FormField("f1", "报销事由", "3月上海客户拜访差旅费用"),
                FormField("f2", "报销金额", Decimal("1280.5"), kind="MoneyField"),
                FormField("f3", "费用明细", DINGTALK_TABLE, kind="TableField"),
                FormField("f4", "发票", [], kind="DDAttachment"),
                FormField("f5", "出差天数", Decimal("3"), kind="NumberField")],
        attachments=[AttachmentRef("a1", "高铁电子发票.pdf", 48213, "f4", "发票"),
                     AttachmentRef("a2", "酒店发票.ofd", 20480, "f4", "发票")],
        trail=trail())
    return ApprovalInstance(**(data | overrides))


def pages_text(data: bytes) -> list[str]:
    doc = pdfium.PdfDocument(data)
    try:
        return [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
    finally:
        doc.close()


def flat(text: str) -> str:
    return "".join(text.split())


def form(**overrides) -> bytes:
    return render_approval_form(instance(**overrides), platform_label="钉钉",
                                scenario_label="报销")


# --- 人民币大写 -------------------------------------------------------------------------------

@pytest.mark.parametrize(("amount", "words"), [
    ("1280.50", "壹仟贰佰捌拾元伍角整"), ("100000.07", "壹拾万元零柒分"), ("0.5", "伍角整"),
    ("10", "壹拾元整"), ("0", "零元整"), ("0.05", "伍分"), ("0.55", "伍角伍分"),
    ("1004.05", "壹仟零肆元零伍分"), ("107000.53", "壹拾万柒仟元伍角叁分"),
    ("1010", "壹仟零壹拾元整"), ("1000001", "壹佰万零壹元整"), ("100010000", "壹亿零壹万元整"),
    ("100001000", "壹亿零壹仟元整"), ("123456789.12", "壹亿贰仟叁佰肆拾伍万陆仟柒佰捌拾玖元壹角贰分"),
    ("-3.2", "负叁元贰角整"), ("2.005", "贰元零壹分"), ("20000000000000", "贰拾万亿元整"),
])
def test_amount_in_chinese(amount, words):
    assert amount_in_chinese(Decimal(amount)) == words


def test_amount_in_chinese_refuses_amounts_beyond_wan_yi():
    with pytest.raises(ValueError):
        amount_in_chinese(Decimal(10) ** 16)


# --- the approval form ------------------------------------------------------------------------

def test_form_shows_header_fields_tables_attachments_and_trail():
    data = form()
    pages = pages_text(data)
    text = flat("".join(pages))
    for expected in ["张三提交的差旅费报销", "钉钉", "报销审批单", "PROC-BX-001",
                     "PROC-20240315-7f3a9c", "张三（u1001）", "市场部", "2024-03-1509:12:05",
                     "2024-03-1514:12:05", "已完成", "报销事由", "3月上海客户拜访差旅费用",
                     "报销金额", "1,280.50", "费用明细（共2行）", "费用类型", "住宿", "553.00",
                     "727.50", "全季酒店两晚", "发票", "高铁电子发票.pdf", "酒店发票.ofd",
                     "出差天数", "审批记录", "部门负责人", "李经理", "同意，按标准报销。"]:
        assert flat(expected) in text, expected
    assert "出差天数3附件" in text  # a number field is not shown as money
    assert flat(pages[0]).endswith("第1页共1页")


def test_form_is_pdfa2b_with_embedded_fonts():
    data = form()
    assert pdfa_claim(data) == "2B"
    assert_fonts_embedded(data)
    assert_pdfa2b_structure(data)
    with pikepdf.open(io.BytesIO(data)) as pdf, pdf.open_metadata() as xmp:
        assert xmp["dc:title"] == "张三提交的差旅费报销" and xmp["dc:creator"] == ["张三"]
        assert xmp["xmp:CreateDate"] == "2024-03-15T14:12:05+08:00"  # the finish time


def test_money_is_right_aligned():
    data = form()
    doc = pdfium.PdfDocument(data)
    page = doc[0]
    textpage = page.get_textpage()
    width = page.get_width()
    hits = [textpage.get_charbox(i) for i in range(textpage.count_chars())
            if textpage.get_text_range(i, 8) == "1,280.50"]
    assert hits and width - hits[0][0] < 130  # starts near the right margin (20 mm = 57 pt)
    doc.close()


def test_a_300_row_detail_table_paginates_with_its_header_repeated():
    rows = [{"序号": i, "费用类型": "办公用品", "金额": Decimal(i) / 10} for i in range(1, 301)]
    data = form(fields=[FormField("t", "采购明细", rows, kind="TableField"),
                        FormField("z", "备注", "最后一个字段")])
    pages = pages_text(data)
    assert len(pages) > 3
    text = flat("".join(pages))
    assert "采购明细（共300行）" in text and "最后一个字段" in text
    assert "1办公用品0.10" in text and "300办公用品30.00" in text  # 金额 with 2 decimals
    assert all("费用类型" in p for p in pages[1:-1])  # header rows repeat on each page
    assert all(flat(p).endswith(f"第{n}页共{len(pages)}页") for n, p in enumerate(pages, 1))
    assert_fonts_embedded(data)
    assert pdfa_claim(data) == "2B"


def test_very_long_text_wraps_and_flows_over_pages():
    sentence = "本次出差主要目的为拜访华东区重点客户并洽谈年度框架协议的续签事宜。"
    data = form(fields=[FormField("f1", "报销事由", sentence * 150)])
    pages = pages_text(data)
    assert len(pages) >= 3
    body = "".join(p.rsplit("\n", 1)[0] for p in pages)  # without each page's footer line
    assert flat(body).count(sentence) == 150  # nothing lost or repeated at a page edge
    assert max(len(line) for p in pages for line in p.splitlines()) < 60  # wrapped in column


def test_table_shapes_of_each_vendor_are_recognised():
    assert [[c for c, _, _ in r] for r in table_rows(DINGTALK_TABLE)] == [
        ["费用类型", "金额", "说明"]] * 2
    wecom = [{"list": [{"control": "Text", "id": "a", "title": [{"text": "项目", "lang": "zh_CN"}],
                        "value": {"text": "打印纸"}}]}]
    assert table_rows(wecom)[0][0][0] == "项目"
    feishu = [[{"id": "w1", "name": "金额", "type": "amount", "value": 12.5}]]
    assert table_rows(feishu) == [[("金额", 12.5, "amount")]]
    assert table_rows([{"a": 1, "b": 2}]) == [[("a", 1, ""), ("b", 2, "")]]
    assert table_rows(["甲", "乙"]) is None and table_rows("普通文本") is None
    assert table_rows([{"name": "单个", "value": "字段"}]) is None


def test_characters_missing_from_the_font_are_marked_not_dropped_silently():
    data = form(originator_name="𠮷田", fields=[FormField("f1", "事由", "𠮷野家餐费")])
    text = flat("".join(pages_text(data)))
    assert "〓野家餐费" in text
    assert_fonts_embedded(data)
    assert json.loads(approval_trail_json(instance(originator_name="𠮷田")))[
        "instance"]["originator_name"] == "𠮷田"  # the JSON keeps the original


def test_same_form_same_bytes():
    assert form() == form()
    assert approval_trail_json(instance()) == approval_trail_json(instance())
    assert form() != form(title="另一张单据")


def test_missing_font_is_a_clear_error_naming_the_debian_package(monkeypatch, tmp_path):
    fonts.cjk_font.cache_clear()
    monkeypatch.setattr(fonts, "FONT_PATH", tmp_path / "absent.ttc")
    try:
        with pytest.raises(RenditionError) as err:
            form()
        assert "fonts-wqy-microhei" in err.value.zh and "fonts-wqy-microhei" in err.value.en
    finally:
        fonts.cjk_font.cache_clear()


# --- the approval record ----------------------------------------------------------------------

def test_trail_pdf_lists_every_step_in_chinese():
    refused = TrailEntry("u9", "赵总监", "EXECUTE_TASK_NORMAL", "refuse", T0 + timedelta(hours=2),
                         "超标，退回重填", "总监审批")
    data = render_approval_trail(instance(trail=trail(refused)))
    text = flat("".join(pages_text(data)))
    for expected in ["审批记录", "张三提交的差旅费报销", "节点", "处理人", "结果", "发起",
                     "李经理", "同意", "赵总监", "拒绝", "超标，退回重填", "王会计", "票据齐全",
                     "2024-03-1511:12:05", "第1页共1页"]:
        assert flat(expected) in text, expected
    assert "agree" not in text and "refuse" not in text
    assert pdfa_claim(data) == "2B"
    assert_fonts_embedded(data)


def test_trail_json_is_canonical():
    raw = approval_trail_json(instance())
    data = json.loads(raw)
    assert raw == json.dumps(data, ensure_ascii=False, sort_keys=True,
                             separators=(",", ":")).encode("utf-8")
    assert "张三".encode() in raw  # UTF-8, not \u escapes
    assert data["instance"]["finished_at"] == "2024-03-15T14:12:05+08:00"
    steps = data["trail"]
    assert [s["seq"] for s in steps] == [1, 2, 3]
    assert steps[1]["result"] == "agree"
    assert steps[1]["result_zh"] == "同意" and steps[0]["action_zh"] == "发起"
    assert steps[1]["time"] == "2024-03-15T10:12:05+08:00"
    assert [a["filename"] for a in data["attachments"]] == ["高铁电子发票.pdf", "酒店发票.ofd"]


# --- the payment voucher ----------------------------------------------------------------------

def voucher(**overrides) -> bytes:
    args = dict(voucher_no="付-20240315-0007", date=date(2024, 3, 16), payee="张三",
                payee_account="6222 0210 0101 2345 678", amount=Decimal("1280.50"),
                currency="CNY", summary="支付张三3月差旅费报销", payer="示例科技有限公司",
                related=["钉钉 审批 PROC-20240315-7f3a9c"], approvals=trail(),
                company="示例科技有限公司")
    return render_payment_voucher(**(args | overrides))


def test_voucher_has_the_parts_of_a_real_voucher():
    data = voucher()
    text = flat("".join(pages_text(data)))
    for expected in ["付款凭证", "凭证号：付-20240315-0007", "日期：2024年03月16日",
                     "单位：示例科技有限公司", "摘要", "支付张三3月差旅费报销", "收款人", "张三",
                     "收款账号", "6222021001012345678", "金额（大写）", "人民币壹仟贰佰捌拾元伍角整",
                     "金额（小写）", "¥1,280.50", "关联单据", "钉钉审批PROC-20240315-7f3a9c",
                     "附单据1张", "经办：张三", "审核：李经理", "审批：王会计", "第1页共1页"]:
        assert flat(expected) in text, expected
    assert pdfa_claim(data) == "2B"
    assert_fonts_embedded(data)
    assert_pdfa2b_structure(data)
    assert voucher() == data


def test_voucher_without_reviewers_leaves_the_review_blank():
    text = flat("".join(pages_text(voucher(approvals=trail()[:2], related=[]))))
    assert "经办：张三" in text and "审核：审批：李经理" in text and "关联单据无" in text


# --- independent check ------------------------------------------------------------------------

def test_pikepdf_allowlist_validator_approves_every_rendition():
    pytest.importorskip("fontTools")
    validator = pytest.importorskip("pikepdf.pdfa")
    rows = [{"序号": str(i), "金额": f"{i}.25"} for i in range(1, 301)]
    for data in (form(), render_approval_trail(instance()), voucher(),
                 form(fields=[FormField("t", "明细", rows, kind="TableField")])):
        # The validator records ANY warning raised while it parses a content stream, and the
        # garbage collector may finalise an earlier test's unclosed socket right then
        # (ResourceWarning): collect that garbage first.
        gc.collect()
        report = validator.validate_written(io.BytesIO(data), "2b")
        assert report.passed, [str(f) for f in report.findings]
