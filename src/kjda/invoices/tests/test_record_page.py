"""The record page shows the invoice beside the preview, and a duplicate claim's first record."""

from __future__ import annotations

import pytest
from django.test import Client

from kjda_oasim.factories import metadata_json

pytestmark = pytest.mark.django_db


def test_record_page_shows_invoice_fields_sources_and_the_first_claim(api, samples, archivist):
    def post(name: str, ext: str) -> dict:
        content = (samples / "ofd_invoices" / name).read_bytes()
        meta = metadata_json(category="原始凭证", document_no="", source_system="t",
                             external_id=ext)
        return api.post_record(meta, [(name, content)]).json()

    first = post("ofdrw_converter_999.ofd", "P-1")
    second = post("ofdrw_layout_fptpl.ofd", "P-2")
    web = Client()
    web.force_login(archivist)
    page = web.get(f"/records/{first['id']}/").content.decode()
    assert 'id="invoice"' in page and "发票信息" in page
    assert "12235358" in page and "xml:original_invoice.xml" in page
    assert "10600.00" in page and "重复报销" not in page
    dup = web.get(f"/records/{second['id']}/").content.decode()
    assert "重复报销" in dup and f'href="/records/{first["id"]}/"' in dup
    assert "ofd:custom_data" in dup


def test_record_list_page_filters_by_invoice_fields(api, samples, archivist):
    def post(name: str, ext: str) -> dict:
        content = (samples / "ofd_invoices" / name).read_bytes()
        meta = metadata_json(category="原始凭证", document_no="", source_system="t",
                             external_id=ext, title=f"报销-{ext}")
        return api.post_record(meta, [(name, content)]).json()

    post("ofdrw_converter_1.ofd", "L-1")
    post("ofdrw_reader_发票示例_数电.ofd", "L-2")
    web = Client()
    web.force_login(archivist)
    page = web.get("/records/", {"invoice_number": "83089647"}).content.decode()
    assert "报销-L-1" in page and "报销-L-2" not in page
    assert 'name="invoice_number" value="83089647"' in page
    page = web.get("/records/", {"amount_min": "1000", "issue_date_from": "2024-01-01"}).content
    assert "报销-L-2" in page.decode() and "报销-L-1" not in page.decode()
    everything = web.get("/records/").content.decode()
    assert "报销-L-1" in everything and "报销-L-2" in everything
