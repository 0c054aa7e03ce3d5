"""Roles and what each may do (issue #4; standards.md §10 三员分立).

The three separated administrators (三员) manage the system, never its content: the system
administrator configures, the security administrator grants roles and scopes, the security
auditor reads the audit log. No person holds two of the three. Content roles read archives
within their data scope (fonds and departments); the employee reads what they applied for.
"""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    SYSADMIN = "sysadmin", "系统管理员"
    SECADMIN = "secadmin", "安全保密管理员"
    AUDITADMIN = "auditadmin", "安全审计员"
    ARCHIVIST = "archivist", "档案管理员"
    ACCOUNTANT = "accountant", "会计"
    AUDITOR = "auditor", "审计"
    EMPLOYEE = "employee", "员工"
    # Custody and disposition (issue 17; 79号令 Art.11, 17, 18): who signs and witnesses. These
    # roles read no records by themselves (no data scope of their own); they act on batches.
    HEAD = "head", "单位负责人"
    ARCHIVES_HEAD = "archives_head", "档案机构负责人"
    ACCOUNTING_HEAD = "accounting_head", "会计机构负责人"
    INSPECTOR = "inspector", "纪检监察"
    IT_OFFICER = "it_officer", "信息系统管理"
    # Art.11: the cashier never looks after the accounting archives (kept as a role so the rule
    # can be checked wherever someone becomes a custodian).
    CASHIER = "cashier", "出纳"


ADMIN_TRIO = frozenset({Role.SYSADMIN, Role.SECADMIN, Role.AUDITADMIN})
LIFECYCLE_ROLES = frozenset({Role.HEAD, Role.ARCHIVES_HEAD, Role.ACCOUNTING_HEAD, Role.INSPECTOR,
                             Role.IT_OFFICER, Role.CASHIER})
CONTENT_ROLES = frozenset({Role.ARCHIVIST, Role.ACCOUNTANT, Role.AUDITOR, Role.EMPLOYEE}
                          | LIFECYCLE_ROLES)


class Perm:
    """Actions checked at the API and web layers (reads of records are also scoped)."""

    RECORD_READ = "record.read"
    RECORD_INGEST = "record.ingest"
    VOLUME_CLOSE = "volume.close"
    FONDS_CONFIGURE = "fonds.configure"
    CONNECTOR_MANAGE = "connector.manage"
    USER_MANAGE = "user.manage"
    AUDIT_READ = "audit.read"
    # issue 17 item 3: hand-over (移交) pages and custody; the steps are the workflow's roles
    TRANSFER_READ = "transfer.read"
    # 组卷 (issue 17 item 2): Art.10, the accounting department 整理立卷; rules are the archivist's.
    VOLUME_ASSEMBLE = "volume.assemble"
    VOLUME_RULES = "volume.rules"
    # 借阅 (issue 18): every loan, the register and the statistics; the lending rules per fonds.
    # Anyone with a content role asks for loans (record.read); the steps are the workflow's roles.
    LOAN_READ = "loan.read"
    LOAN_RULES = "loan.rules"
    # 长期保存 (issue 19): the fixity audit's reports and the replica's lag.
    STORAGE_READ = "storage.read"
    # Monitoring (issue 19 item 5): alarms stay open until the system administrator
    # acknowledges them (archivists see the storage and fixity alarms, read-only).
    ALARM_ACKNOWLEDGE = "alarm.acknowledge"
    # 格式监测 (issue 19 item 6): the format registry, and flagging a format at risk.
    FORMAT_READ = "format.read"
    FORMAT_MANAGE = "format.manage"


PERMISSIONS: dict[str, frozenset[str]] = {
    Perm.RECORD_READ: CONTENT_ROLES,
    Perm.RECORD_INGEST: frozenset({Role.ARCHIVIST, Role.ACCOUNTANT}),
    Perm.VOLUME_CLOSE: frozenset({Role.ARCHIVIST, Role.ACCOUNTANT}),
    Perm.VOLUME_ASSEMBLE: frozenset({Role.ARCHIVIST, Role.ACCOUNTANT}),
    Perm.VOLUME_RULES: frozenset({Role.ARCHIVIST}),
    # How the archive is arranged is the archivist's call; the system administrator configures.
    Perm.FONDS_CONFIGURE: frozenset({Role.SYSADMIN, Role.ARCHIVIST}),
    Perm.CONNECTOR_MANAGE: frozenset({Role.SYSADMIN, Role.ARCHIVIST}),
    Perm.USER_MANAGE: frozenset({Role.SECADMIN}),
    Perm.AUDIT_READ: frozenset({Role.AUDITADMIN}),
    Perm.TRANSFER_READ: frozenset({Role.ACCOUNTANT, Role.ACCOUNTING_HEAD, Role.ARCHIVIST,
                                   Role.ARCHIVES_HEAD, Role.HEAD, Role.AUDITOR, Role.INSPECTOR}),
    Perm.LOAN_READ: frozenset({Role.ARCHIVIST, Role.ARCHIVES_HEAD, Role.HEAD, Role.AUDITOR,
                               Role.INSPECTOR}),
    Perm.LOAN_RULES: frozenset({Role.ARCHIVIST}),
    Perm.STORAGE_READ: frozenset({Role.SYSADMIN, Role.ARCHIVIST}),
    Perm.ALARM_ACKNOWLEDGE: frozenset({Role.SYSADMIN}),
    Perm.FORMAT_READ: frozenset({Role.SYSADMIN, Role.ARCHIVIST}),
    Perm.FORMAT_MANAGE: frozenset({Role.SYSADMIN, Role.ARCHIVIST}),
}


# What an API token's scopes let it do: a token acts as its user, narrowed to these.
TOKEN_SCOPES = ("read", "ingest", "admin")
TOKEN_SCOPE_FOR_PERM: dict[str, str] = {
    Perm.RECORD_READ: "read",
    Perm.AUDIT_READ: "read",
    Perm.TRANSFER_READ: "read",
    Perm.LOAN_READ: "read",
    Perm.STORAGE_READ: "read",
    Perm.FORMAT_READ: "read",
    Perm.FORMAT_MANAGE: "admin",
    Perm.LOAN_RULES: "admin",
    Perm.ALARM_ACKNOWLEDGE: "admin",
    Perm.RECORD_INGEST: "ingest",
    Perm.VOLUME_CLOSE: "admin",
    Perm.VOLUME_ASSEMBLE: "admin",
    Perm.VOLUME_RULES: "admin",
    Perm.FONDS_CONFIGURE: "admin",
    Perm.CONNECTOR_MANAGE: "admin",
    Perm.USER_MANAGE: "admin",
}
