"""附表1 企业和其他组织会计档案保管期限表 and 附表2 财政总预算、行政单位、事业单位和税收会计档案保管期限表
(《会计档案管理办法》, 财政部 国家档案局令第79号) as data (standards.md §1.3).

Seeded into `Category` and `RetentionRule` (附表1 by migration 0002, both tables with the catch-all rows after every migrate: archives'
post_migrate handler); the rows are the legal
minimums. Each fonds follows one of the two tables (`Fonds.retention_schedule`).
"""

# (name, default code, 资料形式 number of DA/T 94 App. D.1)
CATEGORIES: list[tuple[str, str, int]] = [
    ("会计凭证", "PZ", 1),
    ("会计账簿", "ZB", 2),
    ("财务会计报告", "BG", 3),
    ("其他会计资料", "QT", 4),
]

# (序号, 档案名称, 门类, 保管期限, 备注, aliases)
RULES: list[tuple[int, str, str, str, str, list[str]]] = [
    (1, "原始凭证", "会计凭证", "D30", "", []),
    (2, "记账凭证", "会计凭证", "D30", "", []),
    (3, "总账", "会计账簿", "D30", "", []),
    (4, "明细账", "会计账簿", "D30", "", []),
    (5, "日记账", "会计账簿", "D30", "含现金日记账和银行存款日记账", ["现金日记账", "银行存款日记账"]),
    (6, "固定资产卡片", "会计账簿", "FA5", "固定资产报废清理后保管5年", []),
    (7, "其他辅助性账簿", "会计账簿", "D30", "", []),
    (8, "月度、季度、半年度财务会计报告", "财务会计报告", "D10", "",
     ["月度财务会计报告", "季度财务会计报告", "半年度财务会计报告"]),
    (9, "年度财务会计报告", "财务会计报告", "Y", "", []),
    (10, "银行存款余额调节表", "其他会计资料", "D10", "", []),
    (11, "银行对账单", "其他会计资料", "D10", "", []),
    (12, "纳税申报表", "其他会计资料", "D10", "", []),
    (13, "会计档案移交清册", "其他会计资料", "D30", "", []),
    (14, "会计档案保管清册", "其他会计资料", "Y", "", []),
    (15, "会计档案销毁清册", "其他会计资料", "Y", "", []),
    (16, "会计档案鉴定意见书", "其他会计资料", "Y", "", []),
    # Art.6 (四) names 其他具有保存价值的会计资料 but the table gives it no row: the shortest
    # statutory term stands in, and a local rule can lengthen it.
    (17, "其他具有保存价值的会计资料", "其他会计资料", "D10", "附表未列明的其他会计资料；可由本单位规定更长期限", []),
]

CATCH_ALL = "其他具有保存价值的会计资料"

# 附表2 (行政事业单位, 财政总预算, 税收会计), in the same shape.
RULES_PUBLIC: list[tuple[int, str, str, str, str, list[str]]] = [
    (1, "国家金库编送的各种报表及缴库退库凭证", "会计凭证", "D10", "财政总预算、税收会计", []),
    (2, "各收入机关编送的报表", "财务会计报告", "D10", "财政总预算", []),
    (3, "行政单位和事业单位的各种会计凭证", "会计凭证", "D30", "包括原始凭证、记账凭证和传票汇总表",
     ["原始凭证", "记账凭证", "传票汇总表"]),
    (4, "财政总预算拨款凭证和其他会计凭证", "会计凭证", "D30", "", []),
    (5, "日记账", "会计账簿", "D30", "", ["现金日记账", "银行存款日记账"]),
    (6, "总账", "会计账簿", "D30", "", []),
    (7, "明细分类、分户账或登记簿", "会计账簿", "D30", "", ["明细账"]),
    (8, "税收日记账（总账）", "会计账簿", "D30", "", []),
    (9, "行政事业单位固定资产卡片", "会计账簿", "FA5", "固定资产报废清理后保管5年", ["固定资产卡片"]),
    (10, "政府综合财务报告", "财务会计报告", "Y", "", []),
    (11, "部门财务报告", "财务会计报告", "Y", "", []),
    (12, "财政总决算", "财务会计报告", "Y", "", []),
    (13, "部门决算", "财务会计报告", "Y", "", ["年度财务会计报告"]),
    (14, "下级单位报送的财务报告和决算", "财务会计报告", "D2",
     "下级单位报送的政府综合财务报告、部门财务报告、财政总决算和部门决算保管2年", []),
    (15, "税收年报（决算）", "财务会计报告", "Y", "", []),
    (16, "国家金库年报（决算）", "财务会计报告", "D10", "", []),
    (17, "基本建设拨、贷款年报（决算）", "财务会计报告", "D10", "", []),
    (18, "行政单位和事业单位会计月、季度报表", "财务会计报告", "D10", "",
     ["月度财务会计报告", "季度财务会计报告", "月度、季度、半年度财务会计报告"]),
    (19, "下级单位报送的会计月、季度报表", "财务会计报告", "D2", "下级单位报送的保管2年", []),
    (20, "税收会计报表", "财务会计报告", "D10", "", []),
    (21, "银行存款余额调节表", "其他会计资料", "D10", "", []),
    (22, "银行对账单", "其他会计资料", "D10", "", []),
    (23, "会计档案移交清册", "其他会计资料", "D30", "", []),
    (24, "会计档案保管清册", "其他会计资料", "Y", "", []),
    (25, "会计档案销毁清册", "其他会计资料", "Y", "", []),
    (26, "会计档案鉴定意见书", "其他会计资料", "Y", "", []),
    (27, CATCH_ALL, "其他会计资料", "D10", "附表未列明的其他会计资料；可由本单位规定更长期限", []),
]


def seed_retention_table(category_model=None, rule_model=None) -> None:
    """Create or refresh the four 门类 and the statutory rows of both tables (idempotent; local
    rules are left alone). Run by migration 0002 on the historical model, which has neither
    the schedule nor the catch-all row yet: there only 附表1's first 16 rows."""
    if category_model is None or rule_model is None:
        from kjda.archives.models import Category as category_model  # noqa: N813
        from kjda.archives.models import RetentionRule as rule_model  # noqa: N813
    by_name = {}
    for name, code, form_no in CATEGORIES:
        by_name[name], _ = category_model.objects.update_or_create(
            name=name, defaults={"default_code": code, "form_no": form_no})
    has_schedule = any(f.name == "schedule" for f in rule_model._meta.get_fields())
    if not has_schedule:
        for seq, name, category, retention, note, aliases in RULES[:16]:
            rule_model.objects.update_or_create(
                seq=seq, defaults={"name": name, "category": by_name[category],
                                   "retention": retention, "note": note, "aliases": aliases})
        return
    for schedule, rows in (("1", RULES), ("2", RULES_PUBLIC)):
        for seq, name, category, retention, note, aliases in rows:
            rule_model.objects.update_or_create(
                schedule=schedule, seq=seq, extends=None,
                defaults={"name": name, "category": by_name[category],
                          "retention": retention, "note": note, "aliases": aliases})
