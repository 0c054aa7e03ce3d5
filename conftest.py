"""Fixtures shared by the apps' tests: a fonds, an archivist with a bearer token, and a client
that posts real multipart requests to the API."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from kjda_oasim.factories import invoice_pdf, metadata_json, voucher_pdf
from kjda_oasim.testing.clients import ApiClient


@pytest.fixture
def fonds(db):
    from kjda.archives.services import fonds_ensure

    return fonds_ensure(code="Z001", name="测试单位会计档案")


@pytest.fixture
def archivist(db):
    from django.contrib.auth import get_user_model

    from kjda.accounts.models import Profile

    user = get_user_model().objects.create_user("archivist", password="Archive-Pass-2024")
    Profile.objects.create(user=user, roles=["archivist"])
    return user


@pytest.fixture
def token(archivist) -> str:
    from kjda.accounts.services import token_issue

    return token_issue(user=archivist, name="tests")[1]


@pytest.fixture
def api(fonds, token) -> ApiClient:
    return ApiClient(token)


@pytest.fixture
def voucher_files() -> list[tuple[str, bytes]]:
    day = date(2024, 3, 15)
    return [
        ("记账凭证-0015.pdf", voucher_pdf(number="0015", summary="报销差旅费",
                                        amount=Decimal("1280.50"), day=day)),
        ("发票-24310000000012345678.pdf", invoice_pdf(number="24310000000012345678",
                                                   seller="某某酒店有限公司",
                                                   amount=Decimal("1280.50"), day=day)),
    ]


@pytest.fixture
def voucher_metadata() -> str:
    return metadata_json(files=[{"document_type": "记账凭证"}, {"document_type": "原始凭证"}])


@pytest.fixture(autouse=True)
def _reference_cache_per_test():
    """A test's rolled-back fonds or rules must not be served to the next test from the cache."""
    from kjda.archives.reference import reference_cache_clear

    reference_cache_clear()
    yield
    reference_cache_clear()
