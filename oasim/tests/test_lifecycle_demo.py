"""`kjda demo --years 35`: a year of records through custody and disposition on a simulated
clock, through the production services."""

from __future__ import annotations

import pytest
from django.utils import timezone

from kjda.archives.models import Record, RecordStatus
from kjda.audit.models import AuditEvent
from kjda.storage.models import Blob


@pytest.mark.django_db(transaction=True)
def test_a_year_of_demo_records_goes_through_custody_appraisal_hold_and_destruction(
        fonds, settings, tmp_path):
    from kjda.archives.retention_table import seed_retention_table
    from kjda_oasim.lifecycle_demo import lifecycle_demo

    seed_retention_table()  # emptied by the flush of an earlier transactional test
    settings.STORAGE_URL = (tmp_path / "blobs").as_uri()
    lines: list[str] = []
    out = lifecycle_demo(years=35, records=30, log=lines.append)

    year = timezone.localdate().year - 35
    assert out["year"] == year and out["filed"] >= 30 and out["volumes"] >= 12
    records = Record.objects.filter(fiscal_year=year)
    # the pending claim was put right: invoice added, checks run again, filed with its 档号
    fixed = Record.objects.get(external_id=f"demo-{year}-pending")
    assert fixed.archive_no == out["fixed"] and fixed.check_report.get("recheck")
    # everything handed over to the archives, on the day of the transfer
    assert not records.exclude(custody="archives").exists()
    assert {r.custody_since.year for r in records} == {year + 2}
    destroyed = records.filter(status=RecordStatus.DESTROYED)
    assert destroyed.count() == out["destroyed"] > 0
    # the held voucher and the one kept with a new term stay, as does every permanent record
    kept = records.filter(status=RecordStatus.FILED)
    assert kept.filter(retention="Y").exists()
    assert kept.exclude(retention="Y").count() == 2
    # the bytes of the destroyed records are gone, their tombstones and digests remain
    shas = set(destroyed.values_list("files__sha256", flat=True))
    assert shas and not Blob.objects.filter(sha256__in=shas, destroyed_at__isnull=True).exists()
    # the three registers are records of their own, filed on the simulated dates
    assert sorted(out["registers"]) == sorted(["会计档案移交清册", "会计档案鉴定意见书", "会计档案销毁清册"])
    for name, filed_year in (("会计档案移交清册", year + 2), ("会计档案鉴定意见书", year + 31),
                             ("会计档案销毁清册", year + 31)):
        register = Record.objects.get(rule__name=name)
        assert register.status == RecordStatus.FILED and register.filed_at.year == filed_year
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"volume.assemble", "volume.close", "transfer.sign", "appraisal.decide",
            "hold.place", "destruction.sign", "destruction.witness",
            "record.destroy"} <= actions, actions
    assert any("销毁" in line for line in lines)
    # a second run leaves the year alone
    assert lifecycle_demo(years=35, records=30, log=lines.append) == {"year": year,
                                                                      "already": True}
