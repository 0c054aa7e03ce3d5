"""A year exported as a transfer package (EEPs + manifest + 移交清册 in a BagIt bag) and imported
into an emptied instance: the same 档号, metadata, bytes, digests, events and volumes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import bagit
import pytest

from kjda.archives.export import record_metadata_xml
from kjda.archives.models import (
    Arrangement,
    Record,
    RecordFile,
    RecordText,
    Volume,
    VolumeStatus,
)
from kjda.archives.services import record_relation_add
from kjda.audit.models import AuditEvent
from kjda.errors import DomainError
from kjda.lifecycle.packages.eep import q
from kjda.lifecycle.packages.services import package_export, package_import
from kjda.lifecycle.volumes.services import volume_close, volumes_assemble
from kjda.storage import services as storage


def _snapshot() -> dict[str, dict]:
    out = {}
    for r in Record.objects.order_by("archive_no"):
        out[r.archive_no] = {
            "record_no": str(r.record_no), "status": r.status,
            "xml": record_metadata_xml(r),
            "files": sorted((f.sequence, f.filename, f.sha256, f.sm3, f.size)
                            for f in RecordFile.objects.filter(record=r)),
            "events": sorted((e.action, e.occurred_at.isoformat(), e.description)
                             for e in r.business_events.all()),
            "agents": sorted((a.name, a.role) for a in r.agents.all()),
            "report": r.check_report,
            "text": RecordText.objects.get(record=r).content,
            "relations": sorted((x.relation_type, x.entity_identifier,
                                 str(x.target.record_no) if x.target else "")
                                for x in r.relations.all()),
            "invoices": sorted((i.file.sequence, i.invoice_number, str(i.total_incl_tax),
                                i.identity) for i in r.invoices.all()), "volume": r.volume.archive_no if r.volume_id else None,
        }
    return out


def _year(ingest, voucher_files):
    records = [ingest(n, period=1, date=f"2024-01-{n + 2:02d}") for n in range(1, 3)]
    records.append(ingest(3, period=1, date="2024-01-20", files=voucher_files))
    return records


def _empty_instance(blob_root: Path) -> None:
    """What a fresh instance holds of this fonds: nothing (rows deleted, blobs removed)."""
    from kjda.archives.models import Agent, BusinessEvent, CheckReportHistory, RecordText, Relation
    from kjda.invoices.models import Invoice
    from kjda.lifecycle.volumes.models import VolumeDescription, VolumeDocument
    from kjda.storage.models import Blob

    for model in (Relation, Agent, BusinessEvent, CheckReportHistory, RecordText,
                  VolumeDocument, VolumeDescription, Invoice):
        model.objects.all().delete()
    RecordFile.objects.filter(derived_from__isnull=False).delete()
    RecordFile.objects.all().delete()
    Record.objects.all().delete()
    Volume.objects.all().delete()
    Blob.objects.all().delete()
    shutil.rmtree(blob_root)
    storage._backend_for.cache_clear()


@pytest.fixture
def closed_year(fonds, archivist, ingest, voucher_files, package_key):
    fonds.arrangement = Arrangement.BY_VOLUME
    fonds.save()
    first, second, _third = _year(ingest, voucher_files)
    record_relation_add(record=second, target=first, relation_type="参见",
                        entity_identifier=str(first.record_no), description="同一笔报销")
    volumes_assemble(fonds=fonds, fiscal_year=2024, actor=archivist)
    volume = Volume.objects.get()
    volume_close(volume=volume, actor=archivist)
    volume.refresh_from_db()
    assert volume.status == VolumeStatus.CLOSED and volume.archive_no
    return volume


@pytest.mark.django_db
def test_an_exported_year_imports_into_an_empty_instance_with_identical_records(
        closed_year, archivist, blob_root, tmp_path):
    before = _snapshot()
    assert sum(len(v["invoices"]) for v in before.values()) == 1  # the invoice is in the register
    assert len(before) == 3 and all(v["volume"] == closed_year.archive_no
                                    for v in before.values())
    dest = tmp_path / "package"
    result = package_export(actor=archivist, fonds_code="Z001", year=2024, dest=dest)
    assert (result.records, result.volumes) == (3, 1)
    bag = bagit.Bag(str(dest))
    assert bag.is_valid()
    manifest = json.loads((dest / "data" / "manifest.json").read_text("utf-8"))
    assert sorted(r["archive_no"] for r in manifest["records"]) == sorted(before)
    from kjda.formats.pdfa_check import pdfa_check

    assert pdfa_check((dest / "data" / "移交清册.pdf").read_bytes()).compliant
    assert AuditEvent.objects.filter(action="package.exported").count() == 1

    _empty_instance(blob_root)
    assert not Record.objects.exists()
    imported = package_import(actor=archivist, src=dest)
    assert (imported.created, imported.skipped, imported.volumes) == (3, 0, 1)
    after = _snapshot()
    assert after == before
    volume = Volume.objects.get()
    assert (volume.archive_no, volume.status) == (closed_year.archive_no, VolumeStatus.CLOSED)
    for f in RecordFile.objects.all():  # the bytes are back, and they are the bytes stated
        assert storage.blob_verify(sha256=f.sha256)
    assert AuditEvent.objects.filter(action="package.imported").count() == 1
    from kjda.archives.selectors import RecordFilters, record_list

    found = record_list(actor=archivist, filters=RecordFilters(q="报销差旅费 3"))
    assert [r.document_no for r in found] == ["记-0003"]  # the search index was rebuilt

    again = package_import(actor=archivist, src=dest)
    assert (again.created, again.skipped) == (0, 3)
    assert Record.objects.count() == 3 and RecordFile.objects.count() == 4


def _tamper_refused(dest: Path, archivist) -> DomainError:
    with pytest.raises(DomainError) as err:
        package_import(actor=archivist, src=dest)
    assert err.value.code == "package_tampered"
    assert "未导入任何内容" in err.value.zh and "nothing was imported" in err.value.en
    return err.value


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["file", "xml", "signature"])
def test_a_tampered_package_is_refused_and_changes_nothing(closed_year, archivist, blob_root,
                                                          tmp_path, how):
    import base64

    from lxml import etree

    dest = tmp_path / "package"
    package_export(actor=archivist, fonds_code="Z001", year=2024, dest=dest)
    _empty_instance(blob_root)
    eep = next((dest / "data" / "records").iterdir())
    root = etree.parse(str(eep)).getroot()
    if how == "file":
        data = root.find(f".//{q('编码数据')}")
        raw = bytearray(base64.b64decode(data.text))
        raw[50] ^= 1
        data.text = base64.b64encode(bytes(raw)).decode()
    elif how == "xml":
        title = root.find(f".//{q('题名')}")
        title.text += "（改）"
    else:
        res = root.find(f"{q('电子签名块')}/{q('电子签名')}/{q('签名结果')}")
        raw = bytearray(base64.b64decode(res.text))
        raw[3] ^= 1
        res.text = base64.b64encode(bytes(raw)).decode()
    etree.ElementTree(root).write(str(eep), encoding="utf-8", xml_declaration=True)
    # a forger who also rewrites the bag's and the manifest's digests is still caught by the
    # signatures and the files' own digests
    bagit.Bag(str(dest)).save(manifests=True)
    _tamper_refused(dest, archivist)
    assert not Record.objects.exists() and not Volume.objects.exists()
    assert AuditEvent.objects.filter(action="package.import_refused").count() == 1


@pytest.mark.django_db
def test_the_cli_exports_one_volume_and_imports_it_once(closed_year, blob_root, tmp_path,
                                                        capsys):
    from kjda.cli import main

    dest = tmp_path / "cli-package"
    assert main(["package", "export", "--fonds", "Z001", "--year", "2024",
                 "--volume", closed_year.archive_no, str(dest)]) == 0
    assert "3 records, 1 volumes" in capsys.readouterr().out
    assert main(["package", "export", "--fonds", "Z001", "--year", "2024",
                 "--volume", "Z001-nope", str(tmp_path / "x")]) == 2
    assert "no such volume" in capsys.readouterr().err
    _empty_instance(blob_root)
    assert main(["package", "import", str(dest)]) == 0
    assert main(["package", "import", str(dest)]) == 0
    assert "imported 0, already present 3" in capsys.readouterr().out
    assert Record.objects.filter(volume__archive_no=closed_year.archive_no).count() == 3


@pytest.mark.django_db
def test_after_an_import_by_item_the_next_filing_takes_the_next_number(
        fonds, archivist, ingest, package_key, blob_root, tmp_path):
    first = [ingest(n) for n in range(1, 3)]
    numbers = sorted(r.archive_no for r in first)
    package_export(actor=archivist, fonds_code="Z001", year=2024, dest=tmp_path / "p")
    _empty_instance(blob_root)
    from kjda.archives.models import ArchiveNoCounter

    ArchiveNoCounter.objects.all().delete()  # a fresh instance has counted nothing
    package_import(actor=archivist, src=tmp_path / "p")
    assert sorted(Record.objects.values_list("archive_no", flat=True)) == numbers
    later = ingest(3)
    assert later.archive_no not in numbers and later.item_no == 3


@pytest.mark.django_db
def test_a_package_signed_by_another_key_than_the_agreed_one_is_refused(
        fonds, archivist, ingest, package_key, blob_root, tmp_path):
    ingest(1)
    result = package_export(actor=archivist, fonds_code="Z001", year=2024, dest=tmp_path / "p")
    _empty_instance(blob_root)
    with pytest.raises(DomainError) as err:
        package_import(actor=archivist, src=tmp_path / "p", key_fingerprint="ab" * 32)
    assert err.value.code == "package_tampered" and "not the expected" in err.value.en
    assert not Record.objects.exists()
    assert package_import(actor=archivist, src=tmp_path / "p",
                          key_fingerprint=result.key_fingerprint).created == 1


@pytest.mark.django_db
def test_a_package_whose_archive_no_is_taken_here_is_refused_whole(
        fonds, archivist, ingest, package_key, blob_root, tmp_path):
    from kjda.archives.models import ArchiveNoCounter
    from kjda.errors import Conflict

    exported = [ingest(1).archive_no, ingest(2).archive_no]
    package_export(actor=archivist, fonds_code="Z001", year=2024, dest=tmp_path / "p")
    _empty_instance(blob_root)
    ArchiveNoCounter.objects.all().delete()
    here = ingest(7)  # this instance numbers its own record 0001 too
    assert here.archive_no == exported[0]
    with pytest.raises(Conflict) as err:
        package_import(actor=archivist, src=tmp_path / "p")
    assert err.value.code == "package_archive_no_taken" and err.value.status == 409
    assert list(Record.objects.all()) == [here]


@pytest.mark.django_db
def test_an_export_without_a_signing_key_or_records_is_refused_and_leaves_nothing(
        fonds, archivist, ingest, blob_root, tmp_path, settings, package_key):
    ingest(1)
    settings.KJDA_REGISTER_SIGNING_KEY = ""
    with pytest.raises(DomainError) as err:
        package_export(actor=archivist, fonds_code="Z001", year=2024, dest=tmp_path / "p")
    assert err.value.code == "package_key_missing" and not (tmp_path / "p").exists()
    settings.KJDA_REGISTER_SIGNING_KEY = str(package_key)
    with pytest.raises(DomainError) as err:
        package_export(actor=archivist, fonds_code="Z001", year=2023, dest=tmp_path / "p")
    assert err.value.code == "package_empty"
