"""Connectors to OA platforms, their mapping rules, the durable inbox of received events, the
replay guard, and the outbox of notices sent back to OA users."""

from __future__ import annotations

import uuid

from django.db import models

from kjda.platforms import kind_choices


class Connector(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The registered OA platforms (kjda.platforms): a callable, so the migrations name the
    # function and a new platform needs none.
    kind = models.CharField(max_length=20, choices=kind_choices)
    name = models.CharField(max_length=100)
    # Non-secret settings in clear; secret ones only as Fernet ciphertext (never shown again).
    settings = models.JSONField(default=dict, blank=True)
    secrets_encrypted = models.TextField(blank=True)
    fonds_code = models.CharField(max_length=4, blank=True)  # "" = the default fonds
    finance_owner_ids = models.JSONField(default=list, blank=True)  # OA user ids told of problems
    enabled = models.BooleanField(default=True)
    last_sweep_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.name}"


class Scenario(models.TextChoices):
    REIMBURSEMENT = "reimbursement", "报销"
    CONTRACT = "contract", "合同"
    PAYMENT = "payment", "付款"


class Mapping(models.Model):
    """Approval template / process code → business scenario → archive category and fields."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="mappings")
    process_code = models.CharField(max_length=200)
    scenario = models.CharField(max_length=20, choices=Scenario.choices)
    category = models.CharField(max_length=100)  # retention-table item name, e.g. 原始凭证
    # our field name → the form's field name (or id): amount, applicant, department, date,
    # title, invoices, attachments, related (the instance id of a linked approval), …
    fields = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connector", "process_code"],
                                               name="uniq_mapping_process_code")]

    def __str__(self) -> str:
        return f"{self.process_code} → {self.scenario}"


class InboxStatus(models.TextChoices):
    RECEIVED = "received", "已接收"
    PROCESSING = "processing", "处理中"
    DONE = "done", "已归档"
    IGNORED = "ignored", "已忽略"
    FAILED = "failed", "失败"


class InboxEvent(models.Model):
    """A verified callback event, committed before the OA gets its answer. Processing claims
    it with a lease; an expired lease (a killed worker) makes it claimable again."""

    connector = models.ForeignKey(Connector, on_delete=models.PROTECT, related_name="events")
    event_id = models.CharField(max_length=200)
    instance_id = models.CharField(max_length=200, db_index=True)
    process_code = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=20)  # approved | revoked | ignored
    event_type = models.CharField(max_length=100, blank=True)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=12, choices=InboxStatus.choices,
                              default=InboxStatus.RECEIVED, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    record_id = models.BigIntegerField(null=True, blank=True)
    source = models.CharField(max_length=10, default="callback")  # callback | sweep | retry
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["connector", "event_id"],
                                               name="uniq_inbox_event")]

    def __str__(self) -> str:
        return f"{self.connector_id}:{self.event_id}"


class ReplayGuard(models.Model):
    """Signatures/nonces of accepted deliveries within the freshness window: a byte-identical
    replay of a signed callback is refused."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE)
    key = models.CharField(max_length=200)
    seen_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connector", "key"], name="uniq_replay")]

    def __str__(self) -> str:
        return self.key


class NoticeStatus(models.TextChoices):
    PENDING = "pending", "待发送"
    SENDING = "sending", "发送中"
    SENT = "sent", "已发送"
    FAILED = "failed", "发送失败"


class Notice(models.Model):
    """A notice or to-do for OA users, written in the same transaction as its cause and sent
    by a task with retries (outbox)."""

    connector = models.ForeignKey(Connector, on_delete=models.PROTECT, related_name="notices")
    user_ids = models.JSONField(default=list)
    title = models.CharField(max_length=200)
    text = models.TextField()
    url = models.CharField(max_length=500, blank=True)
    todo = models.BooleanField(default=False)
    reason = models.CharField(max_length=50)  # archive_failed | invoice_missing | check_failed | duplicate_claim
    dedupe_key = models.CharField(max_length=200, unique=True)
    inbox_event = models.ForeignKey(InboxEvent, on_delete=models.SET_NULL, null=True, blank=True)
    record_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=NoticeStatus.choices,
                              default=NoticeStatus.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    platform_message_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.reason} → {self.user_ids}"


class ApprovalState(models.TextChoices):
    PENDING = "pending", "待提交"
    SUBMITTED = "submitted", "审批中"
    APPROVED = "approved", "已通过"
    REJECTED = "rejected", "未通过"
    FAILED = "failed", "提交失败"


class OutgoingApproval(models.Model):
    """An approval KJDA started in a user's OA (e.g. a loan request, `kind` "loan"): the
    instance the platform created, and its result once the OA reports it (callback or poll).
    The handler registered for `kind` learns the result exactly once."""

    connector = models.ForeignKey(Connector, on_delete=models.PROTECT,
                                  related_name="outgoing_approvals")
    kind = models.CharField(max_length=50)
    reference = models.CharField(max_length=200)  # the caller's id (e.g. the loan number)
    user = models.ForeignKey("auth.User", on_delete=models.SET_NULL, null=True, blank=True,
                             related_name="+")
    originator_id = models.CharField(max_length=200)  # the user's id on the platform
    template = models.CharField(max_length=200)
    title = models.CharField(max_length=200)
    fields = models.JSONField(default=list, blank=True)  # [[label, value], …] as sent
    url = models.CharField(max_length=500, blank=True)
    instance_id = models.CharField(max_length=200, blank=True, db_index=True)
    state = models.CharField(max_length=10, choices=ApprovalState.choices,
                             default=ApprovalState.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    approver = models.CharField(max_length=200, blank=True)
    comment = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)  # the platform's final status etc.
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    polled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["kind", "reference"], name="outapproval_kind_ref")]
        constraints = [models.UniqueConstraint(
            fields=["connector", "instance_id"], condition=~models.Q(instance_id=""),
            name="uniq_outgoing_approval_instance")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.reference} → {self.instance_id or '-'} ({self.state})"
