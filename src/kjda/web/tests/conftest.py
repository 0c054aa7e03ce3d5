"""Fixtures for the web UI tests: a logged-in browser-like client and an uploaded voucher."""

from __future__ import annotations

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client


def upload_data(voucher_files: list[tuple[str, bytes]], **overrides) -> dict:
    """The upload form's fields for the voucher of the shared fixtures (记账凭证 + its invoice)."""
    (voucher_name, voucher), (invoice_name, invoice) = voucher_files
    data = {
        "category": "记账凭证", "fiscal_year": "2024", "period": "3", "title": "报销差旅费",
        "date": "2024-03-15", "amount": "1280.50", "department": "财务部", "applicant": "张三",
        "document_no": "记-0015", "upload_token": str(uuid.uuid4()),
        "files_voucher": [SimpleUploadedFile(voucher_name, voucher)],
        "files_source": [SimpleUploadedFile(invoice_name, invoice)],
    }
    data.update(overrides)
    return data


@pytest.fixture
def web(fonds, archivist) -> Client:
    client = Client()
    client.force_login(archivist)
    return client


@pytest.fixture
def uploaded(web, voucher_files):
    """Upload through the form; returns the redirect response (to the record page)."""
    response = web.post("/records/new/", upload_data(voucher_files))
    assert response.status_code == 302, response.content.decode()[:2000]
    return response


@pytest.fixture
def record(uploaded):
    from kjda.archives.models import Record

    return Record.objects.get()
