"""`kjda demo`: a realistic year of accounting records, filed through the real ingest pipeline.

Each month has expense-claim vouchers with their invoices, payments to suppliers, receipts from
customers and payroll, a bank statement and a monthly report; the year closes with ledgers and
the annual report. Names are invented.
"""

from __future__ import annotations

import io
import random
from datetime import date
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.utils import timezone

from kjda.archives.models import Record
from kjda.ingest.metadata import FileMetaIn, metadata_parse
from kjda.ingest.pipeline import IncomingFile
from kjda.ingest.services import record_ingest
from kjda_oasim.factories import invoice_pdf, pdf_bytes, voucher_pdf

DEPARTMENTS = ["财务部", "销售部", "采购部", "研发中心", "行政部", "人力资源部"]
PEOPLE = ["王芳", "李伟", "张敏", "刘洋", "陈静", "杨帆", "赵磊", "黄丽"]
SELLERS = ["北京某某酒店有限公司", "上海某某航空服务有限公司", "杭州某某办公用品有限公司",
           "深圳某某科技有限公司", "广州某某餐饮管理有限公司"]
VOUCHERS = [
    ("报销差旅费", "电子发票（普通发票）住宿费", True),
    ("报销业务招待费", "电子发票（普通发票）餐饮服务", True),
    ("采购办公用品", "电子发票（增值税专用发票）办公用品", True),
    ("支付供应商货款", "", False),
    ("收到客户回款", "", False),
    ("计提本月工资", "", False),
    ("支付银行手续费", "", False),
    ("报销交通费", "电子发票（普通发票）客运服务", True),
]


def _file(name: str, data: bytes, document_type: str) -> tuple[IncomingFile, dict]:
    meta = {"document_type": document_type, "filename": name}
    return IncomingFile(io.BytesIO(data), name, FileMetaIn(document_type=document_type,
                                                           filename=name)), meta


def _ingest(actor: User | None, metadata: dict, files: list[tuple[IncomingFile, dict]]) -> Record:
    metadata["files"] = [m for _, m in files]
    parsed = metadata_parse(metadata)
    return record_ingest(metadata=parsed, files=[f for f, _ in files], actor=actor).record


def demo_load(*, year: int | None = None, records: int = 240, seed: int = 2024,
              actor: User | None = None) -> int:
    rng = random.Random(seed)
    year = year or timezone.localdate().year - 1
    actor = actor or get_user_model().objects.filter(username="admin").first()
    count, voucher_no = 0, 0
    per_month = max(1, (records - 12 * 2 - 4) // 12)
    for month in range(1, 13):
        for _ in range(per_month):
            voucher_no += 1
            summary, invoice_text, has_invoice = rng.choice(VOUCHERS)
            day = date(year, month, rng.randint(1, 28))
            amount = Decimal(rng.randint(5_000, 2_000_000)) / 100
            person, dept = rng.choice(PEOPLE), rng.choice(DEPARTMENTS)
            number = f"{voucher_no:04d}"
            files = [_file(f"记-{number}.pdf",
                           voucher_pdf(number=number, summary=f"{summary}（{person}）",
                                       amount=amount, day=day), "记账凭证")]
            if has_invoice:
                inv_no = f"{year % 100:02d}{rng.randint(10**17, 10**18 - 1)}"
                files.append(_file(f"发票-{inv_no}.pdf", invoice_pdf(
                    number=inv_no, seller=rng.choice(SELLERS), amount=amount, day=day),
                    "原始凭证"))
            _ingest(actor, {
                "category": "记账凭证", "fiscal_year": year, "period": month,
                "title": f"{year}年{month:02d}月 记-{number} {summary}", "date": day.isoformat(),
                "amount": str(amount), "department": dept, "applicant": person,
                "document_no": f"记-{number}", "voucher_type": "记", "preparer": "张会计",
                "prepared_on": day.isoformat(), "reviewer": "李主管",
                "reviewed_on": day.isoformat(), "source_system": "demo",
                "external_id": f"demo-{year}-{number}",
            }, files)
            count += 1
        last = date(year, month, 28)
        for category, title in (("银行对账单", f"{year}年{month:02d}月 银行对账单（基本户）"),
                                ("月度财务会计报告", f"{year}年{month:02d}月 财务报表")):
            body = pdf_bytes([title, "编制单位：示例单位", f"期末余额：{rng.randint(10**5, 10**7)}.00"])
            _ingest(actor, {"category": category, "fiscal_year": year, "period": month,
                            "title": title, "date": last.isoformat(), "source_system": "demo",
                            "external_id": f"demo-{year}-{category}-{month}"},
                    [_file(f"{title}.pdf", body, "")])
            count += 1
    year_end = date(year, 12, 31)
    for category, title in (("总账", f"{year}年度 总账"), ("明细账", f"{year}年度 明细账"),
                            ("日记账", f"{year}年度 银行存款日记账"),
                            ("年度财务会计报告", f"{year}年度 财务会计报告")):
        body = pdf_bytes([title, "编制单位：示例单位", "单位负责人：（签章）"])
        _ingest(actor, {"category": category, "fiscal_year": year, "title": title,
                        "date": year_end.isoformat(), "source_system": "demo",
                        "external_id": f"demo-{year}-{category}"},
                [_file(f"{title}.pdf", body, "")])
        count += 1
    return count
