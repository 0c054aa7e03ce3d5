from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection

from kjda.audit.models import AuditEvent
from kjda.audit.services import audit_log


def raw_sql(sql: str, params: list | None = None) -> None:
    """Tamper with the table behind the ORM's back, as someone with database access would."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


@pytest.fixture
def make_chain() -> Callable[[int], list[AuditEvent]]:
    def make(count: int) -> list[AuditEvent]:
        return [
            audit_log(action="record.view", object_type="record", object_id=str(i),
                      detail={"n": i, "题名": "差旅费报销"})
            for i in range(1, count + 1)
        ]

    return make
