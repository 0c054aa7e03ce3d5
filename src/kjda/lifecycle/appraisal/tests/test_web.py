from __future__ import annotations

from datetime import date

import pytest
from django.test import Client

from kjda.archives.models import Record, RetentionRule
from kjda.lifecycle.appraisal.models import AppraisalBatch, AppraisalState

from .conftest import ingest

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_the_batch_walks_through_the_pages_and_each_role_sees_its_next_step(fonds, people):
    r1 = ingest(people["archivist"], year=1990, no="0001")
    arch = _client(people["archivist"])
    html = arch.get("/appraisals/expired/?fonds=Z001&fiscal_year=1990").content.decode()
    assert r1.archive_no in html and 'name="record"' in html
    response = arch.post("/appraisals/expired/?fonds=Z001", {"fonds": "Z001", "record": [r1.pk]})
    assert response.status_code == 302
    batch = AppraisalBatch.objects.get()
    page = arch.get(f"/appraisals/{batch.pk}/").content.decode()
    assert "提交鉴定" in page and batch.number in page
    arch.post(f"/appraisals/{batch.pk}/submit/")
    item = batch.items.get()
    arch.post(f"/appraisals/{batch.pk}/outcomes/",
              {f"outcome_{item.pk}": "keep", f"new_retention_{item.pk}": "d3",
               f"reason_{item.pk}": "尚有未了事项"})
    auditor_page = _client(people["auditor"]).get(f"/appraisals/{batch.pk}/").content.decode()
    assert "签署鉴定意见" in auditor_page and "作出鉴定结论" not in auditor_page
    for who in ("archivist", "accounting_head", "auditor", "inspector"):
        _client(people[who]).post(f"/appraisals/{batch.pk}/opinion/", {"opinion": f"{who} 同意"})
    # an early decision would be refused with the message on the page; now all is there
    arch.post(f"/appraisals/{batch.pk}/decide/")
    batch.refresh_from_db()
    assert batch.state == AppraisalState.DECIDED
    assert Record.objects.get(pk=r1.pk).retention_expires_on == date(date.today().year + 3, 12, 31)
    page = arch.get(f"/appraisals/{batch.pk}/").content.decode()
    assert "鉴定意见书（已归档）" in page
    # the record page lists the batch it was in
    assert batch.number in arch.get(f"/records/{r1.pk}/").content.decode()
    english = _client(people["archivist"])
    english.post("/i18n/setlang/", {"language": "en", "next": "/appraisals/"})
    assert "Appraisal" in english.get("/appraisals/").content.decode()


def test_the_sysadmin_adds_a_local_rule_on_the_retention_page_and_shorter_is_refused(people):
    admin = _client(people["sysadmin"])
    base = RetentionRule.objects.get(schedule="1", name="银行对账单")
    admin.post("/retention/save/", {"extends": base.pk, "name": "外币银行对账单",
                                    "retention": "D5"})
    assert not RetentionRule.objects.filter(name="外币银行对账单").exists()
    admin.post("/retention/save/", {"extends": base.pk, "name": "外币银行对账单",
                                    "retention": "d15", "reason": "外汇检查"})
    rule = RetentionRule.objects.get(name="外币银行对账单")
    assert rule.retention == "D15" and rule.extends == base
    html = admin.get("/retention/").content.decode()
    assert "外币银行对账单" in html and "15年" in html and "外汇检查" in html
    # the archivist sees the rules but no form
    assert "新增本单位规定" not in _client(people["archivist"]).get("/retention/").content.decode()


def test_the_art8_page_and_the_asset_disposal_form(fonds, people):
    card = ingest(people["archivist"], category="固定资产卡片", year=2020, no="0009")
    arch = _client(people["archivist"])
    html = arch.get("/fonds/Z001/art8/").content.decode()
    assert 'id="art8-5"' in html and "尚无成功的备份" in html  # condition (5): no backup yet
    assert 'id="asset-disposed"' in arch.get(f"/records/{card.pk}/").content.decode()
    arch.post(f"/records/{card.pk}/asset-disposed/", {"disposed_on": "2021-05-01"})
    card.refresh_from_db()
    assert card.retention_expires_on == date(2026, 12, 31)
