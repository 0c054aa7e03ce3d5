"""The backup set format, its encryption and its checks: plain files, no Django models, so a
restore can unpack the keys before Django (whose settings read them) starts.

DEST/
  blobs/<aa>/<sha256>          content-addressed, shared by every set of the chain
  checkpoints/<name>           the audit chain's signed checkpoints (write-once)
  sets/<set id>/manifest.json  the set: database file, keys file, every blob it needs with
                               sha256+sm3+size and the set that first wrote it (held_by)
  sets/<set id>/manifest.hmac  HMAC-SHA256 of manifest.json with a key derived from the
                               passphrase (so a changed manifest is noticed)
  sets/<set id>/keys.enc       the secret key, audit keys, connector key: AES-256-GCM under a
                               Scrypt key from KJDA_BACKUP_PASSPHRASE
  sets/<set id>/db.sqlite3 | db.pgdump
A set is written under sets/.partial-<id> and renamed when complete: a set that exists is whole.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from kjda.storage.digests import DigestHasher, Digests, read_chunks

FORMAT = "kjda-backup/1"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
KEY_FILES = ("secret_key", "audit_key", "connector.key")


class BackupError(Exception):
    """A backup, check or restore that cannot go on; the message is bilingual."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def derive(passphrase: str, salt: bytes, *, n: int = SCRYPT_N, r: int = SCRYPT_R,
           p: int = SCRYPT_P) -> tuple[bytes, bytes]:
    """(AES key, HMAC key) from the passphrase: one Scrypt run, 64 bytes split in two."""
    if not passphrase:
        raise BackupError("未设置备份口令 KJDA_BACKUP_PASSPHRASE / KJDA_BACKUP_PASSPHRASE is not "
                          "set")
    raw = Scrypt(salt=salt, length=64, n=n, r=r, p=p).derive(passphrase.encode())
    return raw[:32], raw[32:]


def keys_encrypt(keys: dict[str, Any], passphrase: str) -> tuple[bytes, bytes]:
    """keys.enc's bytes and the manifest HMAC key."""
    salt, nonce = os.urandom(16), os.urandom(12)
    aes, mac = derive(passphrase, salt)
    ct = AESGCM(aes).encrypt(nonce, json.dumps(keys).encode(), FORMAT.encode())
    doc = {"format": FORMAT, "kdf": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P,
           "salt": _b64(salt), "cipher": "AES-256-GCM", "nonce": _b64(nonce),
           "ciphertext": _b64(ct)}
    return json.dumps(doc, indent=1).encode(), mac


def keys_decrypt(data: bytes, passphrase: str) -> tuple[dict[str, Any], bytes]:
    """The keys and the manifest HMAC key; BackupError on a wrong passphrase."""
    doc = json.loads(data)
    aes, mac = derive(passphrase, base64.b64decode(doc["salt"]), n=doc["n"], r=doc["r"],
                      p=doc["p"])
    try:
        plain = AESGCM(aes).decrypt(base64.b64decode(doc["nonce"]),
                                    base64.b64decode(doc["ciphertext"]), FORMAT.encode())
    except InvalidTag:
        raise BackupError("密钥无法解密：备份口令错误或 keys.enc 已损坏 / the keys do not decrypt: "
                          "wrong passphrase or keys.enc damaged") from None
    return json.loads(plain), mac


def manifest_sign(manifest: dict[str, Any], mac_key: bytes) -> tuple[bytes, str]:
    body = json.dumps(manifest, indent=1, sort_keys=True).encode()
    return body, hmac.new(mac_key, body, hashlib.sha256).hexdigest()


def blob_path(dest: Path, sha256: str) -> Path:
    return dest / "blobs" / sha256[:2] / sha256


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in read_chunks(fh):
            h.update(chunk)
    return h.hexdigest()


def file_digests(path: Path) -> Digests:
    hasher = DigestHasher()
    with path.open("rb") as fh:
        for chunk in read_chunks(fh):
            hasher.update(chunk)
    return hasher.digests()


def copy_hashing(source: Any, target: Path) -> Digests:
    """Stream source into target (via a temporary name, fsynced), hashing as it goes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    hasher = DigestHasher()
    with tmp.open("wb") as out:
        for chunk in read_chunks(source):
            hasher.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, target)
    return hasher.digests()


def set_ids(dest: Path) -> list[str]:
    """The complete sets, oldest first (ids sort by time)."""
    folder = dest / "sets"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / "manifest.json").exists())


def manifest_read(dest: Path, set_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((dest / "sets" / set_id / "manifest.json").read_bytes())
    return data


@dataclass
class VerifyReport:
    set_id: str
    problems: list[str] = field(default_factory=list)
    blobs: int = 0
    blob_bytes: int = 0
    database: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def backup_check(dest: Path, passphrase: str, *, set_id: str | None = None,
                 blob_digests: bool = True) -> VerifyReport:
    """Check a set without restoring: keys decrypt, manifest HMAC, database file digest and that
    it opens, every blob's and checkpoint's digests. Problems are collected, not raised.
    blob_digests=False checks the blobs' presence and sizes only: the restore hashes each blob
    in the pass that copies it into the store, so it is not read twice."""
    ids = set_ids(dest)
    if not ids:
        raise BackupError(f"{dest} 中没有完整的备份 / no complete backup set in {dest}")
    sid = set_id or ids[-1]
    if sid not in ids:
        raise BackupError(f"备份 {sid} 不存在 / no backup set {sid} in {dest}")
    report = VerifyReport(sid)
    folder = dest / "sets" / sid
    try:
        _keys, mac = keys_decrypt((folder / "keys.enc").read_bytes(), passphrase)
    except BackupError as exc:
        report.problems.append(str(exc))
        return report  # without the key nothing else can be trusted
    body = (folder / "manifest.json").read_bytes()
    sig = (folder / "manifest.hmac").read_text().strip() if (folder / "manifest.hmac").exists() \
        else ""
    if not hmac.compare_digest(sig, hmac.new(mac, body, hashlib.sha256).hexdigest()):
        report.problems.append("清单签名不符 / manifest signature does not match (manifest "
                               "changed or not written by this passphrase)")
        return report
    manifest = json.loads(body)
    if file_sha256(folder / "keys.enc") != manifest["keys"]["sha256"]:
        report.problems.append("keys.enc 与清单不符 / keys.enc differs from the manifest")
    db = manifest["database"]
    db_file = folder / db["file"]
    if not db_file.exists() or file_sha256(db_file) != db["sha256"]:
        report.problems.append(f"数据库备份损坏 / database dump {db['file']} missing or its "
                               "sha256 differs from the manifest")
    else:
        problem = database_opens(db_file, db["engine"])
        report.database = f"{db['engine']} {db['size']} B"
        if problem:
            report.problems.append(problem)
    for cp in manifest.get("checkpoints", []):
        path = dest / "checkpoints" / cp["name"]
        if not path.exists() or file_sha256(path) != cp["sha256"]:
            report.problems.append(f"审计检查点损坏 / checkpoint {cp['name']} missing or damaged")
    for blob in manifest["blobs"]:
        path = blob_path(dest, blob["sha256"])
        report.blobs += 1
        report.blob_bytes += blob["size"]
        if not path.exists():
            report.problems.append(f"文件缺失 / blob {blob['sha256']} missing "
                                   f"(held by {blob['held_by']})")
            continue
        if not blob_digests:
            if path.stat().st_size != blob["size"]:
                report.problems.append(f"文件损坏 / blob {blob['sha256']} damaged: "
                                       f"{path.stat().st_size} B, not {blob['size']} B")
            continue
        got = file_digests(path)
        if (got.sha256, got.sm3, got.size) != (blob["sha256"], blob["sm3"], blob["size"]):
            report.problems.append(f"文件损坏 / blob {blob['sha256']} damaged: sha256 "
                                   f"{got.sha256}, sm3 {got.sm3}, {got.size} B")
    return report


def database_opens(path: Path, engine: str) -> str:
    """'' when the dump opens (SQLite integrity_check ok / pg_restore lists it), else why not."""
    if engine == "sqlite":
        try:
            con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                rows = con.execute("PRAGMA integrity_check").fetchall()
                tables = con.execute("SELECT count(*) FROM sqlite_master WHERE type='table'"
                                     ).fetchone()[0]
            finally:
                con.close()
        except sqlite3.Error as exc:
            return f"数据库备份无法打开 / the database dump does not open: {exc}"
        if rows != [("ok",)] or not tables:
            return f"数据库备份损坏 / database integrity_check: {rows[:3]}, {tables} tables"
        return ""
    pg_restore = shutil.which("pg_restore")
    if not pg_restore:
        return "pg_restore 未安装，无法检查转储 / pg_restore not installed: the dump is unchecked"
    proc = subprocess.run([pg_restore, "--list", str(path)],  # noqa: S603 - our argv
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return f"pg_restore --list 失败 / fails: {proc.stderr.strip()[:300]}"
    return ""


def data_dir_empty(data_dir: Path) -> bool:
    return not data_dir.exists() or not any(data_dir.iterdir())


def restore_prepare(dest: Path, passphrase: str, data_dir: Path, *,
                    set_id: str | None = None, sqlite: bool = True) -> dict[str, Any]:
    """Before Django starts: check the set (the blobs' digests are checked as they are copied,
    by services.backup_restore), refuse a non-empty data dir, write the key files (and the
    SQLite database) into it. Returns the manifest."""
    if not data_dir_empty(data_dir):
        raise BackupError(f"数据目录非空，拒绝恢复 / the data directory {data_dir} is not empty: "
                          "restore only onto an empty one")
    report = backup_check(dest, passphrase, set_id=set_id, blob_digests=False)
    if not report.ok:
        raise BackupError("备份检查未通过 / the backup does not verify:\n  "
                          + "\n  ".join(report.problems))
    folder = dest / "sets" / report.set_id
    keys, _mac = keys_decrypt((folder / "keys.enc").read_bytes(), passphrase)
    manifest = manifest_read(dest, report.set_id)
    data_dir.mkdir(parents=True, exist_ok=True)
    _write_secret(data_dir / "secret_key", keys["secret_key"] + "\n")
    _write_secret(data_dir / "audit_key", "\n".join(keys["audit_keys"]) + "\n")
    if keys.get("connector_key"):
        _write_secret(data_dir / "connector.key", keys["connector_key"] + "\n")
    if manifest["database"]["engine"] == "sqlite":
        if not sqlite:
            raise BackupError("该备份是 SQLite 数据库，但 DATABASE_URL 指向 PostgreSQL / the backup "
                              "holds a SQLite database but DATABASE_URL names PostgreSQL")
        with (folder / manifest["database"]["file"]).open("rb") as src:
            copy_hashing(src, data_dir / "kjda.sqlite3")
    return manifest


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def iter_manifest_blobs(manifest: dict[str, Any]) -> Iterator[tuple[str, str, int]]:
    for b in manifest["blobs"]:
        yield b["sha256"], b["sm3"], b["size"]
