"""Borrowing (借阅/调阅, 79号令 Art.13; issue 18 item 3): a person asks to use records outside
their data scope for a purpose and a period, with rights (view online, download, print); an
archivist, a rule or the borrower's OA approves; lending outside the unit needs a second,
documented approval by the unit head or the head of the archives (standards.md §1.7)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from kjda.db.unicode_json import UnicodeJSONEncoder

RIGHT_LABELS = {"view": "在线查阅", "download": "下载", "print": "打印"}


class LoanState(models.TextChoices):
    REQUESTED = "requested", "待审批"
    APPROVED = "approved", "已批准（待单位负责人审批借出）"
    ACTIVE = "active", "借阅中"
    RETURNED = "returned", "已归还"
    EXPIRED = "expired", "已到期"
    REJECTED = "rejected", "已驳回"
    CANCELLED = "cancelled", "已撤回"
    EXTENDED = "extended", "已续借（并入原借阅单）"  # a renewal once approved


class ApprovalMode(models.TextChoices):
    ARCHIVIST = "archivist", "档案管理员审批"
    AUTO = "auto", "按规则自动审批"
    OA = "oa", "在 OA 中审批"


class LoanSource(models.TextChoices):
    RECORDS = "records", "指定档案"
    VOLUME = "volume", "案卷"
    QUERY = "query", "检索结果"


class LoanRule(models.Model):
    """How a fonds lends its records.

    mode: `archivist` (an archivist whose scope covers the fonds decides), `auto` (approved at
    once when every record is of the borrower's own department, if `auto_own_department`, with
    a fiscal year no older than `auto_max_age_years`, and the rights asked are within
    `auto_rights`; otherwise the archivist decides), `oa` (an approval in the borrower's OA; the
    archivist when the borrower has no OA or no template). `max_days`: the longest period one
    request or renewal may ask. Lending outside the unit is never automatic and always needs the
    unit head's or archives head's second approval."""

    fonds = models.OneToOneField("archives.Fonds", on_delete=models.CASCADE, related_name="+")
    mode = models.CharField("审批方式", max_length=10, choices=ApprovalMode.choices,
                            default=ApprovalMode.ARCHIVIST)
    auto_own_department = models.BooleanField("自动审批限本部门档案", default=True)
    auto_max_age_years = models.PositiveSmallIntegerField("自动审批年限（年）", default=10)
    auto_rights = models.JSONField("自动审批的权限", default=list, blank=True)
    max_days = models.PositiveSmallIntegerField("最长借阅天数", default=30)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "借阅规则"

    def __str__(self) -> str:
        return f"{self.fonds_id}:{self.mode}"


class Loan(models.Model):
    loan_no = models.CharField("借阅单号", max_length=30, unique=True)  # JY-2026-0001
    borrower = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                 related_name="+")
    borrower_name = models.CharField("借阅人", max_length=150)
    borrower_department = models.CharField("部门", max_length=200, blank=True)
    purpose = models.CharField("借阅目的", max_length=500)
    starts_on = models.DateField("借阅起始日")
    ends_on = models.DateField("借阅截止日")
    rights = models.JSONField("权限", default=list)  # ⊆ kjda.accounts.grants.Right.ALL
    external = models.BooleanField("借出单位外", default=False)
    organisation = models.CharField("借阅单位", max_length=200, blank=True)
    source = models.CharField(max_length=10, choices=LoanSource.choices,
                              default=LoanSource.RECORDS)
    # what was asked: record ids / archive numbers as named, the volume id, or the query
    asked = models.JSONField(default=dict, blank=True, encoder=UnicodeJSONEncoder)
    mode = models.CharField("审批方式", max_length=10, choices=ApprovalMode.choices,
                            default=ApprovalMode.ARCHIVIST)
    state = models.CharField(max_length=12, choices=LoanState.choices,
                             default=LoanState.REQUESTED)
    renewal_of = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="renewals")
    requested_at = models.DateTimeField(default=timezone.now)
    # the first approval (archivist, rule or OA person) and the second (external lending)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   null=True, blank=True, related_name="+")
    decided_by_name = models.CharField("审批人", max_length=150, blank=True)
    decided_channel = models.CharField(max_length=10, blank=True)  # web | api | auto | oa
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.CharField("审批意见", max_length=500, blank=True)
    second_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                  null=True, blank=True, related_name="+")
    second_by_name = models.CharField("借出审批人", max_length=150, blank=True)
    second_at = models.DateTimeField(null=True, blank=True)
    second_comment = models.CharField("借出审批意见", max_length=500, blank=True)
    oa_instance_id = models.CharField(max_length=100, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "借阅单"
        ordering = ["-id"]
        indexes = [models.Index(fields=["borrower", "state", "ends_on"],
                                name="loan_borrower_state")]

    def __str__(self) -> str:
        return self.loan_no

    @property
    def until(self) -> datetime:
        """The end of the loan: midnight after its last day, local time."""
        return timezone.make_aware(datetime.combine(self.ends_on + timedelta(days=1), time.min))

    @property
    def is_renewal(self) -> bool:
        return self.renewal_of_id is not None


class LoanItem(models.Model):
    loan = models.ForeignKey(Loan, on_delete=models.CASCADE, related_name="items")
    record = models.ForeignKey("archives.Record", on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["loan_id", "id"]
        constraints = [models.UniqueConstraint(fields=["loan", "record"], name="uniq_loan_item")]

    def __str__(self) -> str:
        return f"{self.loan_id}:{self.record_id}"
