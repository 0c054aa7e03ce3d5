"""`manage.py audit_verify` exits 0 on an intact chain and 1 naming the first bad event."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from kjda.audit.tests.conftest import raw_sql

pytestmark = pytest.mark.django_db


def test_command_exits_zero_on_an_intact_chain(make_chain):
    make_chain(3)
    out = StringIO()

    call_command("audit_verify", stdout=out)

    assert "3" in out.getvalue() and "intact" in out.getvalue()


def test_command_exits_one_naming_the_first_bad_event(make_chain):
    make_chain(5)
    raw_sql("UPDATE audit_auditevent SET object_id = 'forged' WHERE seq = 2")
    err = StringIO()

    with pytest.raises(SystemExit) as exc:
        call_command("audit_verify", "--batch-size", "2", stdout=StringIO(), stderr=err)

    assert exc.value.code == 1
    assert "#2" in err.getvalue() and "altered" in err.getvalue()
