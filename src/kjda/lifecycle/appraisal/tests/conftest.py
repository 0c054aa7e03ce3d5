from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest

from kjda_oasim.factories import voucher_pdf


def make_user(username: str, roles: list[str]):
    from django.contrib.auth import get_user_model

    from kjda.accounts.models import Profile

    user = get_user_model().objects.create_user(username, password="Appraisal-Pass-2024")
    Profile.objects.create(user=user, roles=roles)
    if "sysadmin" in roles:  # an administrator must have a second factor (三员)
        from kjda_oasim.factories import totp_activate

        totp_activate(user)
    return user


@pytest.fixture
def people(db, archivist):
    return {"archivist": archivist,
            "sysadmin": make_user("sysadmin", ["sysadmin"]),
            "accounting_head": make_user("kuaiji", ["accounting_head"]),
            "auditor": make_user("shenji", ["auditor"]),
            "inspector": make_user("jijian", ["inspector"]),
            "archives_head": make_user("danganzhang", ["archives_head"])}


def ingest(actor, *, fonds: str = "Z001", category: str = "记账凭证", year: int = 1990,
           no: str = "0001", retention: str | None = None, external_id: str | None = None):
    """A real record through the real ingest (a voucher PDF), filed under `category`."""
    from kjda.ingest.metadata import FileMetaIn, RecordMetadata
    from kjda.ingest.pipeline import IncomingFile
    from kjda.ingest.services import record_ingest

    day = date(year, 6, 15)
    pdf = voucher_pdf(number=no, summary=f"{category} {no}", amount=Decimal("100.00"), day=day)
    metadata = RecordMetadata(fonds=fonds, category=category, fiscal_year=year, period=6,
                              title=f"{year}年{category} 记-{no}", date=day, amount=Decimal("100.00"),
                              department="财务部", document_no=f"记-{no}",
                              source_system="test", external_id=external_id or f"{fonds}-{year}-{no}",
                              retention=retention)
    files = [IncomingFile(stream=io.BytesIO(pdf), filename=f"凭证-{no}.pdf",
                          meta=FileMetaIn(role="original", document_type="记账凭证"))]
    return record_ingest(metadata=metadata, files=files, actor=actor).record
