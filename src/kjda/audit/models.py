"""The hash-chained audit log (安全审计日志).

Every create, read, download, change and failed or refused access is one `AuditEvent`. Events are
numbered 1, 2, 3… without gaps, and each carries the hash of the one before (see `chain.py`), so
that changing, removing or inserting an event breaks the chain where it happened. `AuditChainHead`
remembers the newest event, so that removing the newest events is caught as well. The hash is an
HMAC under a key kept outside the database (`keys.py`), and signed checkpoints of the chain are
written to the write-once blob store (`checkpoints.py`): someone who can write the database can
neither recompute the chain after an edit nor cut the log below the last checkpoint.

Events can only be added, through `services.audit_log`. The ORM refuses to update or delete them
(`save` on an existing row, `delete`, `QuerySet.update/delete/bulk_update` all raise), and the
actor foreign key is PROTECT so deleting a user cannot cascade into the log.

Retention (等保: logs kept at least 6 months): the log is kept for good. Nothing prunes, rotates
or archives it away, and no interface (API, web page, CLI) deletes or edits events; export
(CSV/Excel) copies, never moves. `RETENTION_MIN_DAYS` states the floor that any future pruning
would have to respect (tests check no interface deletes).
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models

from kjda.errors import DomainError

RETENTION_MIN_DAYS = 183  # at least six months; in practice: forever (append-only, no pruning)


class AuditLogImmutable(DomainError):
    status = 403

    def __init__(self) -> None:
        super().__init__("audit_immutable", "审计日志不可修改或删除",
                         "the audit log cannot be changed or deleted")


class Outcome(models.TextChoices):
    SUCCESS = "success", "成功"
    FAILURE = "failure", "失败"
    DENIED = "denied", "拒绝"


class Action:
    """Well-known actions. The field is free text (`<object>.<verb>`) so apps can add their own
    without a migration; use these names where they fit."""

    RECORD_CREATE = "record.create"
    RECORD_VIEW = "record.view"
    RECORD_CHANGE = "record.change"
    RECORD_SEARCH = "record.search"
    FILE_DOWNLOAD = "file.download"
    AUTH_LOGIN = "auth.login"
    AUTH_LOGOUT = "auth.logout"
    AUTH_FAILED = "auth.failed"
    ACCESS_DENIED = "access.denied"


class NoDeleteQuerySet(models.QuerySet):
    def delete(self) -> NoReturn:
        raise AuditLogImmutable

    def _raw_delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        # The deletion collector's fast path; unreachable through PROTECT, closed anyway.
        raise AuditLogImmutable


class AuditEventQuerySet(NoDeleteQuerySet):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AuditLogImmutable

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditLogImmutable


class AuditEvent(models.Model):
    seq = models.BigIntegerField("序号", unique=True)
    occurred_at = models.DateTimeField("时间")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="操作人", null=True, blank=True,
        on_delete=models.PROTECT, related_name="+", db_index=False,  # (actor, seq) index below
    )
    actor_name = models.CharField("操作人账号", max_length=150, blank=True)
    action = models.CharField("操作", max_length=64)
    object_type = models.CharField("对象类型", max_length=64, blank=True)
    object_id = models.CharField("对象标识", max_length=255, blank=True)
    outcome = models.CharField("结果", max_length=10, choices=Outcome.choices)
    ip = models.GenericIPAddressField("来源地址", null=True, blank=True)
    user_agent = models.CharField("客户端", max_length=512, blank=True)
    detail = models.JSONField("详情", default=dict, blank=True)
    prev_hash = models.CharField("前序哈希", max_length=64)
    hash = models.CharField("哈希", max_length=64)
    # The audit key the hash is an HMAC under (chain.py); null: an event written before the
    # chain was keyed, hashed with plain SHA-256. Nullable, so adding it rewrites no row.
    key_id = models.CharField("密钥标识", max_length=16, null=True, blank=True)  # noqa: DJ001

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        verbose_name = "审计事件"
        verbose_name_plural = "审计事件"
        # Django's internal updates and cascades use the base manager: make it the refusing one.
        base_manager_name = "objects"
        # Filters are combined with newest-first ordering, so each index ends in seq.
        indexes = [
            models.Index(fields=["actor", "seq"], name="audit_actor_seq"),
            models.Index(fields=["action", "seq"], name="audit_action_seq"),
            models.Index(fields=["outcome", "seq"], name="audit_outcome_seq"),
            models.Index(fields=["occurred_at"], name="audit_occurred_at"),
            models.Index(fields=["object_type", "object_id", "seq"], name="audit_object_seq"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.outcome} {self.actor_name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding or kwargs.get("force_update") or kwargs.get("update_fields"):
            raise AuditLogImmutable
        # Insert only: a new instance given an existing pk must not turn into an UPDATE.
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditLogImmutable


class AuditChainHead(models.Model):
    """The one row (id=1) holding the newest event's seq and hash. Appends lock it, which
    serialises writers on PostgreSQL (SQLite's IMMEDIATE transactions already do)."""

    SINGLETON_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_ID)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)

    objects = NoDeleteQuerySet.as_manager()

    class Meta:
        verbose_name = "审计链头"
        base_manager_name = "objects"

    def __str__(self) -> str:
        return f"audit head #{self.last_seq}"

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditLogImmutable
