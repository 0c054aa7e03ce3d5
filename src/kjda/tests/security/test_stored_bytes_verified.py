"""Issue 15 item 5: stored bytes are never served or reused unverified.

A blob changed on disk is not served (the download stops with an error, is logged at ERROR and
audited as file.fixity_failed), and filing the genuine file again repairs the stored copy
(audited as file.fixity_repaired) so that every record holding it serves the good bytes.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from kjda.archives.models import RecordFile
from kjda.audit.models import AuditEvent
from kjda.storage.errors import StorageError
from kjda.storage.services import get_backend
from kjda_oasim.factories import metadata_json

pytestmark = pytest.mark.django_db



@pytest.fixture(autouse=True)
def _own_blob_store(settings, tmp_path):
    """Damaged blobs must not outlive the test: other tests file the same sample files."""
    settings.STORAGE_URL = (tmp_path / "blobs").as_uri()


BIG = os.urandom(3 * 1024 * 1024 + 123)  # more than one chunk: damage found mid-stream


def _file(api, voucher_files, extra: list[tuple[str, bytes]] = (), **meta) -> list[RecordFile]:
    files = [*voucher_files, *extra]
    docs = [{"document_type": "记账凭证"}, {"document_type": "原始凭证"}]
    docs += [{"document_type": "附件"}] * len(extra)
    data = {"metadata": metadata_json(files=docs, external_id=str(uuid.uuid4()), **meta),
            "files": [SimpleUploadedFile(n, c) for n, c in files]}
    response = api.client.post("/api/v1/records", data, headers=api.headers)
    assert response.status_code in (200, 201), response.content[:500]
    record_id = response.json()["id"]
    return list(RecordFile.objects.filter(record_id=record_id).order_by("sequence"))


def _tamper(sha256: str, *, at: int = 100, same_size: bool = True) -> Path:
    path = get_backend().path_for(sha256)
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    if same_size:
        data[at] ^= 0xFF
    else:
        data += b"%appended"
    path.write_bytes(bytes(data))
    os.chmod(path, 0o444)
    return path


def _web(archivist) -> Client:
    client = Client()
    client.force_login(archivist)
    return client


@pytest.mark.parametrize("same_size", [True, False])
def test_a_damaged_small_blob_is_refused_on_both_channels_and_audited(
        api, archivist, voucher_files, caplog, same_size):
    rf = _file(api, voucher_files)[0]
    _tamper(rf.sha256, same_size=same_size)
    with caplog.at_level(logging.ERROR):
        response = api.get(f"/api/v1/files/{rf.pk}/content")
    assert response.status_code == 500
    assert response.json()["code"] == "fixity_failed"
    assert any(r.levelno >= logging.ERROR and rf.sha256 in r.getMessage()
               for r in caplog.records)
    web = _web(archivist).get(f"/files/{rf.pk}/content", {"inline": "1"})
    assert web.status_code == 500
    assert not hasattr(web, "streaming_content")
    assert web["Content-Security-Policy"] == "sandbox; default-src 'none'"
    events = AuditEvent.objects.filter(action="file.fixity_failed", object_id=str(rf.pk))
    assert events.count() == 2
    detail = events.first().detail
    assert (detail["record"], detail["file"], detail["sha256"]) == (rf.record_id, rf.pk,
                                                                   rf.sha256)
    assert events.first().outcome == "failure"


def test_a_damaged_big_blob_is_cut_off_before_its_end(api, archivist, voucher_files):
    rf = _file(api, voucher_files, [("big.bin", BIG)])[2]
    _tamper(rf.sha256, at=len(BIG) - 10)  # in the last chunk: everything before is sent
    for response in (api.get(f"/api/v1/files/{rf.pk}/content"),
                     _web(archivist).get(f"/files/{rf.pk}/content")):
        assert response.status_code == 200  # the headers went out before the damage showed
        received = b""
        with pytest.raises(StorageError) as caught:
            for chunk in response.streaming_content:
                received += chunk
        assert caught.value.code == "fixity_failed"
        assert len(received) < rf.size  # never a complete-looking body
        assert received == BIG[:len(received)]
    assert AuditEvent.objects.filter(action="file.fixity_failed",
                                     object_id=str(rf.pk)).count() == 2


def test_filing_the_genuine_file_again_repairs_the_blob(api, archivist, voucher_files, caplog):
    first = _file(api, voucher_files)[0]
    genuine = voucher_files[0][1]
    path = _tamper(first.sha256)
    assert path.read_bytes() != genuine
    with caplog.at_level(logging.ERROR):
        second = _file(api, voucher_files, document_no="记-0016")[0]
    assert second.sha256 == first.sha256
    assert path.read_bytes() == genuine  # repaired in place, still read-only
    assert path.stat().st_mode & 0o777 == 0o444
    web = _web(archivist)
    for rf in (first, second):
        response = api.get(f"/api/v1/files/{rf.pk}/content")
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == genuine
        response = web.get(f"/files/{rf.pk}/content")
        assert b"".join(response.streaming_content) == genuine
    repair = AuditEvent.objects.get(action="file.fixity_repaired")
    assert repair.object_id == first.sha256
    assert repair.detail["sha256"] == first.sha256
    assert repair.actor_name == "archivist"
    assert any(r.levelno >= logging.ERROR and "damaged" in r.getMessage()
               for r in caplog.records)


def test_an_intact_blob_is_reused_without_a_repair(api, voucher_files):
    first = _file(api, voucher_files)[0]
    second = _file(api, voucher_files, document_no="记-0017")[0]
    assert second.sha256 == first.sha256
    assert not AuditEvent.objects.filter(action="file.fixity_repaired").exists()
