"""Backup status on the dashboard and in the Art.8 evidence, and the overdue alarm."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from allauth.socialaccount.models import SocialAccount
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from kjda.accounts.models import Profile
from kjda.audit.models import AuditEvent
from kjda.connectors.models import Notice
from kjda.connectors.services import connector_create
from kjda.lifecycle.appraisal.selectors import art8_evidence
from kjda.lifecycle.todos import todos_for
from kjda.preservation.backup.models import BackupRun
from kjda.preservation.backup.selectors import backup_status
from kjda.preservation.backup.services import backup_create, backup_overdue_check
from kjda_oasim.dingtalk import DingTalkSim

PASS = "status passphrase"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _own_store(settings, tmp_path: Path) -> None:
    settings.STORAGE_URL = (tmp_path / "store").as_uri()
    settings.KJDA_MFA_REQUIRED_ROLES = []  # the page, not the TOTP enrolment, is under test


@pytest.fixture
def sysadmin():
    user = get_user_model().objects.create_user("ops", password="Ops-Pass-2024-xyz")
    Profile.objects.create(user=user, roles=["sysadmin"])
    return user


def test_an_overdue_backup_raises_an_alarm_on_the_dashboard_and_in_the_oa(
        fonds, sysadmin, archivist):
    connector_create(kind="dingtalk", name="钉钉", settings=DingTalkSim().connector_settings())
    SocialAccount.objects.create(user=sysadmin, provider="dingtalk", uid="ops-1")
    assert backup_status().overdue  # never backed up
    assert [t.workflow for t in todos_for(sysadmin)].count("backup") == 1
    assert not [t for t in todos_for(archivist) if t.workflow == "backup"]

    assert backup_overdue_check() == 1
    assert backup_overdue_check() == 0  # one OA notice a day
    event = AuditEvent.objects.filter(action="backup.overdue").first()
    assert event is not None and event.detail["overdue"] is True
    notice = Notice.objects.get(reason="backup_overdue")
    assert "backup" in notice.title
    from kjda.preservation.monitoring.models import Alarm

    alarm = Alarm.objects.get(kind="backup_overdue", acknowledged_at__isnull=True)
    assert alarm.times_seen == 2  # the second day's check updated the open alarm

    client = Client()
    client.force_login(sysadmin)
    page = client.get("/").content.decode()
    assert 'id="backup-status"' in page and "kjda backup DEST" in page


def test_a_fresh_backup_is_the_art8_evidence_and_ages_into_an_alarm(
        fonds, sysadmin, tmp_path, settings):
    conds = {c.no: c for c in art8_evidence(actor=sysadmin, fonds=fonds)}
    assert conds[5].status == "missing"
    run = backup_create(dest=tmp_path / "bk", passphrase=PASS, actor=sysadmin)
    assert not backup_status().overdue and backup_overdue_check() == 0
    assert not [t for t in todos_for(sysadmin) if t.workflow == "backup"]
    conds = {c.no: c for c in art8_evidence(actor=sysadmin, fonds=fonds)}
    assert conds[5].status == "ok"
    assert conds[5].figures["set"] == run.set_id and conds[5].figures["size_bytes"] > 0

    client = Client()
    client.force_login(sysadmin)
    page = client.get("/").content.decode()
    assert str(tmp_path / "bk") in page and "已逾期" not in page

    BackupRun.objects.filter(pk=run.pk).update(finished_at=timezone.now() - timedelta(hours=27))
    assert backup_status().overdue
    conds = {c.no: c for c in art8_evidence(actor=sysadmin, fonds=fonds)}
    assert conds[5].status == "partial"
    settings.KJDA_BACKUP_MAX_AGE_HOURS = 48
    assert not backup_status().overdue
