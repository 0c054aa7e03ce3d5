"""Destruction against S3 (moto's server on loopback): every object version goes, and Object
Lock retention ends with the record's term, so destruction never fights the lock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from kjda.archives.models import RecordFile, RecordStatus
from kjda.audit.models import AuditEvent
from kjda.lifecycle.destruction import services
from kjda.lifecycle.destruction.models import DestructionState
from kjda.storage.models import Blob
from kjda.storage.services import get_backend

pytestmark = [pytest.mark.s3, pytest.mark.django_db(transaction=True)]


def _key(sha: str) -> str:
    return f"blobs/{sha[:2]}/{sha[2:4]}/{sha}"


def _destroy(people: dict[str, Any], record_ids: list[int]) -> Any:
    batch = services.destruction_create(actor=people["archivist"], record_ids=record_ids)
    batch = services.destruction_submit(actor=people["archivist"], batch=batch)
    for who in ("head", "archives_head", "accounting_head", "archivist", "accountant"):
        batch = services.destruction_sign(actor=people[who], batch=batch, capacity=who,
                                          opinion="同意销毁")
    for who, capacity in (("archivist", "archives"), ("accountant", "accounting"), ("it", "it")):
        services.destruction_witness(actor=people[who], batch=batch, capacity=capacity)
    services.destruction_execute(actor=people["archivist"], batch=batch)
    return services.destruction_run(batch_id=batch.pk)


def test_execution_removes_every_version_of_the_object_from_s3(settings, ingest, people,
                                                               s3_client, s3_lock_bucket, s3_url):
    settings.STORAGE_URL = s3_url(s3_lock_bucket)  # Object Lock buckets are versioned
    record = ingest()
    [sha] = record.files.values_list("sha256", flat=True)
    body = s3_client.get_object(Bucket=s3_lock_bucket, Key=_key(sha))["Body"].read()
    s3_client.put_object(Bucket=s3_lock_bucket, Key=_key(sha), Body=body)  # a second version
    versions = s3_client.list_object_versions(Bucket=s3_lock_bucket, Prefix=_key(sha))
    assert len(versions["Versions"]) == 2
    batch = _destroy(people, [record.pk])
    assert batch.state == DestructionState.DESTROYED
    left = s3_client.list_object_versions(Bucket=s3_lock_bucket, Prefix=_key(sha))
    assert not left.get("Versions") and not left.get("DeleteMarkers")
    assert not get_backend().exists(sha)
    record.refresh_from_db()
    assert record.status == RecordStatus.DESTROYED
    assert Blob.objects.get(pk=sha).destroyed_at is not None
    event = AuditEvent.objects.get(action="blob.destroyed", object_id=sha)
    assert "S3BlobBackend" in event.detail["store"]
    register_sha = RecordFile.objects.filter(record_id=batch.register_record_id).values_list(
        "sha256", flat=True)[0]
    assert get_backend().exists(register_sha)  # the 销毁清册 itself is kept in the store


def test_object_lock_retention_ends_with_the_records_term(settings, ingest, people, s3_client,
                                                          s3_lock_bucket, s3_url):
    settings.STORAGE_URL = s3_url(s3_lock_bucket)
    year = timezone.localdate().year
    current = ingest(fiscal_year=year)  # 记账凭证: 30 years from the year after
    [sha] = current.files.values_list("sha256", flat=True)
    head = s3_client.head_object(Bucket=s3_lock_bucket, Key=_key(sha))
    assert head["ObjectLockRetainUntilDate"] == datetime(year + 31, 1, 1, tzinfo=UTC)
    assert head["ObjectLockMode"] == "GOVERNANCE"
    # Never shortened: asking for an earlier end leaves the lock as it is.
    assert get_backend().retention_extend(
        sha, until=datetime.now(UTC) + timedelta(days=2)) is False
    # An expired record gets no lock at all, so its destruction is not refused by the store.
    old = ingest()
    [old_sha] = old.files.values_list("sha256", flat=True)
    assert "ObjectLockRetainUntilDate" not in s3_client.head_object(Bucket=s3_lock_bucket,
                                                                    Key=_key(old_sha))
    assert _destroy(people, [old.pk]).state == DestructionState.DESTROYED
