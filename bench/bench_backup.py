"""Backup and restore times for N records with one stored file each, beside the raw copy rate of
the same disk measured in the same run.

Run: python bench/bench_backup.py [--records 2000] [--blob-kb 100] [--dir /path/on/target/disk]
     (default: 2,000 records of 100 KB = ~205 MB, about a minute)
Issue 19's case, 100,000 records / ~10 GB: --records 100000 --blob-kb 100 --dir /big/disk
(needs ~3.1x the bytes free at the peak: the store, the backup, the restored copy).

Set-up (not measured): N records, each with its own incompressible file (an AES-CTR keystream,
distinct per record). The files are written where the store's put places them (its folder
layout, read-only mode; one sync at the end, not put's per-file fsync), so the backup reads them
as in production; the record, file and blob rows are bulk-inserted directly. Then, each timed: `kjda backup` (full), +1 % records, `kjda backup`
again (incremental: only the new files are copied), `kjda backup verify` and `kjda restore` onto
an empty data directory (both in a fresh process, as an administrator runs them). Beside them,
the raw rates of the same disk: `cp -r` of the store's files to another folder (then `sync -f`,
since the backup and the restore fsync what they write) and one big-file `dd ... conv=fsync`.
The page cache of each step's input is dropped first (posix_fadvise on our files only), so every
step reads from the disk.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from _reference import peak_rss_mb, sha256_mb_per_s  # noqa: E402

PASS = "bench passphrase"
BATCH = 2000


def _setup_django(data_dir: Path) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "kjda.settings"
    os.environ["KJDA_DATA_DIR"] = str(data_dir)
    os.environ["STORAGE_URL"] = (data_dir / "blobs").as_uri()
    os.environ.setdefault("KJDA_SECRET_KEY", "bench-backup")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


class Seeder:
    """Records with one distinct incompressible file each: files through the store's put,
    rows bulk-inserted (set-up, not the path measured)."""

    def __init__(self, blob_size: int) -> None:
        from cryptography.hazmat.primitives.ciphers import algorithms

        from kjda.accounts.services import system_user
        from kjda.archives.numbering import class_code_build
        from kjda.archives.services import fonds_ensure, rule_for_category

        self.size = blob_size
        self.key = algorithms.AES(os.urandom(32))
        self.zero = bytes(blob_size)
        self.fonds = fonds_ensure(code="Z001", name="基准测试单位")
        self.rule = rule_for_category(name="记账凭证")
        system_user(name="bench", roles=["archivist"])
        self.class_code = class_code_build(fonds=self.fonds, category=self.rule.category,
                                           fiscal_year=2024, retention=self.rule.retention)

    def _put(self, n: int):  # type: ignore[no-untyped-def]
        """Written where the store's put places it (its layout, read-only), without put's
        per-file fsyncs and re-read: set-up speed; add() syncs once at the end."""
        from cryptography.hazmat.primitives.ciphers import Cipher, modes

        from kjda.storage.digests import DigestHasher
        from kjda.storage.services import get_backend

        data = Cipher(self.key, modes.CTR(n.to_bytes(16, "big"))).encryptor().update(self.zero)
        hasher = DigestHasher()
        hasher.update(data)
        digests = hasher.digests()
        target = get_backend().path_for(digests.sha256)  # type: ignore[attr-defined]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(0o444)
        return digests

    def add(self, start: int, count: int) -> None:
        from datetime import date, timedelta

        from django.db import transaction
        from django.utils import timezone

        from kjda.archives.models import Record, RecordFile, RecordStatus
        from kjda.storage.models import Blob

        now = timezone.now()
        with ThreadPoolExecutor(max_workers=4) as pool:
            for first in range(start, start + count, BATCH):
                numbers = range(first, min(first + BATCH, start + count))
                digests = list(pool.map(self._put, numbers))
                records = []
                for n in numbers:
                    day = date(2024, 1, 1) + timedelta(days=n % 366)
                    records.append(Record(
                        fonds=self.fonds, rule=self.rule, category=self.rule.category,
                        class_code=self.class_code, fiscal_year=2024,
                        retention=self.rule.retention, title="报销差旅费", responsible="财务部",
                        date=day, period=day.month, document_no=f"记-{n:07d}",
                        voucher_type="记", status=RecordStatus.FILED, filed_at=now,
                        page_count=1))
                with transaction.atomic():
                    Blob.objects.bulk_create([Blob(sha256=d.sha256, sm3=d.sm3, size=d.size,
                                                   created_at=now) for d in digests],
                                             batch_size=1000)
                    Record.objects.bulk_create(records, batch_size=1000)
                    RecordFile.objects.bulk_create(
                        [RecordFile(record=r, blob_id=d.sha256, sequence=1, filename="v.pdf",
                                    size=d.size, sha256=d.sha256, sm3=d.sm3)
                         for r, d in zip(records, digests, strict=True)], batch_size=1000)
        os.sync()


def _files(folder: Path) -> list[Path]:
    return [Path(dirpath) / name for dirpath, _dirs, names in os.walk(folder) for name in names]


def _drop_cache(folder: Path) -> None:
    """Evict our files' pages so the next step reads from the disk (only our files: this
    machine is shared)."""
    os.sync()  # dirty pages cannot be dropped
    for path in _files(folder):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _line(label: str, seconds: float, nbytes: int, files: int) -> None:
    print(f"{label:<46} {seconds:>8.1f} s {nbytes / 1e6 / seconds:>7.1f} MB/s "
          f"{files / seconds:>7.0f} files/s  ({files:,} files, {nbytes / 1e6:,.1f} MB)",
          flush=True)


def _raw_rates(store: Path, scratch: Path, nfiles: int, nbytes: int) -> None:
    """The stock tools on the same disk: cp -r of the store's files (+ sync -f), and one big
    file copied by dd with conv=fsync."""
    _drop_cache(store)
    t = time.perf_counter()
    subprocess.run(["cp", "-r", str(store), str(scratch / "cp")], check=True)  # noqa: S607
    subprocess.run(["sync", "-f", str(scratch / "cp")], check=True)  # noqa: S607
    _line("raw: cp -r of the store + sync -f", time.perf_counter() - t, nbytes, nfiles)
    shutil.rmtree(scratch / "cp")

    big = min(nbytes, 4 << 30)
    src = scratch / "big.src"
    with src.open("wb") as fh:  # not timed: a source file of random bytes
        block = os.urandom(4 << 20)
        for _ in range(big // len(block)):
            fh.write(block)
    _drop_cache(scratch)
    t = time.perf_counter()
    subprocess.run(["dd", f"if={src}", f"of={scratch / 'big.dst'}", "bs=4M",  # noqa: S607
                    "conv=fsync", "status=none"], check=True)
    seconds = time.perf_counter() - t
    print(f"{'raw: one big file, dd bs=4M conv=fsync':<46} {seconds:>8.1f} s "
          f"{src.stat().st_size / 1e6 / seconds:>7.1f} MB/s  ({src.stat().st_size / 1e6:,.0f} MB)",
          flush=True)
    src.unlink()
    (scratch / "big.dst").unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--blob-kb", type=int, default=100)
    parser.add_argument("--dir", type=Path, default=None,
                        help="folder on the disk to measure (default: a temp folder)")
    args = parser.parse_args()
    size = args.blob_kb * 1024
    base = Path(tempfile.mkdtemp(prefix="kjda-bench-backup-", dir=args.dir))
    try:
        data, dest, restored, scratch = (base / "data", base / "backup", base / "restored",
                                         base / "scratch")
        scratch.mkdir()
        _setup_django(data)
        from django.db import connection

        from kjda.preservation.backup.services import backup_create

        seeder = Seeder(size)
        t = time.perf_counter()
        seeder.add(0, args.records)
        _line("set-up (not measured): rows bulk-inserted", time.perf_counter() - t,
              args.records * size, args.records)

        store = data / "blobs"
        _raw_rates(store, scratch, args.records, args.records * size)

        _drop_cache(store)
        t = time.perf_counter()
        full = backup_create(dest=dest, passphrase=PASS)
        _line("kjda backup (full)", time.perf_counter() - t, full.written_bytes,
              full.new_blob_count)

        extra = max(1, args.records // 100)
        seeder.add(args.records, extra)
        _drop_cache(store)
        t = time.perf_counter()
        inc = backup_create(dest=dest, passphrase=PASS)
        _line("kjda backup (incremental, +1 % records)", time.perf_counter() - t,
              inc.written_bytes, inc.new_blob_count)
        assert inc.new_blob_count == extra, (inc.new_blob_count, extra)
        connection.close()

        env = {**{k: v for k, v in os.environ.items()
                  if k not in ("STORAGE_URL", "DJANGO_SETTINGS_MODULE")},
               "KJDA_BACKUP_PASSPHRASE": PASS, "PYTHONPATH": str(ROOT / "src")}
        _drop_cache(dest)
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "kjda.cli", "backup", "verify", str(dest)],
                              env=env, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        _line("kjda backup verify (sha256 + sm3 of every file)", time.perf_counter() - t,
              inc.total_bytes, inc.blob_count)

        env["KJDA_DATA_DIR"] = str(restored)
        _drop_cache(dest)
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "kjda.cli", "restore", str(dest)], env=env,
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        _line("kjda restore (fresh process, every file checked)", time.perf_counter() - t,
              inc.total_bytes, inc.blob_count)
        restored_files = len(_files(restored / "blobs"))
        print(f"records {args.records + extra:,}; restored store holds {restored_files:,} files;"
              f" backup folder {sum(p.stat().st_size for p in _files(dest)) / 1e6:,.1f} MB")
        print(f"reference: hashlib sha256 {sha256_mb_per_s():.0f} MB/s; peak RSS "
              f"{peak_rss_mb():.0f} MB; load average {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
