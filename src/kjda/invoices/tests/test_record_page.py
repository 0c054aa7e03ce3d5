"""The record page shows the invoice beside the preview, and a duplicate claim's first record."""

from __future__ import annotations

import pytest
from django.test import Client

from kjda.testing.factories import metadata_json

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
