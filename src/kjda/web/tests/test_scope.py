"""Every read goes through the archives selectors with the acting user: a record outside the
user's scope does not exist for the web UI either."""

from __future__ import annotations

import pytest

from kjda.accounts.selectors import ScopePart
from kjda.archives.models import RecordFile

pytestmark = pytest.mark.django_db


@pytest.fixture
def out_of_scope(monkeypatch):
    # The scope a future role could give: another fonds only.
    monkeypatch.setattr("kjda.archives.selectors.record_scope_parts",
                        lambda *, actor: [ScopePart(fonds=("X999",))])


def test_record_and_files_outside_the_scope_are_404(web, record, out_of_scope):
    f = RecordFile.objects.filter(record=record).first()
    web.get("/retention/")  # shows (and so clears) the upload's "filed under …" message
    page = web.get(f"/records/{record.pk}/")  # issue 18: the "request access" page
    assert page.status_code == 403 and record.title not in page.content.decode()
    assert record.archive_no not in page.content.decode()
    assert web.get(f"/records/{record.pk + 100000}/").status_code == 404
    assert web.get(f"/files/{f.pk}/content").status_code == 404


def test_lists_and_counts_leave_out_what_is_outside_the_scope(web, record, out_of_scope):
    web.get("/retention/")  # shows (and so clears) the upload's "filed under …" message
    assert record.archive_no not in web.get("/records/").content.decode()
    assert record.archive_no not in web.get("/records/", {"q": "差旅"}).content.decode()
    dashboard = web.get("/").content.decode()
    assert record.archive_no not in dashboard and "<svg" not in dashboard
