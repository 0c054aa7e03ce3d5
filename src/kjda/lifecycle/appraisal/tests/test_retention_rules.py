from __future__ import annotations

from datetime import date

import pytest

from kjda.archives.models import RecordStatus, RetentionRule, retention_label, retention_rank
from kjda.archives.numbering import archive_no_is_valid
from kjda.audit.models import AuditEvent
from kjda.errors import DomainError
from kjda.lifecycle.appraisal.models import RetentionChange
from kjda.lifecycle.appraisal.services import (
    fonds_retention_schedule_set,
    retention_local_rule_add,
    retention_local_rule_change,
)

from .conftest import ingest

pytestmark = pytest.mark.django_db


def test_both_tables_are_seeded_with_the_catch_all_row():
    assert RetentionRule.objects.filter(schedule="1", extends=None).count() == 17
    assert RetentionRule.objects.filter(schedule="2", extends=None).count() == 27
    for schedule in "12":
        assert RetentionRule.objects.get(schedule=schedule,
                                         name="其他具有保存价值的会计资料").retention == "D10"
    assert RetentionRule.objects.filter(schedule="2", retention="D2").count() == 2
    assert retention_label("D2") == "2年" and retention_rank("D2") < retention_rank("D10")


def test_a_fonds_on_schedule_2_files_a_two_year_report_with_its_expiry_and_class_code(
        fonds, people):
    fonds_retention_schedule_set(actor=people["sysadmin"], fonds=fonds, schedule="2",
                                 reason="事业单位")
    record = ingest(people["archivist"], category="下级单位报送的会计月、季度报表", year=2024)
    assert record.status == RecordStatus.FILED, record.check_report
    assert record.rule.schedule == "2" and record.retention == "D2"
    assert record.retention_expires_on == date(2026, 12, 31)
    assert "·2024·D2-" in record.archive_no and archive_no_is_valid(record.archive_no)
    # an alias of 附表2 row 3: vouchers of a 行政事业单位
    voucher = ingest(people["archivist"], category="原始凭证", year=2024, no="0002")
    assert voucher.rule.name == "行政单位和事业单位的各种会计凭证"
    change = RetentionChange.objects.get(fonds=fonds)
    assert change.before == {"retention_schedule": "1"} and change.after["retention_schedule"] == "2"
    assert AuditEvent.objects.filter(action="retention.schedule_set", object_id="Z001").exists()


def test_a_local_rule_must_be_longer_than_the_row_it_extends(people):
    base = RetentionRule.objects.get(schedule="1", name="原始凭证")
    for short in ("D30", "D10", "D2"):
        with pytest.raises(DomainError) as err:
            retention_local_rule_add(actor=people["sysadmin"], extends=base, name="合同类原始凭证",
                                     retention=short)
        assert err.value.code == "retention_too_short"
    with pytest.raises(DomainError) as err:  # not the sysadmin
        retention_local_rule_add(actor=people["archivist"], extends=base, name="合同类原始凭证",
                                 retention="D50")
    assert err.value.status == 403
    assert not RetentionRule.objects.filter(name="合同类原始凭证").exists()


def test_a_local_rule_is_versioned_audited_and_records_keep_the_version_they_were_filed_under(
        fonds, people):
    base = RetentionRule.objects.get(schedule="1", name="原始凭证")
    rule = retention_local_rule_add(actor=people["sysadmin"], extends=base, name="合同类原始凭证",
                                    retention="D50", reason="合同纠纷时效")
    record = ingest(people["archivist"], category="合同类原始凭证", year=2024)
    assert (record.rule_id, record.rule_version, record.retention) == (rule.pk, 1, "D50")
    assert record.retention_expires_on == date(2074, 12, 31)
    with pytest.raises(DomainError):
        retention_local_rule_change(actor=people["sysadmin"], rule=rule, retention="D20")
    rule = retention_local_rule_change(actor=people["sysadmin"], rule=rule, retention="Y",
                                       reason="永久")
    assert rule.version == 2
    versions = list(RetentionChange.objects.filter(rule=rule).order_by("version"))
    assert [v.version for v in versions] == [1, 2]
    assert versions[1].before["retention"] == "D50" and versions[1].after["retention"] == "Y"
    assert versions[1].changed_by == people["sysadmin"]
    record.refresh_from_db()
    assert (record.retention, record.rule_version) == ("D50", 1)
    assert AuditEvent.objects.filter(action="retention.rule_change",
                                     object_id=str(rule.pk)).exists()
    assert AuditEvent.objects.filter(action="retention.rule_add", object_id=str(rule.pk)).exists()


def test_a_statutory_row_cannot_be_changed(people):
    base = RetentionRule.objects.get(schedule="1", name="原始凭证")
    with pytest.raises(DomainError) as err:
        retention_local_rule_change(actor=people["sysadmin"], rule=base, retention="D50")
    assert err.value.status == 403
