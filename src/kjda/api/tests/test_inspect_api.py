"""POST /api/v1/files/inspect on real files: the veraPDF corpus, e-invoice XML, images."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from kjda_oasim.factories import png_bytes
from kjda_oasim.testing import SAMPLES

needs_samples = pytest.mark.skipif(not SAMPLES.exists(), reason=f"no sample corpus at {SAMPLES}")
_CORPUS = sorted((SAMPLES / "pdfa").glob("*.pdf")) if SAMPLES.exists() else []
URL = "/api/v1/files/inspect"


def _user(django_user_model, name: str, roles: list[str]):
    from kjda.accounts.models import Profile
    from kjda_oasim.factories import totp_activate

    user = django_user_model.objects.create_user(name, password="Inspect-Pass-2024")
    Profile.objects.create(user=user, roles=roles)
    if {"sysadmin", "secadmin", "auditadmin"} & set(roles):  # they must have a second factor
        totp_activate(user)
    return user


def _token(user, scopes: list[str] | None = None) -> dict:
    from kjda.accounts.services import token_issue

    kwargs = {"scopes": scopes} if scopes is not None else {}
    return {"Authorization": f"Bearer {token_issue(user=user, name='t', **kwargs)[1]}"}


def _post(headers: dict, name: str, data: bytes, content_type: str = "application/octet-stream"):
    upload = SimpleUploadedFile(name, data, content_type=content_type)
    return Client().post(URL, {"file": upload}, headers=headers)


@pytest.fixture
def reader(db, django_user_model):
    return _token(_user(django_user_model, "auditor1", ["auditor"]), ["read"])


@needs_samples
@pytest.mark.parametrize("path", _CORPUS, ids=lambda p: p.name)
def test_inspect_reports_the_verapdf_verdict(reader, path):
    resp = _post(reader, "upload.bin", path.read_bytes())
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["mime"] == "application/pdf" and body["signatures"] == [] and body["invoice"] is None
    clause = re.search(r"_(\d+(?:-\d+)*)-t\d+", path.name).group(1).replace("-", ".")
    pdfa = body["pdfa"]
    if "-pass-" in path.name:
        assert pdfa["compliant"] and body["format"] == "pdfa" and body["puid"].startswith("fmt/")
        assert pdfa["claimed"] == path.name[4:6].upper()
    else:
        assert not pdfa["compliant"]
        assert clause in [v["clause"] for v in pdfa["violations"]]
        assert all(" / " in v["message"] for v in pdfa["violations"])


@needs_samples
def test_inspect_an_einvoice_xml_and_an_image(reader):
    xml = next(p for p in (SAMPLES / "invoice_xml").glob("*original_invoice.xml"))
    body = _post(reader, "x.xml", xml.read_bytes(), "application/xml").json()
    assert (body["format"], body["profile"], body["puid"]) == ("xml", "einvoice-2019", "fmt/101")
    assert body["pdfa"] is None
    body = _post(reader, "scan.png", png_bytes()).json()
    assert (body["format"], body["mime"], body["puid"]) == ("png", "image/png", "fmt/11")


def test_nothing_is_stored(reader):
    from kjda.archives.models import Record
    from kjda.storage.models import Blob

    assert _post(reader, "a.png", png_bytes()).status_code == 200
    assert Blob.objects.count() == 0 and Record.objects.count() == 0


def test_ingest_role_may_inspect_too(db, django_user_model):
    headers = _token(_user(django_user_model, "acct", ["accountant"]), ["ingest"])
    assert _post(headers, "a.png", png_bytes()).status_code == 200


def test_administrators_and_anonymous_callers_may_not(db, django_user_model):
    headers = _token(_user(django_user_model, "sys", ["sysadmin"]))
    resp = _post(headers, "a.png", png_bytes())
    assert resp.status_code == 403 and resp.json()["code"] == "forbidden"
    assert _post({}, "a.png", png_bytes()).status_code == 401


def test_a_token_without_read_or_ingest_scope_is_refused(db, django_user_model):
    headers = _token(_user(django_user_model, "arch", ["archivist"]), ["admin"])
    assert _post(headers, "a.png", png_bytes()).status_code == 403


def test_bad_input_gets_a_4xx_with_code_and_message(reader):
    resp = Client().post(URL, {}, headers=reader)
    assert resp.status_code == 422 and {"code", "message"} <= set(resp.json())
    resp = _post(reader, "empty.pdf", b"")
    assert resp.status_code == 400 and resp.json()["code"] == "file_empty"


@needs_samples
def test_inspect_an_ofd_and_a_truncated_pdf(reader):
    ofd = next((SAMPLES / "ofd_invoices").glob("*.ofd"))
    body = _post(reader, "invoice.ofd", ofd.read_bytes()).json()
    assert (body["format"], body["mime"], body["puid"], body["pdfa"]) == (
        "ofd", "application/ofd", None, None)  # PRONOM has no OFD entry
    data = _CORPUS[0].read_bytes()
    body = _post(reader, "cut.pdf", data[: len(data) // 2]).json()
    assert not body["readable"] and any("truncated" in p for p in body["problems"])


@needs_samples
def test_inspect_reports_an_ofd_invoices_seal_and_invoice_data(reader):
    import io
    import zipfile

    data = (SAMPLES / "ofd_invoices" / "ofdrw_sign_v4signed.ofd").read_bytes()
    body = _post(reader, "invoice.ofd", data).json()
    assert [s["status"] for s in body["signatures"]] == ["valid"]
    assert body["signatures"][0]["signer"]
    invoice = body["invoice"]
    assert invoice["invoice_number"] and len(invoice["invoice_number"]) in (8, 20)
    assert invoice["issue_date"] and invoice["total_incl_tax"]
    assert invoice["sources"]["invoice_number"]

    # one byte changed in a signed page after signing: the seal no longer verifies
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(buf, "w") as zout:
        for info in zin.infolist():
            part = zin.read(info)
            if info.filename.endswith("Page_0/Content.xml"):
                part = part.replace(b"<", b" <", 1)
            zout.writestr(info, part)
    body = _post(reader, "changed.ofd", buf.getvalue()).json()
    assert [s["status"] for s in body["signatures"]] == ["invalid"]
    assert "Content.xml" in body["signatures"][0]["reason"]
