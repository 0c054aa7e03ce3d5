"""Files as readers get them (issue 18 items 4–6): KJDA_WATERMARK loans|always|off, a loan's
rights (view, download, print), the PDF/A rendition for an OFD, `file.preview` vs
`file.download`, the 利用 business events, and `kjda watermark inspect` on what was given."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from kjda.accounts.grants import Grant, grant_provider_register, grant_provider_unregister
from kjda.accounts.models import Profile
from kjda.archives.models import BusinessEvent, Record, RecordFile
from kjda.audit.models import AuditEvent
from kjda.cli import main
from kjda.formats.pdfa_check import pdfa_check
from kjda.formats.watermark import watermark_read
from kjda.lifecycle.file_use import watermark_key
from kjda.storage.services import blob_read_verified
from kjda_oasim.factories import metadata_json
from kjda_oasim.testing import SAMPLES

pytestmark = pytest.mark.django_db
LOANS: dict[tuple[int, int], Grant] = {}  # (user id, record id) → the grant the test lends


def _test_loans(actor) -> dict[int, Grant]:
    return {rid: g for (uid, rid), g in LOANS.items() if uid == actor.pk}


@pytest.fixture(autouse=True)
def _provider():
    grant_provider_register(_test_loans)
    yield
    grant_provider_unregister(_test_loans)
    LOANS.clear()


def lend(user, record_id: int, *rights: str, loan_no: str = "JY-2026-0042") -> Grant:
    grant = Grant(record_id=record_id, loan_id=42, loan_no=loan_no, rights=frozenset(rights),
                  until=timezone.now() + timedelta(days=7), purpose="审计抽查")
    LOANS[(user.pk, record_id)] = grant
    return grant


@pytest.fixture
def reader(db):
    user = get_user_model().objects.create_user("lisi", password="Reader-Pass-2024")
    Profile.objects.create(user=user, roles=["auditor"], person_name="李四", department="审计部")
    return user


@pytest.fixture
def as_reader(reader) -> Client:
    client = Client()
    client.force_login(reader)
    return client


@pytest.fixture
def as_archivist(archivist) -> Client:
    client = Client()
    client.force_login(archivist)
    return client


@pytest.fixture
def voucher(api, voucher_files, voucher_metadata) -> RecordFile:
    resp = api.post_record(voucher_metadata, voucher_files)
    assert resp.status_code == 201, resp.content
    return RecordFile.objects.filter(record_id=resp.json()["id"], role="original",
                                     format_name__in=["pdf", "pdfa"]).order_by("sequence")[0]


def _body(resp) -> bytes:
    return b"".join(resp.streaming_content) if resp.streaming else resp.content


def _stored(rf: RecordFile) -> bytes:
    return b"".join(blob_read_verified(sha256=rf.sha256, sm3=rf.sm3, size=rf.size))


def test_under_loans_a_reader_without_a_loan_gets_the_exact_bytes(as_archivist, voucher):
    resp = as_archivist.get(f"/files/{voucher.pk}/content")
    assert resp.status_code == 200 and "X-KJDA-Watermark" not in resp
    assert hashlib.sha256(_body(resp)).hexdigest() == voucher.sha256
    assert AuditEvent.objects.filter(action="file.download", object_id=str(voucher.pk)).exists()
    assert not AuditEvent.objects.filter(action="file.watermark").exists()


def test_a_borrower_previews_a_watermarked_copy_and_the_original_stays_untouched(
        as_reader, reader, voucher):
    lend(reader, voucher.record_id)
    resp = as_reader.get(f"/files/{voucher.pk}/content", {"inline": "1"})
    assert resp.status_code == 200, resp.content
    assert resp["Content-Type"] == "application/pdf"
    assert resp["Content-Disposition"].startswith("inline")
    body = _body(resp)
    found = watermark_read(body, key=watermark_key())
    assert found is not None and found.verified
    assert (found.mark.person, found.mark.department, found.mark.loan_no) == (
        "李四", "审计部", "JY-2026-0042")
    assert found.mark.mark_id == resp["X-KJDA-Watermark"]
    assert hashlib.sha256(_stored(voucher)).hexdigest() == voucher.sha256  # never modified
    preview = AuditEvent.objects.get(action="file.preview", object_id=str(voucher.pk))
    assert preview.detail["loan"] == "JY-2026-0042"
    assert preview.detail["watermark"] == found.mark.mark_id
    assert not AuditEvent.objects.filter(action="file.download").exists()
    mark = AuditEvent.objects.get(action="file.watermark", object_id=found.mark.mark_id)
    assert mark.actor_id == reader.pk and mark.detail["record"] == voucher.record_id
    use = BusinessEvent.objects.filter(record_id=voucher.record_id, action="利用").get()
    assert use.agent_name == "lisi"
    assert "预览" in use.description and "JY-2026-0042" in use.description


def test_a_view_only_loan_refuses_download_and_print_in_chinese_and_english(
        as_reader, reader, voucher):
    lend(reader, voucher.record_id)
    download = as_reader.get(f"/files/{voucher.pk}/content")
    assert download.status_code == 403
    text = download.content.decode()
    assert "只允许在线查阅" in text and "viewing online only" in text
    printed = as_reader.get(f"/files/{voucher.pk}/content", {"print": "1"})
    assert printed.status_code == 403 and "打印" in printed.content.decode()
    denied = AuditEvent.objects.filter(outcome="denied", object_id=str(voucher.pk))
    assert {(e.action, e.detail["reason"]) for e in denied} == {
        ("file.download", "loan_no_download"), ("file.print", "loan_no_print")}
    assert not BusinessEvent.objects.filter(action="利用").exists()


def test_download_and_print_rights_give_watermarked_copies_and_inspect_traces_them(
        as_reader, reader, voucher, tmp_path, capsys):
    lend(reader, voucher.record_id, "download", "print")
    html = as_reader.get(f"/records/{voucher.record_id}/").content.decode()
    assert f'href="/files/{voucher.pk}/content?print=1"' in html and 'class="download"' in html
    download = as_reader.get(f"/files/{voucher.pk}/content")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment")
    copy = tmp_path / "copy.pdf"
    copy.write_bytes(_body(download))
    printed = as_reader.get(f"/files/{voucher.pk}/content", {"print": "1"})
    assert printed.status_code == 200 and printed["Content-Disposition"].startswith("inline")
    assert AuditEvent.objects.filter(action="file.print", object_id=str(voucher.pk)).exists()
    words = sorted(BusinessEvent.objects.filter(action="利用").values_list("description",
                                                                           flat=True))
    assert [w[:2] for w in words] == ["下载", "打印", "查看"]

    assert main(["watermark", "inspect", str(copy)]) == 0
    out = capsys.readouterr().out
    assert "JY-2026-0042" in out and "李四" in out and "verified" in out
    assert download["X-KJDA-Watermark"] in out and "user lisi" in out
    clean = tmp_path / "clean.pdf"
    clean.write_bytes(_stored(voucher))
    assert main(["watermark", "inspect", str(clean)]) == 1
    assert "no watermark" in capsys.readouterr().err


def test_inspect_traces_a_mark_id_read_off_a_print_out(as_reader, reader, voucher, tmp_path,
                                                        capsys):
    lend(reader, voucher.record_id)
    mark_id = as_reader.get(f"/files/{voucher.pk}/content", {"inline": "1"})["X-KJDA-Watermark"]
    scan = tmp_path / "scan.pdf"  # the paper copy scanned: no embedded data left
    scan.write_bytes(_stored(voucher))
    assert main(["watermark", "inspect", str(scan), "--mark-id", mark_id]) == 0
    out = capsys.readouterr().out
    assert "user lisi" in out and "JY-2026-0042" in out


def test_policy_always_marks_everyone_and_off_marks_no_one(settings, as_archivist, as_reader,
                                                             reader, voucher):
    settings.KJDA_WATERMARK = "always"
    resp = as_archivist.get(f"/files/{voucher.pk}/content")
    found = watermark_read(_body(resp), key=watermark_key())
    assert found is not None and found.verified and found.mark.loan_no == ""
    assert found.mark.person == "archivist"

    settings.KJDA_WATERMARK = "off"
    lend(reader, voucher.record_id)
    preview = as_reader.get(f"/files/{voucher.pk}/content", {"inline": "1"})
    assert hashlib.sha256(_body(preview)).hexdigest() == voucher.sha256
    assert as_reader.get(f"/files/{voucher.pk}/content").status_code == 403  # rights still hold


def test_the_api_download_follows_the_same_policy(reader, voucher):
    from kjda.accounts.services import token_issue

    lend(reader, voucher.record_id)
    client = Client()
    headers = {"Authorization": f"Bearer {token_issue(user=reader, name='t')[1]}"}
    refused = client.get(f"/api/v1/files/{voucher.pk}/content", headers=headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "loan_no_download"
    assert "下载" in refused.json()["message_zh"]
    preview = client.get(f"/api/v1/files/{voucher.pk}/content", {"inline": "true"},
                         headers=headers)
    assert preview.status_code == 200
    found = watermark_read(_body(preview), key=watermark_key())
    assert found is not None and found.mark.loan_no == "JY-2026-0042"
    assert AuditEvent.objects.filter(action="file.preview", actor=reader).exists()


def test_opening_the_record_page_logs_a_view_and_its_preview_a_preview(as_reader, reader,
                                                                      voucher):
    lend(reader, voucher.record_id)
    page = as_reader.get(f"/records/{voucher.record_id}/")
    assert page.status_code == 200
    view = BusinessEvent.objects.get(action="利用")
    assert view.description.startswith("查看") and "JY-2026-0042" in view.description
    src = f"/files/{voucher.pk}/content?inline=1"
    html = page.content.decode()
    assert src in html and "JY-2026-0042" in html  # the loan note above the preview
    assert 'class="download"' not in html and "?print=1" not in html  # a view-only loan
    assert as_reader.get(src).status_code == 200
    assert AuditEvent.objects.filter(action="file.preview").count() == 1
    assert not AuditEvent.objects.filter(action="file.download").exists()


needs_samples = pytest.mark.skipif(not SAMPLES.exists(), reason=f"no sample corpus at {SAMPLES}")


@needs_samples
def test_an_ofd_is_previewed_and_lent_through_its_pdfa_rendition(api, as_reader, reader):
    data = (SAMPLES / "ofd_invoices" / "ofdrw_converter_1.ofd").read_bytes()
    resp = api.post_record(metadata_json(files=[{"document_type": "原始凭证"}]),
                           [("invoice.ofd", data)])
    assert resp.status_code == 201, resp.content
    record = Record.objects.get(pk=resp.json()["id"])
    ofd = record.files.get(role="original")
    rendition = record.files.get(role="rendition")
    page = as_reader.get(f"/records/{record.pk}/").content.decode()
    assert f'<iframe class="pdf-frame" src="/files/{rendition.pk}/content?inline=1"' in page
    assert f'src="/files/{rendition.pk}/pages/1.png"' in page
    assert f"/files/{ofd.pk}/content?inline=1" not in page

    lend(reader, record.pk)
    got = as_reader.get(f"/files/{ofd.pk}/content", {"inline": "1"})
    assert got.status_code == 200 and got["Content-Type"] == "application/pdf"
    assert got["Content-Disposition"].startswith("inline")
    found = watermark_read(_body(got), key=watermark_key())
    assert found is not None and found.verified
    assert pdfa_check(_body(got)).compliant  # the marked rendition is still PDF/A-2b
    event = AuditEvent.objects.get(action="file.watermark")
    assert (event.detail["file"], event.detail["given"]) == (ofd.pk, rendition.pk)
    assert hashlib.sha256(_stored(ofd)).hexdigest() == hashlib.sha256(data).hexdigest()


@needs_samples
def test_an_original_without_a_rendition_is_refused_rather_than_given_unmarked(api, as_reader,
                                                                              reader):
    xml = next((SAMPLES / "invoice_xml").glob("ofdrw_converter_1__*.xml")).read_bytes()
    resp = api.post_record(metadata_json(files=[{"document_type": "原始凭证"}]),
                           [("invoice.xml", xml)])
    assert resp.status_code == 201, resp.content
    rf = RecordFile.objects.get(record_id=resp.json()["id"], role="original")
    assert not RecordFile.objects.filter(derived_from=rf).exists()
    lend(reader, rf.record_id, "download")
    refused = as_reader.get(f"/files/{rf.pk}/content")
    assert refused.status_code == 403
    assert "无法加水印" in refused.content.decode() and "cannot be watermarked" in (
        refused.content.decode())


def test_page_images_are_watermarked_previews_and_the_page_list_counts_the_pages(
        as_reader, reader, voucher):
    lend(reader, voucher.record_id)
    png = as_reader.get(f"/files/{voucher.pk}/pages/1.png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    found = watermark_read(png.content, key=watermark_key())
    assert found is not None and found.verified and found.source == "png-itxt"
    assert found.mark.loan_no == "JY-2026-0042"
    mark = AuditEvent.objects.get(action="file.watermark")
    assert mark.detail["page"] == 1 and mark.detail["use"] == "preview"
    assert AuditEvent.objects.filter(action="file.preview").count() == 1
    assert as_reader.get(f"/files/{voucher.pk}/pages/99.png").status_code == 404
    listing = as_reader.get(f"/files/{voucher.pk}/pages/").content.decode()
    assert f"/files/{voucher.pk}/pages/1.png" in listing
    assert f"/files/{voucher.pk}/pages/2.png" not in listing  # the voucher has one page


def test_an_unmarked_reader_gets_plain_page_images(as_archivist, voucher):
    png = as_archivist.get(f"/files/{voucher.pk}/pages/1.png")
    assert png.status_code == 200 and "X-KJDA-Watermark" not in png
    assert watermark_read(png.content, key=watermark_key()) is None
