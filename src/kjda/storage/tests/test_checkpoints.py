"""Write-once named objects beside the blobs (the audit log's checkpoints): stored once, never
replaced, kept under checkpoints/ (outside the blobs' key space), on a local folder and on S3."""

from __future__ import annotations

import io
import stat
from datetime import UTC, datetime

import pytest

from kjda.storage.services import (
    StorageError,
    blob_store,
    checkpoint_get,
    checkpoint_put,
    checkpoints_list,
)


@pytest.mark.django_db
def test_local_checkpoints_are_write_once_read_only_and_apart_from_blobs(blob_root):
    blob_store(source=io.BytesIO(b"a blob"))
    assert checkpoints_list() == []

    assert checkpoint_put(name="audit-000000000000002.json", data=b"first") is True
    assert checkpoint_put(name="audit-000000000000002.json", data=b"forged") is False
    assert checkpoint_put(name="audit-000000000000010.json", data=b"second") is True
    assert checkpoint_put(name="other.json", data=b"x") is True

    assert checkpoint_get(name="audit-000000000000002.json") == b"first"
    assert checkpoints_list(prefix="audit-") == ["audit-000000000000002.json",
                                                 "audit-000000000000010.json"]
    path = blob_root / "checkpoints" / "audit-000000000000002.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert not list((blob_root / ".tmp").glob("checkpoint-*"))
    with pytest.raises(StorageError) as missing:
        checkpoint_get(name="audit-000000000000003.json")
    assert missing.value.code == "blob_missing"


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", "", "x" * 300, "a b"])
def test_checkpoint_names_are_plain_file_names(blob_root, name):
    with pytest.raises(ValueError):
        checkpoint_put(name=name, data=b"x")


@pytest.mark.s3
@pytest.mark.django_db
def test_s3_checkpoints_are_write_once_under_their_own_prefix(settings, s3_client, s3_bucket,
                                                               s3_url):
    settings.STORAGE_URL = s3_url(s3_bucket)
    blob = blob_store(source=io.BytesIO(b"a blob"))

    assert checkpoint_put(name="audit-000000000000002.json", data=b"first") is True
    assert checkpoint_put(name="audit-000000000000002.json", data=b"forged") is False

    assert checkpoint_get(name="audit-000000000000002.json") == b"first"
    assert checkpoints_list(prefix="audit-") == ["audit-000000000000002.json"]
    keys = sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"])
    assert keys == sorted(["blobs/checkpoints/audit-000000000000002.json",
                           f"blobs/{blob.sha256[:2]}/{blob.sha256[2:4]}/{blob.sha256}"])


@pytest.mark.s3
@pytest.mark.django_db
def test_s3_checkpoints_are_locked_where_the_bucket_has_object_lock(settings, s3_client,
                                                                     s3_lock_bucket, s3_url):
    settings.STORAGE_URL = s3_url(s3_lock_bucket, lock_days="30", lock_mode="COMPLIANCE")

    assert checkpoint_put(name="audit-000000000000007.json", data=b"locked") is True

    head = s3_client.head_object(Bucket=s3_lock_bucket,
                                 Key="blobs/checkpoints/audit-000000000000007.json")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert (head["ObjectLockRetainUntilDate"] - datetime.now(UTC)).days >= 29
