"""Retention policy: audit events are kept (≥ 6 months; in fact for good): no interface
deletes or edits them."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import get_resolver

from kjda.audit.models import RETENTION_MIN_DAYS, AuditEvent


def test_retention_floor_is_at_least_six_months():
    assert RETENTION_MIN_DAYS >= 183


def test_the_api_has_no_write_method_on_the_audit_log(db):
    schema = json.loads(Client().get("/api/v1/openapi.json").content)
    audit_paths = {p: ops for p, ops in schema["paths"].items() if "audit" in p}
    assert audit_paths, "the audit API is listed"
    for path, ops in audit_paths.items():
        assert set(ops) <= {"get"}, (path, sorted(ops))


def test_no_web_url_or_cli_command_removes_audit_events():
    names = {str(p.pattern) for p in get_resolver().url_patterns}
    assert not any("audit" in n and ("delete" in n or "prune" in n) for n in names)
    from kjda.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    assert not any("prune" in c or "purge" in c for c in commands)


@pytest.mark.django_db
def test_write_requests_to_the_audit_api_are_refused(django_user_model):
    from kjda.accounts.models import Profile
    from kjda.accounts.services import token_issue
    from kjda.audit.services import audit_log

    user = django_user_model.objects.create_user("auditor1", password="Audit-Pass-2024!")
    Profile.objects.create(user=user, roles=["auditadmin"])
    audit_log(action="test.event", actor=user)
    before = AuditEvent.objects.count()
    c = Client(headers={"Authorization": f"Bearer {token_issue(user=user, name='t')[1]}"})
    for method in ("delete", "put", "patch", "post"):
        assert getattr(c, method)("/api/v1/audit").status_code in (404, 405), method
    assert AuditEvent.objects.count() >= before
