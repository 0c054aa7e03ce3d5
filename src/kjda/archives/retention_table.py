"""附表1 企业和其他组织会计档案保管期限表 (《会计档案管理办法》, 财政部 国家档案局令第79号) as data.

Seeded into `Category` and `RetentionRule` by migration 0002; the rows are the legal minimums.
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
]


def seed_retention_table(category_model=None, rule_model=None) -> None:
    """Create or refresh the four 门类 and the 16 rows (idempotent)."""
    if category_model is None or rule_model is None:
        from kjda.archives.models import Category as category_model  # noqa: N813
        from kjda.archives.models import RetentionRule as rule_model  # noqa: N813
    by_name = {}
    for name, code, form_no in CATEGORIES:
        by_name[name], _ = category_model.objects.update_or_create(
            name=name, defaults={"default_code": code, "form_no": form_no})
    for seq, name, category, retention, note, aliases in RULES:
        rule_model.objects.update_or_create(
            seq=seq, defaults={"name": name, "category": by_name[category],
                               "retention": retention, "note": note, "aliases": aliases})
