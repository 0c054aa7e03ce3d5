"""The dashboard (counts and latest records) and the retention table (保管期限表)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from kjda.accounts.roles import Perm, Role
from kjda.accounts.selectors import actor_can, actor_roles, separation_conflicts
from kjda.archives import selectors
from kjda.archives.models import RecordStatus
from kjda.lifecycle.todos import todos_for
from kjda.preservation.backup.selectors import backup_status
from kjda.web import presenters

LATEST = 10


def _category_names(rules) -> list[str]:
    return list(dict.fromkeys(rule.category.name for rule in rules))


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    categories = _category_names(selectors.retention_rule_list())
    rows = selectors.record_counts_by_year_and_category(actor=request.user)
    by_status = selectors.record_counts_by_status(actor=request.user)
    latest = selectors.record_list(actor=request.user)[:LATEST]
    return render(request, "web/dashboard.html", {
        "chart": presenters.year_category_chart(rows, categories),
        "matrix": presenters.year_category_table(rows, categories),
        "categories": categories,
        "total": sum(by_status.values()),
        "filed": by_status.get(RecordStatus.FILED, 0),
        "pending": by_status.get(RecordStatus.PENDING, 0),
        "latest": latest,
        "todos": todos_for(request.user),
        # a task for the security administrators until the bootstrap admin's roles are split
        "separation_conflicts": separation_conflicts()
        if actor_can(request.user, Perm.USER_MANAGE) else [],
        # the system administrator looks after the backups (last success, size, age, DEST)
        "backup": backup_status() if Role.SYSADMIN in actor_roles(request.user) else None,
    })
