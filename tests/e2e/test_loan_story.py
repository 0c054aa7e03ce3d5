"""Issue 18 item 3 in a browser: an employee follows a link to a record outside their scope,
asks to borrow it from the "request access" page, the archivist approves, the record opens for
the employee with the loan named on it, and once the period is over (the clock moved on) the
record is out of their view again; the 借阅登记簿 lists the loan."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from .conftest import PASSWORD, ingest_voucher, login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_employee_borrows_a_record_outside_their_scope_until_the_loan_ends(
        live_server, chromium_browser, fonds, archivist):
    from kjda_oasim.factories import user_with_roles

    record = ingest_voucher(archivist, title="差旅费报销（借阅）")
    user_with_roles("yuangong", ["employee"], password=PASSWORD)
    base = live_server.url

    def page_for():
        context = chromium_browser.new_context(viewport={"width": 390, "height": 844},
                                               locale="zh-CN")
        context.set_default_timeout(20_000)
        return context.new_page()

    emp = page_for()
    login(emp, base, "yuangong")
    emp.goto(f"{base}/records/{record.pk}/")
    expect(emp.locator("h1")).to_have_text("此档案不在您的查阅范围内")
    expect(emp.locator("body")).not_to_contain_text("差旅费报销（借阅）")
    emp.click("#request-loan")
    emp.fill("input[name=purpose]", "核对差旅费报销")
    emp.click("#loan-form button[type=submit]")
    expect(emp.locator("#loan-state")).to_have_text("待审批")
    loan_no = emp.locator("#loan-no").inner_text()
    assert loan_no.startswith("JY-")

    arc = page_for()
    login(arc, base)
    arc.click(f"text=审批借阅：{loan_no}")
    expect(arc.locator("#items")).to_contain_text("差旅费报销（借阅）")
    arc.fill("#next-steps input[name=comment]", "同意")
    arc.click("#step-approve")
    expect(arc.locator("#loan-state")).to_have_text("借阅中")

    emp.goto(f"{base}/records/{record.pk}/")
    expect(emp.locator("#loan-grant")).to_contain_text(loan_no)
    expect(emp.locator("body")).to_contain_text("差旅费报销（借阅）")

    with time_machine.travel(timezone.now() + timedelta(days=9), tick=True):
        login(emp, base, "yuangong")  # the session itself ran out over the nine days
        emp.goto(f"{base}/records/{record.pk}/")
        expect(emp.locator("h1")).to_have_text("此档案不在您的查阅范围内")
        emp.goto(f"{base}/loans/mine/")
        expect(emp.locator("#loans")).to_contain_text("已到期")

    arc.goto(f"{base}/loans/register/")
    expect(arc.locator("#loan-register")).to_contain_text(loan_no)
