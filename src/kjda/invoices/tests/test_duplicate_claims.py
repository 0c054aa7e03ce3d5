"""The same invoice claimed twice, in different bytes and formats, is caught (财会〔2020〕6号)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from kjda.archives.models import Record, Relation
from kjda.invoices.models import Invoice
from kjda_oasim.factories import metadata_json

pytestmark = pytest.mark.django_db

# MANIFEST: the same invoice in different bytes.
PAIRS = [("ofdrw_converter_发票示例.ofd", "ofdrw_sign_v4signed.ofd", "99999951"),
         ("ofdrw_converter_999.ofd", "ofdrw_layout_fptpl.ofd", "12235358")]


def _file(api, samples, name: str, external_id: str, folder: str = "ofd_invoices"):
    content = (samples / folder / name).read_bytes()
    meta = metadata_json(category="原始凭证", document_no="", source_system="test",
                         external_id=external_id, title=f"报销 {external_id}")
    resp = api.post_record(meta, [(name, content)])
    assert resp.status_code == 201, resp.content
    return resp.json()


@pytest.mark.parametrize(("first", "second", "number"), PAIRS)
def test_same_invoice_in_different_bytes_is_a_duplicate_claim(api, samples, first, second,
                                                              number):
    a = (samples / "ofd_invoices" / first).read_bytes()
    b = (samples / "ofd_invoices" / second).read_bytes()
    assert a != b  # not the bytes: the invoice
    one = _file(api, samples, first, "A-1")
    assert one["status"] == "filed" and one["invoice"]["invoice_number"] == number
    two = _file(api, samples, second, "A-2")
    assert two["status"] == "pending"
    assert "GD-1-8" in two["check_report"]["blocking_failures"]
    item = next(i for i in two["check_report"]["items"] if i["code"] == "GD-1-8")
    assert "重复报销" in item["reason"] and one["archive_no"] in item["reason"]
    inv = Invoice.objects.get(record_id=two["id"])
    assert inv.duplicate_of_id == one["id"]
    rel = Relation.objects.get(record_id=two["id"], relation_type="重复报销")
    assert rel.target_id == one["id"]
    detail = api.get(f"/api/v1/records/{two['id']}").json()
    assert detail["invoice"]["duplicate_of"] == one["id"]
    assert any(r["target_id"] == one["id"] for r in detail["relations"])


def test_xml_after_ofd_of_the_same_invoice_is_a_duplicate_but_not_within_one_record(api, samples):
    ofd = (samples / "ofd_invoices" / "ofdrw_converter_1.ofd").read_bytes()
    xml = (samples / "invoice_xml" / "ofdrw_converter_1__original_invoice.xml").read_bytes()
    both = api.post_record(metadata_json(category="原始凭证", document_no="", external_id="B-1",
                                         source_system="test"),
                           [("fp.ofd", ofd), ("fp.xml", xml)]).json()
    assert both["status"] == "filed"  # one claim holding its OFD and its XML
    assert len(both["invoices"]) == 2
    assert {i["identity"] for i in both["invoices"]} == {"033002000211-83089647"}
    again = _file(api, samples, "ofdrw_converter_1__original_invoice.xml", "B-2", "invoice_xml")
    assert again["status"] == "pending"
    assert Invoice.objects.get(record_id=again["id"]).duplicate_of_id == both["id"]


def test_a_revoked_claim_does_not_block_a_new_one(api, samples):
    from kjda.archives.services import record_revoke

    one = _file(api, samples, "ofdrw_sign_signedFile.ofd", "C-1")
    record_revoke(record=Record.objects.get(pk=one["id"]), reason="审批撤回")
    two = _file(api, samples, "ofdrw_sign_signedFile.ofd", "C-2")
    assert two["status"] == "filed"


def test_check_endpoint_reports_the_first_claim_and_stores_nothing(api, samples, archivist):
    one = _file(api, samples, "ofdrw_converter_发票示例.ofd", "D-1")
    records = Record.objects.count()
    content = (samples / "ofd_invoices" / "ofdrw_sign_v4signed.ofd").read_bytes()
    resp = api.client.post("/api/v1/invoices/check",
                           {"file": SimpleUploadedFile("x.ofd", content)}, headers=api.headers)
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["invoice"]["invoice_number"] == "99999951"
    assert body["invoice"]["sources"]["invoice_number"] == "xml:original_invoice.xml"
    assert body["duplicate"] is True
    assert body["duplicate_of"] == {"visible": True, "record_id": one["id"],
                                    "archive_no": one["archive_no"], "title": one["title"],
                                    "status": "filed"}
    assert Record.objects.count() == records
    fresh = (samples / "ofd_invoices" / "ofdrw_reader_发票示例_数电.ofd").read_bytes()
    body = api.client.post("/api/v1/invoices/check", {"file": SimpleUploadedFile("y.ofd", fresh)},
                           headers=api.headers).json()
    assert body["duplicate"] is False and body["duplicate_of"] is None
    assert len(body["invoice"]["invoice_number"]) == 20
    missing = api.client.post("/api/v1/invoices/check", {}, headers=api.headers)
    assert missing.status_code == 400 and missing.json()["code"] == "file_missing"


def test_check_endpoint_hides_a_claim_outside_the_callers_scope(api, samples, fonds):
    from django.contrib.auth import get_user_model
    from django.test import Client

    from kjda.accounts.models import Profile
    from kjda.accounts.services import token_issue

    _file(api, samples, "ofdrw_converter_发票示例.ofd", "E-1")
    other = get_user_model().objects.create_user("clerk", password="Clerk-Pass-2024")
    Profile.objects.create(user=other, roles=["accountant"], departments=["采购部"])
    raw = token_issue(user=other, name="oa")[1]
    content = (samples / "ofd_invoices" / "ofdrw_sign_v4signed.ofd").read_bytes()
    body = Client().post("/api/v1/invoices/check", {"file": SimpleUploadedFile("x.ofd", content)},
                         headers={"Authorization": f"Bearer {raw}"}).json()
    assert body["duplicate"] is True and body["duplicate_of"] == {"visible": False}


def test_records_are_found_by_invoice_fields(api, samples):
    a = _file(api, samples, "ofdrw_converter_发票示例.ofd", "F-1")
    b = _file(api, samples, "ofdrw_reader_发票示例_数电.ofd", "F-2")
    _file(api, samples, "ofdrw_converter_1.ofd", "F-3")
    inv_a, inv_b = (Invoice.objects.get(record_id=r["id"]) for r in (a, b))

    def ids(**params) -> set[int]:
        resp = api.get("/api/v1/records", **params)
        assert resp.status_code == 200, resp.content
        return {r["id"] for r in resp.json()["items"]}

    assert ids(invoice_number="99999951") == {a["id"]}
    assert ids(seller=inv_b.seller_name[2:6]) == {b["id"]}
    assert ids(buyer=inv_a.buyer_name) == {a["id"]}
    assert ids(tax_id=inv_b.buyer_tax_id) == {b["id"]}
    assert ids(amount_min="4000", amount_max="5000") == {b["id"]}
    assert ids(issue_date_from="2024-01-01") == {b["id"]}
    assert ids(issue_date_to="2020-10-31", amount_max="400") == {a["id"]}
    # Extracted invoice text is in the search index too.
    assert ids(q=inv_b.seller_name[:4]) == {b["id"]}
    assert ids(q="99999951") == {a["id"]}


def test_a_claim_filed_meanwhile_is_caught_inside_the_filing_transaction(api, samples,
                                                                           monkeypatch):
    """The checks ran before a concurrent claim of the same invoice was filed: the filing
    transaction sees it and refuses (409) instead of filing the invoice twice."""
    from kjda.ingest import services as ingest_services

    real = ingest_services.invoice_first_claims
    calls = {"n": 0}

    def stale_then_real(*, identities):
        calls["n"] += 1
        if calls["n"] == 1:  # the checks' lookup, before the other claim was filed
            _file(api, samples, "ofdrw_converter_发票示例.ofd", "G-1")
            return {}
        return real(identities=identities)

    # Only the checks' lookup (in ingest) is stale; the filing transaction's (in invoices) isn't.
    monkeypatch.setattr(ingest_services, "invoice_first_claims", stale_then_real)
    content = (samples / "ofd_invoices" / "ofdrw_sign_v4signed.ofd").read_bytes()
    resp = api.post_record(metadata_json(category="原始凭证", document_no="", source_system="test",
                                         external_id="G-2"), [("b.ofd", content)])
    assert resp.status_code == 409 and resp.json()["code"] == "invoice_claim_race"
    assert not Record.objects.filter(external_id="G-2").exists()
    monkeypatch.setattr(ingest_services, "invoice_first_claims", real)
    again = api.post_record(metadata_json(category="原始凭证", document_no="", source_system="test",
                                          external_id="G-2"), [("b.ofd", content)]).json()
    assert again["status"] == "pending"  # the retry is caught as the duplicate it is
