"""Storage write rates for 100 KB files: the raw write+fsync ceiling vs blob_store.

Run: python bench/bench_storage.py [--count 1000] [--size-kb 100] [--dir /path/on/target/disk]
The raw figure uses plain os calls (open, write, fsync, close); it is the ceiling the ingest
benchmark is compared to. blob_store adds SHA-256 + SM3, a temp file, link into place, directory
fsync, a verify re-read from disk and one SQLite row per new blob.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setup_django(data_dir: Path) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "kjda.settings"
    os.environ["KJDA_DATA_DIR"] = str(data_dir)
    os.environ["STORAGE_URL"] = (data_dir / "blobs").as_uri()
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _payloads(count: int, size: int) -> list[bytes]:
    # Distinct content per file so blob_store never takes the dedup shortcut.
    base = os.urandom(size)
    return [i.to_bytes(8, "big") + base[8:] for i in range(count)]


def _raw_write(directory: Path, payloads: list[bytes]) -> None:
    directory.mkdir()
    for i, data in enumerate(payloads):
        fd = os.open(directory / f"{i:08d}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)


def _blob_store_all(payloads: list[bytes]) -> None:
    from kjda.storage.services import blob_store

    for data in payloads:
        blob_store(source=io.BytesIO(data))


def _hash_only(payloads: list[bytes]) -> None:
    from kjda.storage.digests import digest_stream

    for data in payloads:
        digest_stream(io.BytesIO(data))


def _report(label: str, run: Callable[[], None], count: int, size: int) -> float:
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    rate = count / seconds
    print(f"{label:<34} {rate:>9.0f} files/s {rate * size / 1e6:>9.1f} MB/s  ({seconds:.2f} s)")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--size-kb", type=int, default=100)
    parser.add_argument("--dir", type=Path, default=None, help="folder on the disk to measure (default: bench/out/tmp)")
    args = parser.parse_args()
    size = args.size_kb * 1000
    if args.dir is None:
        args.dir = ROOT / "bench" / "out" / "tmp"
        args.dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kjda-bench-storage-", dir=args.dir))
    try:
        _setup_django(work / "data")
        from kjda.storage.digests import OPENSSL_SM3

        payloads = _payloads(args.count, size)
        print(f"{args.count} files x {size / 1000:.0f} KB in {work}; SM3 via ", end="")
        print("OpenSSL" if OPENSSL_SM3 else "gmssl (pure Python)")
        raw = _report(
            "raw os write+fsync", lambda: _raw_write(work / "raw", payloads), *(args.count, size)
        )
        _report("SHA-256 + SM3 only (no I/O)", lambda: _hash_only(payloads), args.count, size)
        stored = _report(
            "blob_store (local backend)", lambda: _blob_store_all(payloads), *(args.count, size)
        )
        _report(
            "blob_store again (dedup hits)", lambda: _blob_store_all(payloads), *(args.count, size)
        )
        print(f"blob_store / raw ceiling: {stored / raw:.0%}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
