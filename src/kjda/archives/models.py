"""The archive domain: fonds (全宗), categories (门类), retention rules (保管期限表), volumes (案卷),
records (件) with the DA/T 94-2022 Appendix A metadata (M1–M95), their files, agents, business
events and relations, and the counters behind archive numbers (档号).

Metadata element numbers are noted beside each field (`M22` = 题名) so that the XML export and the
checks can be traced to the standard.
"""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from kjda.db.unicode_json import UnicodeJSONEncoder


class Arrangement(models.TextChoices):
    BY_ITEM = "item", "按件"
    BY_VOLUME = "volume", "按卷"


class Retention(models.TextChoices):
    """保管期限 codes (DA/T 13): permanent, fixed 30 / 10 years; FA5 = 固定资产卡片 special rule."""

    PERMANENT = "Y", "永久"
    D30 = "D30", "30年"
    D10 = "D10", "10年"
    FA5 = "FA5", "报废清理后保管5年"


# Longer is larger; a record's retention may be raised above its rule, never lowered.
RETENTION_RANK = {Retention.FA5: 0, Retention.D10: 1, Retention.D30: 2, Retention.PERMANENT: 3}
RETENTION_YEARS = {Retention.D10: 10, Retention.D30: 30, Retention.FA5: 5, Retention.PERMANENT: None}

# Any fixed term is `D<n>` (n years, 1–999: 附表2 has 2-year rows, a local rule may say D50);
# `Y` permanent; `FA5` the fixed-asset card (5 years after disposal). Four characters at most,
# the width of the retention columns and of the term in a 档号's class code.
RETENTION_CODE_RE = re.compile(r"^(?:Y|D[1-9]\d{0,2}|FA5)$")


def retention_code_valid(code: str) -> bool:
    return bool(RETENTION_CODE_RE.match(code or ""))


def retention_years(code: str) -> int | None:
    """Years of a term (FA5: 5, counted from disposal); None for permanent."""
    if code == Retention.PERMANENT:
        return None
    if code == Retention.FA5:
        return 5
    if not retention_code_valid(code):
        raise ValueError(f"not a retention code: {code!r}")
    return int(code[1:])


def retention_rank(code: str) -> int:
    """Order of terms, longer is larger: FA5 lowest (its end is unknown until disposal, so
    only permanent is surely longer), D<n> by n, Y above every term."""
    if code == Retention.PERMANENT:
        return 10_000
    if code == Retention.FA5:
        return 0
    years = retention_years(code)
    assert years is not None
    return years


def retention_label(code: str) -> str:
    """永久, 30年, 2年, 报废清理后保管5年 (an unknown code is shown as it is)."""
    if code in Retention.values:
        return str(Retention(code).label)
    if retention_code_valid(code):
        return f"{int(code[1:])}年"
    return code


class RetentionSchedule(models.TextChoices):
    """Which 保管期限表 of 79号令 a fonds follows."""

    ENTERPRISE = "1", "附表1 企业和其他组织会计档案保管期限表"
    PUBLIC = "2", "附表2 财政总预算、行政单位、事业单位和税收会计档案保管期限表"


def retention_code_validator(value: str) -> None:
    from django.core.exceptions import ValidationError

    if not retention_code_valid(value):
        raise ValidationError(f"保管期限代码无效：{value}")


class Fonds(models.Model):
    """全宗: the archive of one unit (立档单位)."""

    code = models.CharField("全宗号", max_length=4, unique=True)  # M9
    name = models.CharField("全宗名称", max_length=200)  # M5
    unit_name = models.CharField("立档单位名称", max_length=200)  # M6
    archives_name = models.CharField("档案馆名称", max_length=200, blank=True)  # M3
    archives_code = models.CharField("档案馆代码", max_length=50, blank=True)  # M4
    arrangement = models.CharField(
        "整理方式", max_length=10, choices=Arrangement.choices, default=Arrangement.BY_ITEM
    )
    # DA/T 94 §8.7 brackets the fonds code as optional: `[全宗号-]类别号-案卷号-件号`.
    archive_no_with_fonds = models.BooleanField("档号含全宗号", default=True)
    retention_schedule = models.CharField(
        "保管期限表", max_length=1, choices=RetentionSchedule.choices,
        default=RetentionSchedule.ENTERPRISE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "全宗"
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Category(models.Model):
    """门类 per 《会计档案管理办法》 Art. 6. `form_no` is the 资料形式 number of DA/T 94 App. D.1."""

    name = models.CharField(max_length=50, unique=True)
    default_code = models.CharField(max_length=10)
    form_no = models.PositiveSmallIntegerField(unique=True)

    class Meta:
        verbose_name = "门类"
        ordering = ["form_no"]

    def __str__(self) -> str:
        return self.name


class FondsCategoryCode(models.Model):
    """A fonds' own 门类代码 for a category (defaults PZ/ZB/BG/QT when there is no row)."""

    fonds = models.ForeignKey(Fonds, on_delete=models.CASCADE, related_name="category_codes")
    category = models.ForeignKey(Category, on_delete=models.CASCADE)
    code = models.CharField(max_length=10)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["fonds", "category"], name="uniq_fonds_category_code")
        ]

    def __str__(self) -> str:
        return f"{self.fonds_id}:{self.code}"


class RetentionRule(models.Model):
    """One row of a 保管期限表 (附表1 or 附表2): an item type (档案名称) and its minimum term; or a
    local rule of the unit (`extends` the statutory row it lengthens, never shortens: Art.15)."""

    schedule = models.CharField("保管期限表", max_length=1, choices=RetentionSchedule.choices,
                                default=RetentionSchedule.ENTERPRISE)
    seq = models.PositiveSmallIntegerField("序号")
    name = models.CharField("档案名称", max_length=100)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="rules")
    retention = models.CharField("保管期限", max_length=4, validators=[retention_code_validator])
    note = models.CharField("备注", max_length=200, blank=True)
    # Other names an integrator may send for this row (e.g. 月度财务会计报告 for row 8).
    aliases = models.JSONField(default=list, blank=True)
    extends = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="local_rules", verbose_name="所延长的法定条目")
    # Bumped on every change of a local rule (the versions are kept by kjda.lifecycle.appraisal);
    # a record keeps the version it was filed under.
    version = models.PositiveIntegerField("版本", default=1)
    active = models.BooleanField("有效", default=True)

    class Meta:
        verbose_name = "保管期限规则"
        ordering = ["schedule", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "seq"], name="uniq_rule_seq_in_schedule"),
            models.UniqueConstraint(fields=["schedule", "name"], name="uniq_rule_name_in_schedule"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_local(self) -> bool:
        return self.extends_id is not None

    def get_retention_display(self) -> str:
        return retention_label(self.retention)


class VolumeStatus(models.TextChoices):
    OPEN = "open", "组卷中"
    CLOSED = "closed", "已封卷"


class Volume(models.Model):
    """案卷: groups items of one class (门类·年度·期限) when the fonds arranges by volume."""

    fonds = models.ForeignKey(Fonds, on_delete=models.PROTECT, related_name="volumes")
    category = models.ForeignKey(Category, on_delete=models.PROTECT)
    class_code = models.CharField("类别号", max_length=40)  # M14
    fiscal_year = models.PositiveSmallIntegerField("年度")  # M11
    retention = models.CharField("保管期限", max_length=4, validators=[retention_code_validator])  # M12
    title = models.CharField("案卷题名", max_length=500)
    volume_no = models.PositiveIntegerField("案卷号", null=True, blank=True)  # M15
    archive_no = models.CharField("案卷档号", max_length=80, null=True, blank=True, unique=True)
    status = models.CharField(max_length=10, choices=VolumeStatus.choices, default=VolumeStatus.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "案卷"
        constraints = [
            models.UniqueConstraint(
                fields=["fonds", "class_code", "volume_no"], name="uniq_volume_no_in_class"
            )
        ]

    def __str__(self) -> str:
        return self.archive_no or self.title

    def get_retention_display(self) -> str:
        return retention_label(self.retention)


class ArchiveNoCounter(models.Model):
    """Last number given in a class. `scope` is the class code for item/volume numbers.

    Taken with SELECT … FOR UPDATE (PostgreSQL) or inside an IMMEDIATE transaction (SQLite) in
    the same transaction that files the record, so numbers are gap-free and never reused.
    """

    fonds = models.ForeignKey(Fonds, on_delete=models.PROTECT)
    scope = models.CharField(max_length=80)
    kind = models.CharField(max_length=10)  # "item" | "volume"
    last_no = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["fonds", "scope", "kind"], name="uniq_counter")
        ]

    def __str__(self) -> str:
        return f"{self.scope}/{self.kind}={self.last_no}"


class RecordStatus(models.TextChoices):
    PENDING = "pending", "待处理"
    FILED = "filed", "已归档"
    REVOKED = "revoked", "已撤销"
    # A pending record given up by whoever may file it, with a reason: kept, never deleted.
    WITHDRAWN = "withdrawn", "已撤回"
    # 79号令 Art.18: the bytes are gone, the metadata and digests stay as a tombstone.
    DESTROYED = "destroyed", "已销毁"


class Custody(models.TextChoices):
    """Who holds a record (79号令 Art.11): the accounting department for up to 1 year after the
    fiscal year's end (at most 3 with the archives department's consent), then the archives
    department, from the day it accepts the record in a transfer (移交)."""

    ACCOUNTING = "accounting", "会计机构暂管"
    ARCHIVES = "archives", "档案机构保管"


class SecurityLevel(models.TextChoices):
    PUBLIC = "公开"
    RESTRICTED = "限制"
    SECRET = "秘密"
    CONFIDENTIAL = "机密"
    TOP_SECRET = "绝密"


class Record(models.Model):
    """件: one archived item with its DA/T 94 metadata."""

    record_no = models.UUIDField("电子文件号", default=uuid.uuid4, unique=True, editable=False)  # M7
    # No index of its own: (fonds, fiscal_year, category) leads with it (every index a record
    # has is written on each filing).
    fonds = models.ForeignKey(Fonds, on_delete=models.PROTECT, related_name="records",
                              db_index=False)
    rule = models.ForeignKey(RetentionRule, on_delete=models.PROTECT, related_name="records")
    category = models.ForeignKey(Category, on_delete=models.PROTECT)
    volume = models.ForeignKey(
        Volume, on_delete=models.PROTECT, null=True, blank=True, related_name="records"
    )
    status = models.CharField(  # indexed by (status, fonds)
        max_length=10, choices=RecordStatus.choices, default=RecordStatus.PENDING
    )
    # M8 档号 and its parts
    archive_no = models.CharField("档号", max_length=80, null=True, blank=True, unique=True)
    catalogue_no = models.CharField("目录号", max_length=20, blank=True)  # M10
    fiscal_year = models.PositiveSmallIntegerField("会计年度")  # M11 年度 and M40 会计年度
    retention = models.CharField("保管期限", max_length=4, validators=[retention_code_validator])  # M12
    # The version of its rule the record was filed under (a local rule may change later).
    rule_version = models.PositiveIntegerField("保管期限规则版本", null=True, blank=True)
    org_unit = models.CharField("机构或问题", max_length=50, blank=True)  # M13
    class_code = models.CharField("类别号", max_length=40)  # M14
    volume_no = models.PositiveIntegerField("室编案卷号", null=True, blank=True)  # M15
    item_no = models.PositiveIntegerField("室编件号", null=True, blank=True)  # M17
    page_no = models.CharField("页号", max_length=20, blank=True)  # M20
    # M21 内容描述
    title = models.CharField("题名", max_length=500)  # M22
    parallel_title = models.CharField("并列题名", max_length=500, blank=True)  # M23
    subtitle = models.CharField("副题名", max_length=500, blank=True)  # M24
    title_note = models.CharField("说明题名文字", max_length=500, blank=True)  # M25
    descriptors = models.CharField("主题词", max_length=500, blank=True)  # M26
    keywords = models.CharField("关键词", max_length=500, blank=True)  # M27
    person_names = models.CharField("人名", max_length=500, blank=True)  # M28
    abstract = models.TextField("摘要", blank=True)  # M29
    classification_no = models.CharField("分类号", max_length=50, blank=True)  # M30
    document_no = models.CharField("文件编号", max_length=100, blank=True)  # M31 凭证号 etc.
    responsible = models.CharField("责任者", max_length=200)  # M32
    date = models.DateField("日期")  # M33
    genre = models.CharField("文种", max_length=50, blank=True)  # M34
    urgency = models.CharField("紧急程度", max_length=20, blank=True)  # M35
    main_recipient = models.CharField("主送", max_length=200, blank=True)  # M36
    copy_recipient = models.CharField("抄送", max_length=200, blank=True)  # M37
    security_level = models.CharField(
        "密级", max_length=4, choices=SecurityLevel.choices, default=SecurityLevel.PUBLIC
    )  # M38
    secrecy_period = models.CharField("保密期限", max_length=50, blank=True)  # M39
    period = models.PositiveSmallIntegerField("会计月份", null=True, blank=True)  # M41
    base_currency = models.CharField("本位币", max_length=3, default="CNY")  # M42
    preparer = models.CharField("编制人", max_length=100, blank=True)  # M43
    prepared_on = models.DateField("编制日期", null=True, blank=True)  # M44
    reviewer = models.CharField("审核人", max_length=100, blank=True)  # M45
    reviewed_on = models.DateField("审核日期", null=True, blank=True)  # M46
    # M47 形式特征
    page_count = models.PositiveIntegerField("页数", null=True, blank=True)  # M50
    language = models.CharField("语种", max_length=20, default="汉语")  # M51
    manuscript = models.CharField("稿本", max_length=20, blank=True)  # M52
    system_description = models.CharField("信息系统描述", max_length=500, blank=True)  # M58
    # M59 数字化属性 (digitised paper only)
    digitized_form = models.CharField("数字化对象形态", max_length=100, blank=True)  # M60
    scan_resolution = models.CharField("扫描分辨率", max_length=20, blank=True)  # M61
    scan_color_mode = models.CharField("扫描色彩模式", max_length=10, blank=True)  # M62
    image_compression = models.CharField("图像压缩方案", max_length=50, blank=True)  # M63
    # M72 存储位置
    offline_carrier_no = models.CharField("脱机载体编号", max_length=100, blank=True)  # M74
    offline_carrier_location = models.CharField("脱机载体存址", max_length=200, blank=True)  # M75
    microform_no = models.CharField("缩微号", max_length=50, blank=True)  # M76
    # M77 权限管理
    ip_statement = models.CharField("知识产权说明", max_length=500, blank=True)  # M78
    authorized_agent = models.CharField("授权对象", max_length=200, blank=True)  # M79
    authorized_action = models.CharField("授权行为", max_length=20, blank=True)  # M80
    control_flag = models.CharField("控制标识", max_length=10, blank=True)  # M81
    notes = models.TextField("附注", blank=True)  # M82
    # Accounting business data carried with the item (not separate M elements).
    voucher_type = models.CharField("凭证类型", max_length=10, blank=True)  # 记/收/付/转
    amount = models.DecimalField("金额", max_digits=18, decimal_places=2, null=True, blank=True)
    currency = models.CharField("币种", max_length=3, default="CNY")
    department = models.CharField("部门", max_length=200, blank=True, db_index=True)
    applicant = models.CharField("申请人", max_length=100, blank=True, db_index=True)
    asset_disposed_on = models.DateField("资产报废清理日期", null=True, blank=True)
    retention_expires_on = models.DateField("保管期满日", null=True, blank=True)
    custody = models.CharField("保管机构", max_length=10, choices=Custody.choices,
                               default=Custody.ACCOUNTING)
    custody_since = models.DateField("保管起始日", null=True, blank=True)
    # Provenance and idempotency
    source_system = models.CharField("来源系统", max_length=50, blank=True)
    external_id = models.CharField("外部编号", max_length=200, blank=True)
    check_report = models.JSONField("四性检测报告", default=dict, blank=True,
                                    encoder=UnicodeJSONEncoder)
    extra = models.JSONField("其他元数据", default=dict, blank=True, encoder=UnicodeJSONEncoder)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    filed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "档案（件）"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_system", "external_id"],
                condition=~Q(external_id=""),
                name="uniq_record_source_external_id",
            ),
            models.UniqueConstraint(
                fields=["fonds", "class_code", "volume_no", "item_no"],
                condition=Q(item_no__isnull=False),
                name="uniq_record_item_no_in_class",
            ),
        ]
        indexes = [
            models.Index(fields=["fonds", "fiscal_year", "category"]),
            models.Index(fields=["status", "fonds"]),
            # Duplicate voucher-number check (GD-1-8). With the year in it, SQLite's planner
            # (no statistics) prefers it to (fonds, fiscal_year, …), which scans a whole year.
            models.Index(fields=["fonds", "document_no", "fiscal_year"],
                         name="record_document_no_year_idx"),
        ]

    def __str__(self) -> str:
        return self.archive_no or str(self.record_no)

    def get_retention_display(self) -> str:
        return retention_label(self.retention)


class FileRole(models.TextChoices):
    ORIGINAL = "original", "原件"
    RENDITION = "rendition", "转换件"
    SIGNATURE = "signature", "签名文件"
    ATTACHMENT = "attachment", "附件"


class RecordFile(models.Model):
    """A computer file that is a component of a record (M53 电子属性), in document order (M19)."""

    # indexed by uniq_file_sequence (record, sequence)
    record = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="files",
                               db_index=False)
    blob = models.ForeignKey("storage.Blob", on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=12, choices=FileRole.choices, default=FileRole.ORIGINAL)
    sequence = models.PositiveSmallIntegerField("文档序号")  # M19
    document_type = models.CharField("文档类型", max_length=50, blank=True)  # 记账凭证/原始凭证…
    filename = models.CharField("计算机文件名", max_length=255)  # M55
    size = models.BigIntegerField("计算机文件大小")  # M56
    sha256 = models.CharField(max_length=64)
    sm3 = models.CharField(max_length=64)
    format_name = models.CharField("格式名称", max_length=50, blank=True)  # M54
    format_version = models.CharField("格式版本", max_length=20, blank=True)
    mime = models.CharField(max_length=100, blank=True)
    puid = models.CharField("PRONOM", max_length=20, blank=True)
    format_profile = models.CharField("格式细类", max_length=50, blank=True)  # einvoice-2019, PDF/A-2b…
    # The PDF/A checker's verdict: {claimed, checked_as, compliant, violations[{clause, message}]}.
    pdfa = models.JSONField("PDF/A 检测", null=True, blank=True, encoder=UnicodeJSONEncoder)
    creating_application = models.CharField("文档创建程序", max_length=200, blank=True)  # M57
    derived_from = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="derivatives"
    )
    signatures = models.JSONField("电子签名", default=list, blank=True,
                                  encoder=UnicodeJSONEncoder)  # M64–M71
    created_at = models.DateTimeField(auto_now_add=True)
    # A file replaced while its record was pending (or a rendition made before a re-check):
    # the row and its blob stay, so nothing received is lost; it is no longer part of the item.
    superseded_at = models.DateTimeField("被替换时间", null=True, blank=True)

    class Meta:
        ordering = ["record_id", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["record", "sequence"], name="uniq_file_sequence")
        ]

    def __str__(self) -> str:
        return self.filename


class Agent(models.Model):
    """机构人员实体 (M83–M86), with the part the agent played for this record."""

    record = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="agents")
    agent_type = models.CharField("机构人员类型", max_length=10)  # M83 单位/内设机构/个人
    name = models.CharField("机构人员名称", max_length=200)  # M84
    org_code = models.CharField("组织机构代码", max_length=50, blank=True)  # M85
    position = models.CharField("个人职位", max_length=100, blank=True)  # M86
    role = models.CharField("职责", max_length=50, blank=True)  # 制单人/审核人/记账人/审批人…

    def __str__(self) -> str:
        return self.name


USE_ACTION = "利用"  # M88 of a use: a view, preview, download, print or loan (issue 18)


class BusinessEvent(models.Model):
    """业务实体 (M87–M91): what was done to the record — 归档, 四性检测, 利用, 移交, 鉴定, 销毁."""

    record = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="business_events")
    status = models.CharField("业务状态", max_length=10, default="历史行为")  # M87
    action = models.CharField("业务行为", max_length=50)  # M88
    occurred_at = models.DateTimeField("行为时间")  # M89
    mandate = models.CharField("行为依据", max_length=200, blank=True)  # M90
    description = models.TextField("行为描述", blank=True)  # M91
    agent_name = models.CharField("行为人", max_length=150, blank=True)

    class Meta:
        ordering = ["occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} {self.occurred_at:%Y-%m-%d %H:%M}"


class CheckReportHistory(models.Model):
    """A 四性检测 report a re-check replaced: the record's history of checks (the current report
    stays on `Record.check_report`)."""

    record = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="past_reports")
    report = models.JSONField("四性检测报告", default=dict, encoder=UnicodeJSONEncoder)
    status = models.CharField("当时状态", max_length=10, choices=RecordStatus.choices)
    superseded_at = models.DateTimeField("被替代时间")
    superseded_by = models.CharField("替代人", max_length=150, blank=True)

    class Meta:
        verbose_name = "历史检测报告"
        ordering = ["superseded_at", "id"]

    def __str__(self) -> str:
        return f"report of record {self.record_id} until {self.superseded_at:%Y-%m-%d %H:%M}"


class Relation(models.Model):
    """实体关系 (M92–M95): links between records (记账凭证↔原始凭证, 主件↔附件, …)."""

    record = models.ForeignKey(Record, on_delete=models.PROTECT, related_name="relations")
    target = models.ForeignKey(
        Record, on_delete=models.PROTECT, null=True, blank=True, related_name="incoming_relations"
    )
    entity_identifier = models.CharField("实体标识符", max_length=200)  # M92
    relation_type = models.CharField("关系类型", max_length=50)  # M93
    relation = models.CharField("关系", max_length=50, blank=True)  # M94
    description = models.CharField("关系描述", max_length=500, blank=True)  # M95

    def __str__(self) -> str:
        return f"{self.relation_type} → {self.entity_identifier}"


class RecordText(models.Model):
    """Text extracted from a record's files, kept for the search index and for display."""

    record = models.OneToOneField(Record, on_delete=models.CASCADE, primary_key=True)
    content = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"text of record {self.record_id}"
