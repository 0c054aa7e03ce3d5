"""Backup from an S3 blob store and restore into another bucket (a real moto S3 server on
loopback): blobs are read and written through the storage backend API only."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid

import pytest

from kjda.ingest.metadata import FileMetaIn, metadata_parse
from kjda.ingest.pipeline import IncomingFile
from kjda.ingest.services import record_ingest
from kjda.preservation.backup import archive
from kjda.preservation.backup.services import backup_create
from kjda.storage.models import Blob
from kjda_oasim.factories import metadata_json, pdf_bytes

PASS = "s3 passphrase"
pytestmark = [pytest.mark.s3, pytest.mark.django_db(transaction=True)]


@pytest.mark.skipif(os.environ.get("DATABASE_URL", "").startswith("postgres"),
                    reason="the SQLite drill (test_backup_postgres.py runs the PostgreSQL one)")
def test_an_s3_store_is_backed_up_and_restored_into_an_empty_bucket(
        fonds, archivist, tmp_path, settings, s3_client, s3_bucket, s3_url):
    settings.STORAGE_URL = s3_url(s3_bucket)
    for i in range(2):
        parsed = metadata_parse(metadata_json(category="原始凭证", document_no=f"S3-{i}",
                                              title=f"报销 {i}"))
        doc = IncomingFile(io.BytesIO(pdf_bytes(["报销单", f"S3-{i}"])), f"s3-{i}.pdf",
                           parsed.files[0] if parsed.files else FileMetaIn())
        record_ingest(metadata=parsed, files=[doc], actor=archivist)
    run = backup_create(dest=tmp_path / "bk", passphrase=PASS)
    assert run.ok and run.blob_count == Blob.objects.count() >= 2
    assert archive.backup_check(tmp_path / "bk", PASS).ok

    target = f"kjda-restore-{uuid.uuid4().hex[:8]}"
    s3_client.create_bucket(Bucket=target)
    env = {k: v for k, v in os.environ.items()
           if k not in ("KJDA_SECRET_KEY", "KJDA_AUDIT_KEY", "KJDA_AUDIT_OLD_KEYS",
                        "KJDA_CONNECTOR_KEY", "DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(KJDA_DATA_DIR=str(tmp_path / "restored"), STORAGE_URL=s3_url(target),
               KJDA_BACKUP_PASSPHRASE=PASS, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-m", "kjda.cli", "restore", str(tmp_path / "bk")],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    keys = {o["Key"].rsplit("/", 1)[-1]
            for o in s3_client.list_objects_v2(Bucket=target).get("Contents", [])}
    assert set(Blob.objects.values_list("sha256", flat=True)) <= keys
