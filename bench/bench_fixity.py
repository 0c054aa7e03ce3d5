"""Fixity audit rate on the local store vs the raw read + SHA-256 + SM3 rate of the same files.

Run: python bench/bench_fixity.py [--total-mb 2048] [--size-mb 4] [--dir /path/on/target/disk]
Target (issue 19): audit rate >= 0.8 x the reference rate, measured in the same run.

The reference reads each stored blob file in 1 MiB chunks and feeds hashlib.sha256 and the SM3
the store itself uses (kjda.storage.digests.new_sm3: OpenSSL's when the build has it, else the
pure-Python gmssl one; which is printed), nothing else. The audit is
kjda.storage.services.fixity_audit(mode="all", bytes_per_second=0): the same read and hashes plus
one BlobFixity row per blob, the run report, and the orphan walk of the store. Both passes start
cold: the page cache of every blob file is dropped first (posix_fadvise DONTNEED), and each pass
is measured twice in alternation (ref, audit, ref, audit) so neither gains from going second.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _reference import peak_rss_mb, sha256_mb_per_s  # noqa: E402


def _setup_django(data_dir: Path) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "kjda.settings"
    os.environ["KJDA_DATA_DIR"] = str(data_dir)
    os.environ["STORAGE_URL"] = (data_dir / "blobs").as_uri()
    os.environ.pop("KJDA_REPLICA_URL", None)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _build(total: int, size: int) -> list[Path]:
    import io

    from kjda.storage.services import blob_put, blob_rows_add, get_backend

    base = os.urandom(size)
    digests = []
    for i in range(max(1, total // size)):
        data = i.to_bytes(8, "big") + base[8:]  # distinct content, no dedup
        digests.append(blob_put(source=io.BytesIO(data)))
    blob_rows_add(digests)
    backend = get_backend()
    return [backend.path_for(d.sha256) for d in digests]  # type: ignore[attr-defined]


def _drop_cache(paths: list[Path]) -> None:
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _reference(paths: list[Path]) -> tuple[int, float]:
    from kjda.storage.digests import CHUNK_SIZE, new_sm3

    start = time.perf_counter()
    total = 0
    for p in paths:
        sha, sm = hashlib.sha256(), new_sm3()
        with open(p, "rb") as fh:
            while chunk := fh.read(CHUNK_SIZE):
                sha.update(chunk)
                sm.update(chunk)
                total += len(chunk)
        sha.hexdigest()
        sm.hexdigest()
    return total, time.perf_counter() - start


def _audit() -> tuple[int, float]:
    from kjda.storage.services import fixity_audit

    start = time.perf_counter()
    run = fixity_audit(mode="all", bytes_per_second=0)
    elapsed = time.perf_counter() - start
    assert run.mismatches == 0 and run.missing == 0, run.findings[:3]
    return run.bytes_checked, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-mb", type=int, default=2048)
    parser.add_argument("--size-mb", type=float, default=4)
    parser.add_argument("--dir", type=Path, default=None, help="a folder on the disk to test")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-fixity-", dir=args.dir))
    try:
        _setup_django(work)
        from kjda.storage.digests import OPENSSL_SM3

        mb = 1024 * 1024
        t0 = time.perf_counter()
        paths = _build(args.total_mb * mb, int(args.size_mb * mb))
        print(f"built {len(paths)} blobs of {args.size_mb:g} MiB in {time.perf_counter() - t0:.1f}"
              f" s under {work}; SM3: {'OpenSSL' if OPENSSL_SM3 else 'gmssl (pure Python)'}")
        refs, audits = [], []
        for _ in range(2):
            _drop_cache(paths)
            n, s = _reference(paths)
            refs.append(n / mb / s)
            _drop_cache(paths)
            n, s = _audit()
            audits.append(n / mb / s)
        ref, audit = max(refs), max(audits)
        print(f"reference read + SHA-256 + SM3: {' / '.join(f'{r:.0f}' for r in refs)} MiB/s")
        print(f"fixity audit (unthrottled):     {' / '.join(f'{a:.0f}' for a in audits)} MiB/s")
        print(f"ratio audit / reference (best of each): {audit / ref:.2f} (target >= 0.80)")
        print(f"hashlib SHA-256 alone in memory: {sha256_mb_per_s():.0f} MB/s; "
              f"peak RSS {peak_rss_mb():.0f} MB")
        return 0 if audit / ref >= 0.8 else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
