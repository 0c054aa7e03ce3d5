"""Transfer packages (进馆移交包): export a fonds' year as signed EEPs in a BagIt bag, and import
such a package into another instance with the same 档号, metadata, bytes and digests."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import bagit
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from kjda.accounts.roles import Perm
from kjda.accounts.selectors import Actor, actor_can
from kjda.archives.models import (
    Agent,
    BusinessEvent,
    Category,
    CheckReportHistory,
    Fonds,
    Record,
    RecordFile,
    RecordText,
    Relation,
    RetentionRule,
    Volume,
)
from kjda.archives.numbering import counter_raise_to
from kjda.archives.search import search_index_record
from kjda.archives.selectors import actor_sees_all
from kjda.audit.services import audit_log
from kjda.errors import Conflict, DomainError, Forbidden, NotFound
from kjda.invoices.models import Invoice
from kjda.lifecycle.packages.eep import (
    read_system_metadata,
    stream_documents,
    verify_eep,
    write_record_eep,
    write_volume_eep,
)
from kjda.lifecycle.registers import Column, Register, register_pdf
from kjda.lifecycle.signing import SigningKey, configured_key, signing_key_load
from kjda.storage.digests import new_sm3
from kjda.storage.services import blob_store

MANIFEST = "manifest.json"
REGISTER = "移交清册.pdf"
REGISTER_COLUMNS = [Column("序号", 0.5, "right"), Column("档号", 2.2), Column("题名", 3.0),
                    Column("日期", 1.0), Column("保管期限", 0.8), Column("文件数", 0.6, "right"),
                    Column("SHA-256（EEP）", 3.0)]


def _package_key() -> SigningKey:
    from django.conf import settings

    path = str(getattr(settings, "KJDA_PACKAGE_SIGNING_KEY", "") or "")
    key = signing_key_load(path) if path else configured_key()
    if key is None:
        raise DomainError("package_key_missing",
                          "未配置签名密钥（KJDA_PACKAGE_SIGNING_KEY 或 KJDA_REGISTER_SIGNING_KEY），不能生成移交包",
                          "no signing key is configured (KJDA_PACKAGE_SIGNING_KEY or "
                          "KJDA_REGISTER_SIGNING_KEY): a transfer package cannot be made")
    return key


def _digests(path: Path) -> tuple[str, str]:
    sha, sm3 = hashlib.sha256(), new_sm3()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            sha.update(chunk)
            sm3.update(chunk)
    return sha.hexdigest(), sm3.hexdigest()


@dataclass
class PackageExport:
    path: Path
    records: int
    volumes: int
    key_fingerprint: str


def package_export(*, actor: Actor, fonds_code: str, year: int, dest: Path,
                   volumes: Sequence[str] = ()) -> PackageExport:
    """Write the transfer package of `fonds_code`'s filed records of `year` (or only those of the
    volumes `volumes`, by 档号) to the new directory `dest`: one EEP per record and per volume,
    manifest.json with SHA-256 and SM3 of each, the 移交清册 (PDF/A), all in a BagIt bag."""
    if not (actor_can(actor, Perm.RECORD_READ) and actor_sees_all(actor=actor)):
        raise Forbidden("package_export_forbidden", "只有可查看全部档案的人员可以导出移交包",
                        "only someone who sees every record may export a transfer package")
    fonds = Fonds.objects.filter(code=fonds_code).first()
    if fonds is None:
        raise NotFound("fonds_not_found", f"全宗不存在：{fonds_code}",
                       f"no such fonds: {fonds_code}")
    if dest.exists() and any(dest.iterdir()):
        raise DomainError("package_dest_not_empty", f"目标目录不为空：{dest}",
                          f"the destination is not empty: {dest}")
    key = _package_key()
    records = Record.objects.filter(fonds=fonds, fiscal_year=year, status="filed",
                                    archive_no__isnull=False)
    vols = Volume.objects.filter(fonds=fonds, fiscal_year=year, archive_no__isnull=False)
    if volumes:
        vols = vols.filter(archive_no__in=list(volumes))
        missing = set(volumes) - set(vols.values_list("archive_no", flat=True))
        if missing:
            raise NotFound("volume_not_found", f"案卷不存在：{'、'.join(sorted(missing))}",
                           f"no such volume: {', '.join(sorted(missing))}")
        records = records.filter(volume__in=vols)
    else:
        vols = vols.filter(records__in=records).distinct()
    records = records.order_by("archive_no")
    if not records.exists():
        raise DomainError("package_empty", f"{fonds_code} {year} 年度没有可移交的已归档档案",
                          f"{fonds_code} has no filed records of {year} to transfer")
    made = not dest.exists()
    try:
        return _export(actor, fonds, year, dest, key, records, vols)
    except BaseException:
        # a half-written package must not be mistaken for a package
        if made:
            shutil.rmtree(dest, ignore_errors=True)
        raise


def _export(actor: Actor, fonds: Fonds, year: int, dest: Path, key: SigningKey,
            records: Any, vols: Any) -> PackageExport:
    created = timezone.now()
    signer = actor.get_username() if actor is not None else "kjda"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "records").mkdir()
    (dest / "volumes").mkdir()
    manifest: dict[str, Any] = {
        "format": "KJDA transfer package 1", "created": created.isoformat(), "year": year,
        "fonds": {"code": fonds.code, "name": fonds.name, "unit_name": fonds.unit_name,
                  "archives_name": fonds.archives_name, "archives_code": fonds.archives_code},
        "public_key": key.public_pem, "key_fingerprint": key.fingerprint,
        "volumes": [], "records": []}
    rows = []
    for n, volume in enumerate(vols.order_by("archive_no"), start=1):
        rel = f"volumes/V{n:05d}.xml"
        write_volume_eep(volume, dest / rel, key=key, signer=signer, created=created)
        sha, sm3 = _digests(dest / rel)
        manifest["volumes"].append({"archive_no": volume.archive_no, "path": rel,
                                    "sha256": sha, "sm3": sm3})
    for n, record in enumerate(records.iterator(chunk_size=200), start=1):
        rel = f"records/{record.record_no}.xml"
        write_record_eep(record, dest / rel, key=key, signer=signer, created=created)
        sha, sm3 = _digests(dest / rel)
        manifest["records"].append({"record_no": str(record.record_no),
                                    "archive_no": record.archive_no, "path": rel,
                                    "sha256": sha, "sm3": sm3})
        rows.append([n, record.archive_no, record.title, record.date,
                     record.get_retention_display(),
                     record.files.filter(superseded_at__isnull=True).count(), sha])
    register = Register(
        title="电子会计档案移交清册", columns=REGISTER_COLUMNS, rows=rows,
        particulars=[("全宗", f"{fonds.code} {fonds.name}"), ("会计年度", str(year)),
                     ("移交单位", fonds.unit_name), ("编制日期", created.date().isoformat())],
        summary=[("共计", f"{len(rows)} 件"), ("案卷", f"{len(manifest['volumes'])} 卷")],
        created=created)
    (dest / REGISTER).write_bytes(register_pdf(register))
    manifest["register"] = dict(zip(("sha256", "sm3"), _digests(dest / REGISTER), strict=True))
    (dest / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), "utf-8")
    bagit.make_bag(str(dest), {"Source-Organization": fonds.unit_name,
                               "External-Identifier": f"{fonds.code}-{year}",
                               "External-Description": "电子会计档案进馆移交包（DA/T 48-2009 EEP）"},
                   checksums=["sha256", "sha512"])
    audit_log(action="package.exported", actor=actor, object_type="fonds", object_id=fonds.code,
              detail={"year": year, "records": len(manifest["records"]),
                      "volumes": [v["archive_no"] for v in manifest["volumes"]],
                      "archive_nos": [r["archive_no"] for r in manifest["records"]],
                      "path": str(dest)})
    return PackageExport(dest, len(manifest["records"]), len(manifest["volumes"]),
                         key.fingerprint)


# --- import -----------------------------------------------------------------------------------

@dataclass
class PackageImport:
    created: int
    skipped: int
    volumes: int


def _refused(problems: list[str]) -> DomainError:
    shown = "；".join(problems[:5])
    return DomainError("package_tampered", f"移交包校验失败，未导入任何内容：{shown}",
                       f"the package failed verification; nothing was imported: {shown}")


def package_verify(src: Path, *, key_fingerprint: str = "") -> tuple[dict[str, Any], list[str]]:
    """The manifest of the package at `src` and the problems found: the BagIt bag's payload
    digests, each EEP's SHA-256/SM3 against the manifest, its signatures (by the manifest's key)
    and its files' digests. `key_fingerprint`: the sender's key as agreed out of band (SHA-256
    of its public key); without it any key that signed the whole package consistently passes."""
    problems: list[str] = []
    try:
        bag = bagit.Bag(str(src))
        bag.validate()
    except bagit.BagValidationError as exc:
        problems.append(f"BagIt: {exc.message}")
    except bagit.BagError as exc:
        return {}, [f"BagIt: {exc}"]
    data = src / "data"
    try:
        manifest = json.loads((data / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        return {}, [*problems, f"manifest.json: {exc}"]
    trusted = {manifest.get("public_key", "")}
    fingerprint = hashlib.sha256(manifest.get("public_key", "").encode()).hexdigest()
    if key_fingerprint and key_fingerprint.lower() != fingerprint:
        problems.append(f"signed by key {fingerprint[:16]}…, not the expected "
                        f"{key_fingerprint[:16]}…")
    for entry in [*manifest.get("volumes", []), *manifest.get("records", [])]:
        path = data / entry["path"]
        if not path.is_file() or path.resolve().parent.parent != data.resolve():
            problems.append(f"{entry['path']}: missing")
            continue
        if _digests(path) != (entry["sha256"], entry["sm3"]):
            problems.append(f"{entry['path']}: digest differs from the manifest")
        check = verify_eep(path, trusted_keys=trusted)
        problems.extend(f"{entry['path']}: {p}" for p in check.problems)
    return manifest, problems


def package_import(*, actor: Actor, src: Path, key_fingerprint: str = "") -> PackageImport:
    """Import the transfer package at `src`: verify everything first (a tampered package is
    refused whole), then create its volumes and records with their own 档号, metadata, files,
    events, agents, relations and check reports. Records already here (same 电子文件号) are
    skipped, so a second import changes nothing."""
    if not actor_can(actor, Perm.RECORD_INGEST):
        raise Forbidden("package_import_forbidden", "无权导入移交包",
                        "you may not import a transfer package")
    manifest, problems = package_verify(src, key_fingerprint=key_fingerprint)
    if problems:
        audit_log(action="package.import_refused", actor=actor, object_type="package",
                  object_id=str(src), outcome="failure", detail={"problems": problems[:50]})
        raise _refused(problems)
    data = src / "data"
    fonds_meta = manifest["fonds"]
    with transaction.atomic():
        fonds = Fonds.objects.filter(code=fonds_meta["code"]).first()
        if fonds is None:
            fonds = Fonds.objects.create(**fonds_meta)
        volumes: dict[str, Volume] = {}
        for entry in manifest["volumes"]:
            meta = read_system_metadata(data / entry["path"])
            volumes[meta["archive_no"]] = _volume_import(fonds, meta)
        created = skipped = 0
        imported: list[tuple[Record, dict[str, Any]]] = []
        for entry in manifest["records"]:
            path = data / entry["path"]
            meta = read_system_metadata(path)
            if Record.objects.filter(record_no=meta["record_no"]).exists():
                skipped += 1
                continue
            taken = meta["fields"].get("archive_no")
            if taken and Record.objects.filter(archive_no=taken).exists():
                raise Conflict("package_archive_no_taken",
                               f"档号 {taken} 已被本系统的另一份档案使用，未导入任何内容",
                               f"the 档号 {taken} is held by another record here; nothing "
                               "was imported")
            imported.append((_record_import(fonds, meta, path, volumes, actor), meta))
            created += 1
        for record, meta in imported:  # relations last: their targets may come later
            _invoices_import(record, meta.get("invoices", []))
            for rel in meta["relations"]:
                target = (Record.objects.filter(record_no=rel["target"]).first()
                          if rel["target"] else None)
                Relation.objects.create(record=record, target=target, **{
                    k: rel[k] for k in ("entity_identifier", "relation_type", "relation",
                                        "description")})
        audit_log(action="package.imported", actor=actor, object_type="fonds",
                  object_id=fonds.code,
                  detail={"year": manifest["year"], "created": created, "skipped": skipped,
                          "archive_nos": [r.archive_no for r, _m in imported],
                          "key_fingerprint": manifest.get("key_fingerprint", "")})
    return PackageImport(created, skipped, len(volumes))


def _volume_import(fonds: Fonds, meta: dict[str, Any]) -> Volume:
    volume = Volume.objects.filter(archive_no=meta["archive_no"]).first()
    if volume is not None:
        return volume
    if meta["volume_no"]:
        counter_raise_to(fonds=fonds, scope=meta["class_code"], kind="volume",
                         number=meta["volume_no"])
    return Volume.objects.create(
        fonds=fonds, category=Category.objects.get(name=meta["category"]),
        class_code=meta["class_code"], fiscal_year=meta["fiscal_year"],
        retention=meta["retention"], title=meta["title"], volume_no=meta["volume_no"],
        archive_no=meta["archive_no"], status=meta["status"],
        closed_at=parse_datetime(meta["closed_at"]) if meta["closed_at"] else None)


def _rule_for(meta: dict[str, Any]) -> RetentionRule:
    want = meta["rule"]
    rules = RetentionRule.objects.filter(schedule=want["schedule"], name=want["name"])
    rule = rules.filter(version=want["version"]).first() or rules.order_by("-version").first()
    if rule is None:
        raise DomainError("package_rule_missing",
                          f"本系统没有保管期限规则：{want['name']}",
                          f"this instance has no retention rule {want['name']}")
    return rule


def _record_import(fonds: Fonds, meta: dict[str, Any], path: Path, volumes: dict[str, Volume],
                   actor: Actor) -> Record:
    record = Record(record_no=meta["record_no"], fonds=fonds, rule=_rule_for(meta),
                    category=Category.objects.get(name=meta["category"]),
                    volume=volumes.get(meta["volume"]) if meta["volume"] else None)
    if meta["volume"] and record.volume is None:
        record.volume = Volume.objects.filter(archive_no=meta["volume"]).first()
    for name, value in meta["fields"].items():
        field = _fields(Record)[name]
        setattr(record, field.attname, _value(field, value))
    record.save()
    if record.volume is None and record.item_no:  # filed by item: its 件号 is the class's
        counter_raise_to(fonds=fonds, scope=record.class_code, kind="item", number=record.item_no)
    Record.objects.filter(pk=record.pk).update(created_at=_value(
        Record._meta.get_field("created_at"), meta["fields"]["created_at"]))
    # the bytes: from the EEP, stored and checked against the digests the package states
    stored: dict[int, str] = {}
    # each file spooled to disk past 8 MiB, closed in the finally below
    docs = stream_documents(path, open_sink=lambda: tempfile.SpooledTemporaryFile(8 << 20))  # noqa: SIM115
    try:
        for file_meta, doc in zip(meta["files"], docs, strict=True):
            assert doc.sink is not None
            doc.sink.seek(0)
            blob = blob_store(source=doc.sink, actor=cast(Any, actor))
            if not doc.intact or (blob.sha256, blob.sm3) != (file_meta["sha256"],
                                                               file_meta["sm3"]):
                raise _refused([f"{path.name}: file {file_meta['filename']} digest mismatch"])
            stored[int(file_meta["sequence"])] = blob.sha256
    finally:
        for doc in docs:
            if doc.sink is not None:
                doc.sink.close()
    by_sequence: dict[int, RecordFile] = {}
    for file_meta in meta["files"]:
        f = RecordFile(record=record, blob_id=stored[int(file_meta["sequence"])])
        for name, value in file_meta.items():
            if name == "derived_from":
                continue
            field = _fields(RecordFile)[name]
            setattr(f, field.attname, _value(field, value))
        if file_meta["derived_from"] is not None:
            f.derived_from = by_sequence.get(int(file_meta["derived_from"]))
        f.save()
        RecordFile.objects.filter(pk=f.pk).update(
            created_at=_value(RecordFile._meta.get_field("created_at"), file_meta["created_at"]))
        by_sequence[f.sequence] = f
    # the extracted text, and the search index over it (as the filing would have made it)
    RecordText.objects.create(record=record, content=meta.get("text", ""))
    search_index_record(record=record, text=meta.get("text", ""), new=True)
    for a in meta["agents"]:
        Agent.objects.create(record=record, **a)
    for e in meta["events"]:
        BusinessEvent.objects.create(record=record, **{**e, "occurred_at":
                                                       parse_datetime(e["occurred_at"])})
    for h in meta["past_reports"]:
        CheckReportHistory.objects.create(record=record, report=h["report"], status=h["status"],
                                          superseded_at=_when(h["superseded_at"]),
                                          superseded_by=h["superseded_by"])
    return record


def _invoices_import(record: Record, invoices: list[dict[str, Any]]) -> None:
    """The invoice register's rows of `record` (kjda.invoices), as the package states them."""
    files = {f.sequence: f for f in RecordFile.objects.filter(record=record)}
    fields = _fields(Invoice)
    for inv in invoices:
        row = Invoice(record=record, file=files[int(inv["file"])],
                      duplicate_of=(Record.objects.filter(record_no=inv["duplicate_of"]).first()
                                    if inv["duplicate_of"] else None))
        for name, value in inv.items():
            if name not in ("file", "duplicate_of"):
                setattr(row, fields[name].attname, _value(fields[name], value))
        row.save()
        Invoice.objects.filter(pk=row.pk).update(
            created_at=_value(fields["created_at"], inv["created_at"]))


def _fields(model: Any) -> dict[str, Any]:
    return {f.name: f for f in model._meta.concrete_fields}


def _when(text: str) -> datetime:
    value = parse_datetime(text)
    if value is None:
        raise DomainError("package_invalid", f"移交包中的时间无效：{text}",
                          f"an invalid time in the package: {text}")
    return value


def _value(field: Any, text: Any) -> Any:
    """A field's value from its `value_to_string` text."""
    if text is None:
        return None
    if field.get_internal_type() == "JSONField":
        return text
    return field.to_python(text)
