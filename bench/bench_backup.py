"""Backup and restore times for N stored files, beside the raw copy rate of the same disk.

Run: python bench/bench_backup.py [--count 2000] [--size-kb 100] [--dir /path/on/target/disk]
     (default: 2,000 files of 100 KB = ~200 MB, a few minutes)
The 100,000 records / ~10 GB case of issue 19: --count 100000 --size-kb 100 --dir /big/disk
(needs ~3x the bytes free: the store, the backup, the restored copy).

Steps, each timed: store N distinct files (blob_store: the bytes records point at; one file per
record, no record rows: the database dump is small beside the blobs either way), `kjda backup`
(full), add 5% more files, `kjda backup` again (incremental: only the new files are copied),
`kjda backup verify`, and `kjda restore` onto an empty data directory in a fresh process. The
raw rate is shutil.copyfile of the same files from the store to another folder of the same disk
in the same run: the ceiling a backup or a restore (which also hash SHA-256 + SM3) can reach.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from _reference import peak_rss_mb, sha256_mb_per_s  # noqa: E402

PASS = "bench passphrase"


def _setup_django(data_dir: Path) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "kjda.settings"
    os.environ["KJDA_DATA_DIR"] = str(data_dir)
    os.environ["STORAGE_URL"] = (data_dir / "blobs").as_uri()
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _store(count: int, size: int, start: int) -> None:
    from kjda.storage.services import blob_store

    base = os.urandom(size)
    for i in range(start, start + count):
        blob_store(source=io.BytesIO(i.to_bytes(8, "big") + base[8:]))


def _line(label: str, seconds: float, nbytes: int, files: int) -> None:
    print(f"{label:<40} {seconds:>8.2f} s {nbytes / 1e6 / seconds:>9.1f} MB/s "
          f"{files / seconds:>9.0f} files/s  ({files} files, {nbytes / 1e6:.1f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size-kb", type=int, default=100)
    parser.add_argument("--dir", type=Path, default=None,
                        help="folder on the disk to measure (default: a temp folder)")
    args = parser.parse_args()
    size = args.size_kb * 1024
    base = Path(tempfile.mkdtemp(prefix="kjda-bench-backup-", dir=args.dir))
    try:
        data, dest, restored, rawdir = (base / "data", base / "backup", base / "restored",
                                        base / "raw")
        _setup_django(data)
        from kjda.preservation.backup.services import backup_create
        from kjda.storage.models import Blob

        t = time.perf_counter()
        _store(args.count, size, 0)
        _line("store N files (blob_store)", time.perf_counter() - t, args.count * size,
              args.count)

        files = sorted(p for p in (data / "blobs").rglob("*") if p.is_file()
                       and len(p.name) == 64)
        nbytes = sum(p.stat().st_size for p in files)
        rawdir.mkdir()
        t = time.perf_counter()
        for i, p in enumerate(files):
            shutil.copyfile(p, rawdir / f"{i:08d}")
        _line("raw copy (shutil.copyfile, same disk)", time.perf_counter() - t, nbytes,
              len(files))
        shutil.rmtree(rawdir)

        t = time.perf_counter()
        full = backup_create(dest=dest, passphrase=PASS)
        _line("kjda backup (full)", time.perf_counter() - t, full.written_bytes,
              full.new_blob_count)

        extra = max(1, args.count // 20)
        _store(extra, size, args.count)
        t = time.perf_counter()
        inc = backup_create(dest=dest, passphrase=PASS)
        _line("kjda backup (incremental, +5%)", time.perf_counter() - t, inc.written_bytes,
              inc.new_blob_count)
        assert inc.new_blob_count == extra, (inc.new_blob_count, extra)

        env = {**{k: v for k, v in os.environ.items()
                  if k not in ("STORAGE_URL", "DJANGO_SETTINGS_MODULE")},
               "KJDA_BACKUP_PASSPHRASE": PASS, "PYTHONPATH": str(ROOT / "src")}
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "kjda.cli", "backup", "verify", str(dest)],
                              env=env, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        _line("kjda backup verify", time.perf_counter() - t, inc.total_bytes, inc.blob_count)

        env["KJDA_DATA_DIR"] = str(restored)
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "kjda.cli", "restore", str(dest)], env=env,
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        _line("kjda restore (fresh process, verified)", time.perf_counter() - t,
              inc.total_bytes, inc.blob_count)
        print(f"blobs in the store {Blob.objects.count()}; backup folder "
              f"{sum(p.stat().st_size for p in dest.rglob('*') if p.is_file()) / 1e6:.1f} MB")
        print(f"reference: hashlib sha256 {sha256_mb_per_s():.0f} MB/s; peak RSS "
              f"{peak_rss_mb():.0f} MB")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
