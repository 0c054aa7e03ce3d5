from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from kjda.errors import DomainError
from kjda.storage.backends import LocalBlobBackend
from kjda.storage.models import Blob
from kjda.storage.services import (
    StorageError,
    blob_exists,
    blob_open,
    blob_store,
    blob_verify,
    get_backend,
)


def blob_path(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256  # a new store's layout


def put(backend: LocalBlobBackend, data: bytes) -> str:
    return backend.put(io.BytesIO(data), max_bytes=1_000_000).digests.sha256


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*")
            if p.is_file() and ".tmp" not in p.parts and p.name != ".layout"]


@pytest.mark.django_db
def test_identical_content_is_stored_once(blob_root: Path) -> None:
    data = os.urandom(100_000)
    first = blob_store(source=io.BytesIO(data))
    second = blob_store(source=io.BytesIO(data))
    assert first.created and not second.created
    assert (first.sha256, first.sm3, first.size) == (second.sha256, second.sm3, second.size)
    assert stored_files(blob_root) == [blob_path(blob_root, first.sha256)]
    assert Blob.objects.count() == 1


@pytest.mark.django_db
def test_stored_blob_is_content_addressed_and_reads_back(blob_root: Path) -> None:
    data = os.urandom(2_500_000)
    stored = blob_store(source=io.BytesIO(data))
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    row = Blob.objects.get(pk=stored.sha256)
    assert (row.sm3, row.size) == (stored.sm3, len(data))
    with blob_open(sha256=stored.sha256) as fh:
        assert fh.read() == data
    assert not list((blob_root / ".tmp").iterdir())


@pytest.mark.django_db
def test_stored_file_is_read_only_and_reverifies(blob_root: Path) -> None:
    stored = blob_store(source=io.BytesIO(b"invoice 2024-001"))
    path = blob_path(blob_root, stored.sha256)
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    if os.geteuid() != 0:  # root ignores permission bits
        with pytest.raises(PermissionError):
            open(path, "r+b")  # noqa: SIM115
    assert blob_verify(sha256=stored.sha256) is True


@pytest.mark.django_db
def test_corrupted_blob_fails_verify(blob_root: Path) -> None:
    stored = blob_store(source=io.BytesIO(os.urandom(4096)))
    path = blob_path(blob_root, stored.sha256)
    path.chmod(0o644)
    with open(path, "r+b") as fh:
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0x01]))
    assert blob_verify(sha256=stored.sha256) is False


@pytest.mark.django_db
def test_oversized_stream_is_refused_and_leaves_no_temp_file(blob_root: Path) -> None:
    with pytest.raises(StorageError) as err:
        blob_store(source=io.BytesIO(os.urandom(3 * 1024 * 1024)), max_bytes=2 * 1024 * 1024)
    assert err.value.code == "file_too_large"
    assert err.value.status == 413
    assert not list((blob_root / ".tmp").iterdir())
    assert stored_files(blob_root) == []
    assert not Blob.objects.exists()


@pytest.mark.django_db
def test_max_bytes_cannot_raise_the_configured_limit(blob_root: Path, settings) -> None:
    settings.KJDA_MAX_FILE_BYTES = 1000
    with pytest.raises(StorageError) as err:
        blob_store(source=io.BytesIO(b"x" * 1001), max_bytes=10_000)
    assert err.value.code == "file_too_large"


@pytest.mark.django_db
def test_upload_with_declared_oversize_is_refused_before_reading(blob_root: Path) -> None:
    upload = SimpleUploadedFile("big.pdf", b"%PDF" * 1000, content_type="application/pdf")
    with pytest.raises(StorageError) as err:
        blob_store(source=upload, max_bytes=100)
    assert err.value.code == "file_too_large"
    assert upload.tell() == 0


@pytest.mark.django_db
def test_django_upload_is_stored(blob_root: Path) -> None:
    upload = SimpleUploadedFile("a.xml", b"<invoice/>", content_type="text/xml")
    stored = blob_store(source=upload)
    assert stored.sha256 == hashlib.sha256(b"<invoice/>").hexdigest()


@pytest.mark.django_db
def test_empty_stream_is_refused(blob_root: Path) -> None:
    with pytest.raises(StorageError) as err:
        blob_store(source=io.BytesIO(b""))
    assert err.value.code == "file_empty"
    assert isinstance(err.value, DomainError)
    assert not list((blob_root / ".tmp").iterdir())


@pytest.mark.django_db
def test_store_works_inside_an_outer_transaction(blob_root: Path) -> None:
    with transaction.atomic():
        first = blob_store(source=io.BytesIO(b"same bytes"))
        second = blob_store(source=io.BytesIO(b"same bytes"))
    assert first.created and not second.created
    assert Blob.objects.count() == 1


@pytest.mark.django_db
def test_blob_left_by_a_rolled_back_transaction_is_adopted(blob_root: Path) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        blob_store(source=io.BytesIO(b"orphan"))
        raise RuntimeError("request failed")
    assert not Blob.objects.exists()
    again = blob_store(source=io.BytesIO(b"orphan"))
    assert again.created
    assert blob_exists(sha256=again.sha256)


@pytest.mark.django_db
def test_existence_and_missing_blobs(blob_root: Path) -> None:
    absent = hashlib.sha256(b"never stored").hexdigest()
    assert blob_exists(sha256=absent) is False
    for call in (blob_open, blob_verify):
        with pytest.raises(StorageError) as err:
            call(sha256=absent)
        assert err.value.code == "blob_missing"
        assert err.value.status == 404


@pytest.mark.django_db
def test_names_that_are_not_sha256_are_refused(blob_root: Path) -> None:
    with pytest.raises(StorageError) as err:
        blob_open(sha256="../../../etc/passwd")
    assert err.value.code == "invalid_sha256"


def test_backend_follows_storage_url_changes(settings, tmp_path: Path) -> None:
    settings.STORAGE_URL = (tmp_path / "one").as_uri()
    first = get_backend()
    assert get_backend() is first
    settings.STORAGE_URL = (tmp_path / "two").as_uri()
    second = get_backend()
    assert isinstance(second, LocalBlobBackend)
    assert second.root == tmp_path / "two"


@pytest.mark.parametrize("damage", [b"damaged", b"original c0ntent"])
def test_existing_damaged_blob_is_replaced_by_the_good_bytes(tmp_path: Path, damage) -> None:
    backend = LocalBlobBackend(tmp_path)
    data = b"original content"
    target = backend.path_for(hashlib.sha256(data).hexdigest())
    target.parent.mkdir(parents=True)
    target.write_bytes(damage)
    result = backend.put(io.BytesIO(data), max_bytes=1000)
    assert (result.created, result.repaired) == (False, True)
    assert target.read_bytes() == data
    assert stat.S_IMODE(target.stat().st_mode) == 0o444
    assert backend.put(io.BytesIO(data), max_bytes=1000).repaired is False


def test_new_store_fans_out_over_one_level_and_records_it(tmp_path: Path) -> None:
    backend = LocalBlobBackend(tmp_path)
    sha = put(backend, b"voucher 1")
    assert (tmp_path / sha[:2] / sha).is_file()
    assert (tmp_path / ".layout").read_text() == "fanout=1\n"
    assert LocalBlobBackend(tmp_path).open(sha).read() == b"voucher 1"


def test_store_from_before_the_marker_keeps_its_two_level_layout(tmp_path: Path) -> None:
    data = b"filed in 2024"
    sha = hashlib.sha256(data).hexdigest()
    old = tmp_path / sha[:2] / sha[2:4] / sha  # as stores were written before the marker
    old.parent.mkdir(parents=True)
    old.write_bytes(data)
    backend = LocalBlobBackend(tmp_path)
    assert (tmp_path / ".layout").read_text() == "fanout=2\n"
    assert backend.exists(sha) and backend.open(sha).read() == data
    assert not backend.put(io.BytesIO(data), max_bytes=1000).created  # found, not stored twice
    new = put(backend, b"filed in 2025")
    assert (tmp_path / new[:2] / new[2:4] / new).is_file()
    assert not (tmp_path / new[:2] / new).exists()
    # the marker, not what the folder holds, decides from now on
    assert LocalBlobBackend(tmp_path).fanout == 2


def test_unknown_layout_marker_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".layout").write_text("fanout=9\n")
    with pytest.raises(ValueError, match="unknown blob store layout"):
        LocalBlobBackend(tmp_path)


def test_restore_files_stores_matching_files_and_refuses_others_without_a_trace(
        tmp_path: Path) -> None:
    from kjda.storage.digests import Digests, digest_stream

    backend = LocalBlobBackend(tmp_path / "store")
    src = tmp_path / "backup"
    src.mkdir()
    files = []
    for i in range(20):
        data = os.urandom(3000 + i)
        (src / f"{i}").write_bytes(data)
        files.append((src / f"{i}", digest_stream(io.BytesIO(data))))
    good_path, good = files[3]
    # same size and SHA-256 name as claimed, other bytes: the one-pass check must refuse it
    bad = bytearray(good_path.read_bytes())
    bad[100] ^= 0x01
    (src / "bad").write_bytes(bytes(bad))
    wrong_sm3 = Digests(files[4][1].sha256, "0" * 64, files[4][1].size)
    missing = backend.restore_files([*files, (src / "bad", files[5][1]),
                                     (files[4][0], wrong_sm3)])
    assert missing == [files[5][1].sha256, files[4][1].sha256]
    for path, digests in files:
        target = backend.path_for(digests.sha256)
        assert target.read_bytes() == path.read_bytes()
        assert stat.S_IMODE(target.stat().st_mode) == 0o444
    assert len(stored_files(tmp_path / "store")) == 20
    assert not list(backend.tmp_dir.iterdir())  # no temp file left by the refused ones
    # Again over a store that has them (one damaged): intact ones kept, the damaged repaired.
    victim = backend.path_for(files[0][1].sha256)
    victim.chmod(0o644)
    victim.write_bytes(b"x" * files[0][1].size)
    assert backend.restore_files(files) == []
    assert victim.read_bytes() == files[0][0].read_bytes()
