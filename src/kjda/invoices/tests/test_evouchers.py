"""Other e-vouchers (§8): bank receipts and railway e-tickets drawn as text PDFs, identified by
their title and read by their labels."""

from __future__ import annotations

from kjda.invoices import codes
from kjda.invoices.services import invoice_extract
from kjda_oasim.factories import pdf_bytes


def test_bank_electronic_receipt():
    pdf = pdf_bytes(["中国工商银行 电子回单", "回单编号：20240315000123",
                     "交易日期：2024-03-15", "付款人名称：某某科技有限公司 账号：6222000011112222",
                     "收款人名称：某某酒店有限公司 账号：6222000033334444",
                     "金额（小写）：¥1,280.50", "摘要：差旅费"])
    inv = invoice_extract(pdf, "pdf")
    assert inv["kind"] == codes.KIND_BANK_RECEIPT
    assert inv["details"]["receipt_number"] == "20240315000123"
    assert inv["details"]["transaction_date"] == "2024-03-15"
    assert inv["details"]["amount"] == "1280.50"
    assert inv["details"]["payer_name"] == "某某科技有限公司"
    assert inv["details"]["payee_name"] == "某某酒店有限公司"
    assert inv["identity"] == ""  # not an invoice: no duplicate-claim identity


def test_railway_e_ticket():
    pdf = pdf_bytes(["电子发票（铁路电子客票）", "发票号码：24329110000012345678",
                     "开票日期：2024年11月05日", "上海虹桥站 G1234 北京南站",
                     "票价：¥553.00", "电子客票号：1234567890123456789012",
                     "购买方名称：某某科技有限公司 统一社会信用代码：91350100M000100Y43"])
    inv = invoice_extract(pdf, "pdf")
    assert inv["kind"] == codes.KIND_RAILWAY
    assert inv["invoice_number"] == "24329110000012345678"
    assert inv["identity"] == "24329110000012345678"  # a 数电票: the number is its identity
    assert inv["issue_date"] == "2024-11-05"
    assert inv["total_incl_tax"] == "553.00"
    assert inv["details"]["train"] == "G1234"
    assert inv["buyer_tax_id"] == "91350100M000100Y43"
    assert inv["buyer_name"] == "某某科技有限公司"
