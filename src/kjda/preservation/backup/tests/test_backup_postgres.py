"""The restore drill on PostgreSQL: pg_dump of an exported snapshot, pg_restore into a fresh
database. Runs when the suite runs on PostgreSQL (DATABASE_URL=postgres://…)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

from kjda.archives.models import Record
from kjda.ingest.metadata import FileMetaIn, metadata_parse
from kjda.ingest.pipeline import IncomingFile
from kjda.ingest.services import record_ingest
from kjda.preservation.backup.services import backup_create
from kjda_oasim.factories import metadata_json, pdf_bytes

PASS = "pg drill passphrase"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fresh_database():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL drill: run the suite with DATABASE_URL=postgres://…")
    import psycopg

    db = connection.settings_dict
    name = f"kjda_restore_{uuid.uuid4().hex[:10]}"
    admin = dict(host=db.get("HOST") or "127.0.0.1", port=db.get("PORT") or 5432,
                 user=db.get("USER") or "postgres", password=db.get("PASSWORD") or None,
                 dbname="postgres", autocommit=True)
    with psycopg.connect(**admin) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    url = (f"postgres://{admin['user']}{':' + admin['password'] if admin['password'] else ''}"
           f"@{admin['host']}:{admin['port']}/{name}")
    yield url
    with psycopg.connect(**admin) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_postgres_backup_restores_into_a_fresh_database_and_verifies(
        fonds, archivist, tmp_path, settings, fresh_database):
    settings.STORAGE_URL = (tmp_path / "store").as_uri()
    for i in range(3):
        parsed = metadata_parse(metadata_json(category="原始凭证", document_no=f"PG-{i}",
                                              title=f"报销 {i}"))
        doc = IncomingFile(io.BytesIO(pdf_bytes(["报销单", f"PG-{i}"])), f"pg-{i}.pdf",
                           parsed.files[0] if parsed.files else FileMetaIn())
        record_ingest(metadata=parsed, files=[doc], actor=archivist)
    run = backup_create(dest=tmp_path / "bk", passphrase=PASS)
    assert run.ok and (tmp_path / "bk" / "sets" / run.set_id / "db.pgdump").exists()

    env = {k: v for k, v in os.environ.items()
           if k not in ("KJDA_SECRET_KEY", "KJDA_AUDIT_KEY", "KJDA_AUDIT_OLD_KEYS",
                        "KJDA_CONNECTOR_KEY", "STORAGE_URL", "KJDA_SEARCH_DATABASE_URL",
                        "DJANGO_SETTINGS_MODULE")}
    env.update(KJDA_DATA_DIR=str(tmp_path / "restored"), DATABASE_URL=fresh_database,
               KJDA_BACKUP_PASSPHRASE=PASS, PYTHONPATH=os.pathsep.join(sys.path))

    def kjda(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kjda.cli", *args], env=env,
                              capture_output=True, text=True, timeout=300, check=False)

    done = kjda("restore", str(tmp_path / "bk"))
    assert done.returncode == 0, done.stderr
    audit = kjda("audit", "verify")
    assert audit.returncode == 0, audit.stderr + audit.stdout
    env["KJDA_DATA_DIR"] = str(tmp_path / "another")  # an empty folder, but the database
    again = kjda("restore", str(tmp_path / "bk"))  # is no longer empty
    assert again.returncode == 1 and "target database is not empty" in again.stderr

    import psycopg

    with psycopg.connect(fresh_database.replace("postgres://", "postgresql://")) as con:
        got = dict(con.execute("SELECT id, archive_no FROM archives_record").fetchall())
    assert got == dict(Record.objects.values_list("id", "archive_no"))
    assert any(Path(tmp_path / "restored" / "blobs").rglob("*"))
