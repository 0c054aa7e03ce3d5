"""GET /api/v1/storage/status: fixity reports, open damage and the replica's lag (issue 19)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from kjda.lifecycle.preservation.services import fixity_check
from kjda.storage.services import blob_store

URL = "/api/v1/storage/status"


def _token(django_user_model: Any, name: str, roles: list[str]) -> dict[str, str]:
    from kjda.accounts.models import Profile
    from kjda.accounts.services import token_issue
    from kjda_oasim.factories import totp_activate

    user = django_user_model.objects.create_user(name, password="Storage-Pass-2024")
    Profile.objects.create(user=user, roles=roles)
    if "sysadmin" in roles:
        totp_activate(user)
    return {"Authorization": f"Bearer {token_issue(user=user, name='t', scopes=['read'])[1]}"}


@pytest.mark.django_db
def test_status_shows_the_damage_and_the_lag_to_the_sysadmin_only(
        django_user_model: Any, settings: Any, tmp_path: Path) -> None:
    settings.STORAGE_URL = (tmp_path / "blobs").as_uri()
    sha = blob_store(source=io.BytesIO(b"damaged later " * 100)).sha256
    path = tmp_path / "blobs" / sha[:2] / sha
    os.chmod(path, 0o644)
    path.write_bytes(b"other")
    settings.KJDA_REPLICA_URL = (tmp_path / "replica").as_uri()
    blob_store(source=io.BytesIO(b"not yet copied " * 100))  # queued, no worker ran
    fixity_check(mode="all", bytes_per_second=0)
    admin = _token(django_user_model, "admin1", ["sysadmin"])
    body = Client().get(URL, headers=admin).json()
    assert body["runs"][0]["mismatches"] == 1 and body["runs"][0]["failed"] is True
    assert body["open_failures"] == [
        {"sha256": sha, "outcome": "mismatch", "verified_at": body["open_failures"][0][
            "verified_at"]}]
    assert body["replica"]["configured"] and body["replica"]["pending"] >= 1
    assert body["replica"]["oldest_queued_at"]
    accountant = _token(django_user_model, "acc1", ["accountant"])
    assert Client().get(URL, headers=accountant).status_code == 403
