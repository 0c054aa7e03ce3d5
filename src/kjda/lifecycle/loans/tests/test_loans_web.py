"""The borrowing pages: the request-access page for a record outside the reader's scope (it
names nothing but the id), the request form from a record, a volume and a search, the loan page
with its buttons, my loans, the register, the statistics and the rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from kjda.lifecycle.loans.models import Loan, LoanState


def _browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _until(days: int) -> str:
    return (timezone.localdate() + timedelta(days=days)).isoformat()


@pytest.mark.django_db(transaction=True)
def test_an_out_of_scope_deep_link_offers_a_loan_without_revealing_the_record(people, ingest):
    record = ingest(1, title="机密合同付款")
    bor = _browser(people["lisi"])
    page = bor.get(f"/records/{record.pk}/")
    body = page.content.decode()
    assert page.status_code == 403 and "此档案不在您的查阅范围内" in body
    assert f"/loans/new/?records={record.pk}" in body
    assert "机密合同付款" not in body and record.archive_no not in body
    # a record that does not exist is still a plain 404, and the API keeps answering 404
    assert bor.get(f"/records/{record.pk + 1000}/").status_code == 404
    assert bor.get(f"/api/v1/records/{record.pk}").status_code == 404

    form = bor.get(f"/loans/new/?records={record.pk}").content.decode()
    assert f'value="{record.pk}"' in form and "机密合同付款" not in form
    resp = bor.post("/loans/new/", {"records": str(record.pk), "purpose": "核对付款",
                                    "until": _until(3), "rights": ["view"]})
    loan = Loan.objects.get()
    assert resp.status_code == 302 and resp["Location"] == f"/loans/{loan.pk}/"
    page = bor.get(f"/loans/{loan.pk}/").content.decode()
    assert loan.loan_no in page and "机密合同付款" not in page and 'id="step-cancel"' in page
    assert loan.loan_no in bor.get("/loans/mine/").content.decode()
    assert bor.get("/loans/").status_code == 403  # the approvers' list

    arc = _browser(people["dangan"])
    assert f"审批借阅：{loan.loan_no}" in arc.get("/").content.decode()  # dashboard to-do
    page = arc.get(f"/loans/{loan.pk}/").content.decode()
    assert "机密合同付款" in page and 'id="step-approve"' in page
    assert bor.post(f"/loans/{loan.pk}/approve/").status_code == 403
    assert arc.post(f"/loans/{loan.pk}/approve/", {"comment": "同意"}).status_code == 302
    loan.refresh_from_db()
    assert loan.state == LoanState.ACTIVE
    page = bor.get(f"/records/{record.pk}/")
    assert page.status_code == 200 and f"借阅 {loan.loan_no}" in page.content.decode()
    assert 'id="loan-ask"' in page.content.decode()  # view only: more may be asked
    page = arc.get(f"/records/{record.pk}/").content.decode()
    assert f"借阅单 {loan.loan_no}" in page  # the mention on the record page
    assert bor.post(f"/loans/{loan.pk}/return/").status_code == 302
    assert bor.get(f"/records/{record.pk}/").status_code == 403


@pytest.mark.django_db(transaction=True)
def test_a_search_can_be_borrowed_and_bad_input_is_shown_on_the_form(people, ingest):
    ingest(1, title="差旅费报销 甲")
    bor = _browser(people["lisi"])
    form = bor.get("/loans/new/?q=差旅费&fonds=Z001").content.decode()
    assert 'name="q" value="差旅费"' in form
    resp = bor.post("/loans/new/", {"q": "差旅费", "fonds": "Z001", "purpose": "检查",
                                    "until": _until(400)})
    assert resp.status_code == 400 and "借阅期限最长 30 天" in resp.content.decode()
    resp = bor.post("/loans/new/", {"q": "差旅费", "fonds": "Z001", "purpose": "检查",
                                    "until": _until(3)})
    assert resp.status_code == 302
    loan = Loan.objects.get()
    assert loan.source == "query" and loan.items.count() == 1
    page = bor.get(f"/loans/{loan.pk}/").content.decode()
    assert "差旅费报销 甲" not in page and "批准前不显示档案内容" in page


@pytest.mark.django_db(transaction=True)
def test_archivists_pages_register_statistics_and_rules(people, ingest):
    ingest(1)
    arc, aud = _browser(people["dangan"]), _browser(people["shenji"])
    year = timezone.localdate().year
    for client in (arc, aud):
        assert client.get("/loans/register/").status_code == 200
        assert client.get("/loans/statistics/").status_code == 200
    resp = arc.get(f"/loans/register.xlsx?year={year}")
    assert resp.status_code == 200 and resp["Content-Disposition"].endswith(".xlsx")
    assert _browser(people["lisi"]).get("/loans/register/").status_code == 403
    page = arc.get("/loans/rules/").content.decode()
    assert "Z001" in page and 'name="max_days"' in page
    resp = arc.post("/loans/rules/", {"fonds": "Z001", "mode": "auto", "max_days": "10",
                                      "auto_own_department": "1", "auto_max_age_years": "10",
                                      "auto_rights": ["view"]})
    assert resp.status_code == 302
    assert 'name="max_days"' not in aud.get("/loans/rules/").content.decode()
    assert aud.post("/loans/rules/", {"fonds": "Z001", "mode": "oa"}).status_code == 403
