"""Searches served from a read replica (issue 19 item 7): the search page and the search API
work when the `search` alias connects as a role that may only SELECT, in read-only
transactions, and what the read path writes (the search's audit event, the session) goes
through `default`."""

from __future__ import annotations

import secrets

import pytest
from django.db import connection, connections
from django.db.utils import load_backend
from django.test import Client
from django.test.utils import CaptureQueriesContext

from kjda.archives.tests.test_search_readonly import _WRITE, _make
from kjda.audit.models import AuditEvent

pytestmark = [pytest.mark.skipif("connection.vendor != 'postgresql'"),
              pytest.mark.django_db(transaction=True)]


@pytest.fixture
def readonly_search():
    """The `search` alias as a login role with SELECT on every table and read-only
    transactions by default (a streaming replica refuses writes the same way)."""
    role = f"kjda_ro_{secrets.token_hex(4)}"
    name = connections["default"].settings_dict["NAME"]
    with connection.cursor() as cur:
        cur.execute(f"CREATE ROLE {role} LOGIN")
        cur.execute(f"ALTER ROLE {role} SET default_transaction_read_only = on")
        cur.execute(f'GRANT CONNECT ON DATABASE "{name}" TO {role}')
        cur.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    settings_dict = {**connections["search"].settings_dict, "USER": role, "PASSWORD": "",
                     "OPTIONS": {}}
    readonly = load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, "search")
    saved = connections["search"]
    connections["search"] = readonly
    try:
        yield readonly, role
    finally:
        readonly.close()
        connections["search"] = saved
        with connection.cursor() as cur:
            cur.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")


def test_search_page_and_api_answer_through_a_select_only_read_only_role(
        fonds, archivist, token, readonly_search):
    readonly, role = readonly_search
    for i in range(6):
        _make(fonds, i, "报销差旅费" if i % 2 else "采购办公用品")
    web = Client()
    web.force_login(archivist)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    with CaptureQueriesContext(readonly) as read:
        page = web.get("/records/", {"q": "差旅"})
        found = api.get("/api/v1/records", {"q": "差旅"})
    assert page.status_code == 200
    assert "报销差旅费 5" in page.content.decode() and "采购办公用品" not in page.content.decode()
    assert found.status_code == 200, found.content
    assert found.json()["count"] == 3
    assert read.captured_queries  # the search did read through the role
    assert [q["sql"] for q in read.captured_queries if _WRITE.match(q["sql"])] == []
    with readonly.cursor() as cur:
        cur.execute("SELECT current_user, current_setting('default_transaction_read_only')")
        assert cur.fetchone() == (role, "on")
    # Both searches were logged, through `default`.
    logged = AuditEvent.objects.filter(action="record.search").values_list("detail", flat=True)
    assert [d["q"] for d in logged] == ["差旅", "差旅"]
