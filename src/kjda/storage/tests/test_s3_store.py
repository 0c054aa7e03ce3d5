"""Against moto's S3 server in a separate process: every call is real HTTP on loopback."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from kjda.storage.backends.s3 import S3BlobBackend
from kjda.storage.services import StorageError, blob_open, blob_store, blob_verify, get_backend

pytestmark = [pytest.mark.s3, pytest.mark.django_db]
MB = 1024 * 1024


def key_of(sha256: str, prefix: str = "blobs") -> str:
    return f"{prefix}/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def composite_sha256(data: bytes, part_size: int) -> str:
    parts = [
        hashlib.sha256(data[i : i + part_size]).digest() for i in range(0, len(data), part_size)
    ]
    return base64.b64encode(hashlib.sha256(b"".join(parts)).digest()).decode()


def read_all(sha256: str) -> bytes:
    with blob_open(sha256=sha256) as body:
        return b"".join(iter(lambda: body.read(MB), b""))


def test_s3_store_dedups_reads_back_and_verifies(settings, s3_client, s3_bucket, s3_url) -> None:
    settings.STORAGE_URL = s3_url(s3_bucket)
    data = os.urandom(300_000)
    first = blob_store(source=io.BytesIO(data))
    second = blob_store(source=io.BytesIO(data))
    assert first.created and not second.created
    listed = s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]
    assert [o["Key"] for o in listed] == [key_of(first.sha256)]
    head = s3_client.head_object(Bucket=s3_bucket, Key=key_of(first.sha256), ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert read_all(first.sha256) == data
    assert blob_verify(sha256=first.sha256) is True
    assert not list((settings.DATA_DIR / "tmp").glob("s3put-*"))


def test_s3_multipart_upload_checks_the_composite_checksum(
    settings, s3_client, s3_bucket, s3_url
) -> None:
    settings.STORAGE_URL = s3_url(s3_bucket, part_mb="5")
    data = os.urandom(11 * MB)
    stored = blob_store(source=io.BytesIO(data))
    head = s3_client.head_object(
        Bucket=s3_bucket, Key=key_of(stored.sha256), ChecksumMode="ENABLED"
    )
    # AWS answers "<b64>-3"; moto leaves the part count off.
    assert head["ChecksumSHA256"].split("-")[0] == composite_sha256(data, 5 * MB)
    assert read_all(stored.sha256) == data
    assert blob_verify(sha256=stored.sha256)
    assert blob_store(source=io.BytesIO(data)).created is False


def test_s3_object_lock_is_applied_when_the_bucket_has_it(
    settings, s3_client, s3_lock_bucket, s3_url
) -> None:
    settings.STORAGE_URL = s3_url(s3_lock_bucket, lock_days="2")
    stored = blob_store(source=io.BytesIO(b"locked voucher"))
    key = key_of(stored.sha256)
    head = s3_client.head_object(Bucket=s3_lock_bucket, Key=key)
    assert head["ObjectLockMode"] == "GOVERNANCE"
    until = head["ObjectLockRetainUntilDate"]
    assert timedelta(days=1) < until - datetime.now(UTC) <= timedelta(days=2)
    with pytest.raises(ClientError) as err:
        s3_client.delete_object(Bucket=s3_lock_bucket, Key=key, VersionId=head["VersionId"])
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    assert blob_verify(sha256=stored.sha256)


def test_s3_lock_days_from_environment_and_compliance_mode(
    settings, s3_client, s3_lock_bucket, s3_url, monkeypatch
) -> None:
    monkeypatch.setenv("KJDA_S3_LOCK_DAYS", "1")
    settings.STORAGE_URL = s3_url(s3_lock_bucket, lock_mode="COMPLIANCE")
    stored = blob_store(source=io.BytesIO(b"compliance"))
    head = s3_client.head_object(Bucket=s3_lock_bucket, Key=key_of(stored.sha256))
    assert head["ObjectLockMode"] == "COMPLIANCE"


def test_s3_plain_bucket_gets_no_lock_even_when_days_are_set(
    settings, s3_client, s3_bucket, s3_url
) -> None:
    settings.STORAGE_URL = s3_url(s3_bucket, lock_days="2")
    stored = blob_store(source=io.BytesIO(b"no lock here"))
    head = s3_client.head_object(Bucket=s3_bucket, Key=key_of(stored.sha256))
    assert "ObjectLockMode" not in head
    backend = get_backend()
    assert isinstance(backend, S3BlobBackend) and backend.lock_enabled() is False


def test_s3_tampered_object_fails_verify_and_is_repaired_by_the_genuine_bytes(
    settings, s3_client, s3_bucket, s3_url
) -> None:
    from kjda.audit.models import AuditEvent

    settings.STORAGE_URL = s3_url(s3_bucket)
    data = os.urandom(50_000)
    stored = blob_store(source=io.BytesIO(data))
    s3_client.put_object(Bucket=s3_bucket, Key=key_of(stored.sha256), Body=b"tampered")
    assert blob_verify(sha256=stored.sha256) is False
    again = blob_store(source=io.BytesIO(data))
    assert (again.sha256, again.created) == (stored.sha256, False)
    assert blob_verify(sha256=stored.sha256) is True
    assert AuditEvent.objects.get(action="file.fixity_repaired").object_id == stored.sha256


def test_s3_compliance_locked_damage_is_repaired_by_a_new_version(
    settings, s3_client, s3_lock_bucket, s3_url
) -> None:
    """A locked version can't be overwritten, but a new current version can be written."""
    settings.STORAGE_URL = s3_url(s3_lock_bucket, lock_days="1", lock_mode="COMPLIANCE")
    data = os.urandom(40_000)
    stored = blob_store(source=io.BytesIO(data))
    key = key_of(stored.sha256)
    s3_client.put_object(Bucket=s3_lock_bucket, Key=key, Body=b"tampered")
    blob_store(source=io.BytesIO(data))
    assert blob_verify(sha256=stored.sha256) is True
    versions = s3_client.list_object_versions(Bucket=s3_lock_bucket, Prefix=key)["Versions"]
    assert len(versions) == 3  # ours, the damage, the repair: nothing was deleted


def test_s3_oversized_stream_uploads_nothing(settings, s3_client, s3_bucket, s3_url) -> None:
    settings.STORAGE_URL = s3_url(s3_bucket)
    with pytest.raises(StorageError) as err:
        blob_store(source=io.BytesIO(os.urandom(2 * MB)), max_bytes=MB)
    assert err.value.code == "file_too_large"
    assert s3_client.list_objects_v2(Bucket=s3_bucket)["KeyCount"] == 0
    assert not list((settings.DATA_DIR / "tmp").glob("s3put-*"))


def test_s3_missing_blob_is_reported(settings, s3_bucket, s3_url) -> None:
    settings.STORAGE_URL = s3_url(s3_bucket)
    absent = hashlib.sha256(b"absent").hexdigest()
    with pytest.raises(StorageError) as err:
        blob_open(sha256=absent)
    assert err.value.code == "blob_missing"
