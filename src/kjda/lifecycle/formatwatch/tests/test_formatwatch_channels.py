"""The format registry on every channel: /formats/, /api/v1/formats, `kjda formats …`; the
same roles on each (archivist, system administrator), and the record page's migration mark."""

from __future__ import annotations

import pytest
from django.test import Client

from kjda.accounts.services import token_issue
from kjda.archives.models import RecordFile
from kjda.audit.models import AuditEvent
from kjda.cli import main
from kjda.lifecycle.formatwatch.models import FormatEntry
from kjda.lifecycle.formatwatch.selectors import format_entry_get

pytestmark = pytest.mark.django_db


def _browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _api(user, *scopes: str) -> Client:
    raw = token_issue(user=user, name="t", scopes=list(scopes or ("read", "admin")))[1]
    return Client(headers={"Authorization": f"Bearer {raw}"})


def test_a_non_archivist_is_refused_on_the_web_page_and_the_api(accountant):
    entry = format_entry_get(format_id="fmt/43")
    assert _browser(accountant).get("/formats/").status_code == 403
    assert _browser(accountant).post(f"/formats/{entry.pk}/risk/",
                                     {"at_risk": "1", "reason": "x"}).status_code == 403
    api = _api(accountant)
    assert api.get("/api/v1/formats").status_code == 403
    resp = api.post(f"/api/v1/formats/{entry.pk}/risk", {"at_risk": True, "reason": "x"},
                    content_type="application/json")
    assert resp.status_code == 403 and resp.json()["message_zh"]
    assert not FormatEntry.objects.filter(at_risk=True).exists()
    assert AuditEvent.objects.filter(action="access.denied").count() == 4


def test_the_api_lists_the_registry_and_flags_a_format(archivist):
    body = _api(archivist).get("/api/v1/formats").json()
    ofd = next(f for f in body["formats"] if f["format_id"] == "kjda/ofd")
    assert ofd["category"] == "preferred" and ofd["files"] == 0 and not ofd["at_risk"]
    jpeg = next(f for f in body["formats"] if f["format_id"] == "fmt/43")
    assert jpeg["converter"] and jpeg["target_format"] == "fmt/477"

    read_only = _api(archivist, "read")
    assert read_only.post(f"/api/v1/formats/{jpeg['id']}/risk", {"reason": "x"},
                          content_type="application/json").status_code == 403
    api = _api(archivist)
    missing = api.post(f"/api/v1/formats/{jpeg['id']}/risk", {"at_risk": True},
                       content_type="application/json")
    assert missing.status_code == 400 and missing.json()["code"] == "reason_missing"
    flagged = api.post(f"/api/v1/formats/{jpeg['id']}/risk",
                       {"at_risk": True, "reason": "扫描件统一转 PDF/A"},
                       content_type="application/json").json()
    assert flagged["at_risk"] and flagged["flagged_by"] == "archivist"
    assert AuditEvent.objects.get(action="format.risk").object_id == "fmt/43"
    cleared = api.post(f"/api/v1/formats/{jpeg['id']}/risk", {"at_risk": False},
                       content_type="application/json").json()
    assert not cleared["at_risk"]


def test_the_web_page_shows_counts_and_flags_with_a_reason(ofd_record, archivist):
    ofd_record()
    browser = _browser(archivist)
    page = browser.get("/formats/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "kjda/ofd" in html and "fmt/477" in html and "PDF/A-2b" in html
    entry = format_entry_get(format_id="kjda/ofd")
    refused = browser.post(f"/formats/{entry.pk}/risk/", {"at_risk": "1", "reason": ""})
    assert refused.status_code == 400 and "标记风险须说明原因" in refused.content.decode()
    done = browser.post(f"/formats/{entry.pk}/risk/", {"at_risk": "1", "reason": "测试原因"})
    assert done.status_code == 302
    entry.refresh_from_db()
    assert entry.at_risk and entry.risk_reason == "测试原因" and entry.flagged_by == archivist
    browser.post("/i18n/setlang/", {"language": "en", "next": "/formats/"})
    english = browser.get("/formats/").content.decode()
    assert "Format watch" in english and "Clear the flag" in english and "Preferred" in english
    assert "取消风险标记" not in english


def test_the_cli_flags_migrates_and_lists(ofd_record, capsys):
    record = ofd_record()
    assert main(["formats", "flag", "kjda/ofd"]) == 2  # a reason is required
    assert main(["formats", "flag", "kjda/ofd", "--reason", "测试"]) == 0
    assert AuditEvent.objects.get(action="format.risk").actor_name == "命令行 / cli"
    capsys.readouterr()
    assert main(["formats", "migrate", "kjda/ofd"]) == 0
    out = capsys.readouterr().out
    assert "1 to migrate, 1 migrated, 0 failed" in out
    assert main(["formats", "list"]) == 0
    out = capsys.readouterr().out
    assert "kjda/ofd" in out and "RISK" in out and "fmt/477" in out
    assert main(["formats", "flag", "kjda/ofd", "--unflag"]) == 0
    assert main(["formats", "migrate", "kjda/ofd"]) == 2  # unflagged: nothing runs
    assert main(["formats", "migrate", "fmt/nope"]) == 2
    assert RecordFile.objects.filter(record=record).count() == 2


def test_the_record_page_marks_the_migration_rendition_under_its_original(ofd_record, archivist):
    from kjda.lifecycle.formatwatch.services import format_migrate, format_risk_flag

    record = ofd_record()
    format_risk_flag(entry=format_entry_get(format_id="kjda/ofd"), at_risk=True, reason="测试",
                     by=archivist)
    format_migrate(format_id="kjda/ofd")
    html = _browser(archivist).get(f"/records/{record.pk}/").content.decode()
    assert "invoice.pdfa.pdf" in html and 'class="tag migration"' in html
    assert "迁移" in html  # the business event
