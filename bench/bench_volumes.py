"""组卷 for 100,000 vouchers of one year, then closing every volume (numbers, volume metadata,
卷内目录 and 备考表 as PDF/A + xlsx into the blob store). Target: assembly under 60 s, memory
under 300 MB (issue 17).

Run: python bench/bench_volumes.py [--records 100000] [--db sqlite|postgres]
     [--pg-url postgres://postgres@127.0.0.1:5432/kjda_bench_volumes] [--max-items 1000]

The vouchers are inserted as bulk rows (not through ingest: this measures the assembly, not
filing) into a throw-away database and blob store, with one file row each. Beside the figures it
prints a reference measured in the same run (hashlib SHA-256 over 256 MB, the stock way), so the
seconds can be read against this machine's speed at the time. BENCH_PROFILE=cumulative|tottime
prints a cProfile of the closing.

Measured 2026-12-07 on the shared 2-core machine (other sessions busy; reference ~1,950 MB/s):
SQLite: assemble 1.9 s (109 volumes), no-op re-run 0.9 s, close all 62.5 s, peak RSS 249 MB.
PostgreSQL: assemble 4.6 s, no-op 0.9 s, close all 84.5 s, peak RSS 196 MB. Closing is mostly
the registers (reportlab drawing ~1/3, openpyxl ~1/7; reportlab runs its pure-Python fp_str here:
with the rl-accel wheel on the path the PDF drawing takes about half the time) and the blob
store's fsyncs (four documents per volume).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from _reference import peak_rss_mb, sha256_mb_per_s

ROOT = Path(__file__).resolve().parent.parent
BATCH = 5000




def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/kjda_bench_volumes")
    parser.add_argument("--max-items", type=int, default=1000,
                        help="size limit per volume (0: none, one volume per month and word)")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="kjda-bench-volumes-")
    os.environ["KJDA_DATA_DIR"] = tmp.name
    os.environ.setdefault("KJDA_SECRET_KEY", "bench-volumes")
    if args.db == "postgres":
        os.environ["DATABASE_URL"] = args.pg_url
        _pg_recreate(args.pg_url)
    sys.path.insert(0, str(ROOT / "src"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "kjda.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    reference = sha256_mb_per_s()

    from django.db import transaction
    from django.utils import timezone

    from kjda.accounts.services import system_user
    from kjda.archives.models import Arrangement, Record, RecordFile, RecordStatus
    from kjda.archives.numbering import class_code_build
    from kjda.archives.services import fonds_ensure, rule_for_category
    from kjda.lifecycle.volumes.services import volume_close, volume_rule_set, volumes_assemble
    from kjda.storage.models import Blob

    fonds = fonds_ensure(code="Z001", name="基准测试单位")
    fonds.arrangement = Arrangement.BY_VOLUME
    fonds.save()
    rule = rule_for_category(name="记账凭证")
    actor = system_user(name="bench", roles=["archivist"])
    year = 2024
    class_code = class_code_build(fonds=fonds, category=rule.category, fiscal_year=year,
                                  retention=rule.retention)
    Blob.objects.create(sha256="0" * 64, sm3="0" * 64, size=48_000)
    rng = random.Random(17)
    words = ["记"] * 7 + ["收", "付", "转"]
    counters: dict[str, int] = {}
    t0 = time.perf_counter()
    now = timezone.now()
    for start in range(0, args.records, BATCH):
        rows = []
        for _ in range(min(BATCH, args.records - start)):
            day = date(year, 1, 1) + timedelta(days=rng.randrange(366))
            word = rng.choice(words)
            counters[word] = counters.get(word, 0) + 1
            rows.append(Record(
                fonds=fonds, rule=rule, category=rule.category, class_code=class_code,
                fiscal_year=year, retention=rule.retention, title="报销差旅费",
                responsible="财务部", date=day, period=day.month,
                document_no=f"{word}-{counters[word]:06d}", voucher_type=word,
                status=RecordStatus.FILED, filed_at=now, page_count=rng.randint(1, 6)))
        with transaction.atomic():
            Record.objects.bulk_create(rows, batch_size=1000)
            RecordFile.objects.bulk_create(
                [RecordFile(record=r, blob_id="0" * 64, sequence=1, filename="v.pdf",
                            size=rng.randint(20_000, 400_000), sha256="0" * 64, sm3="0" * 64)
                 for r in rows], batch_size=1000)
    insert_s = time.perf_counter() - t0
    volume_rule_set(fonds=fonds, category=rule.category, period="month",
                    max_items=args.max_items or None, by_voucher_word=True, actor=actor)

    t1 = time.perf_counter()
    result = volumes_assemble(fonds=fonds, fiscal_year=year, actor=actor)
    assemble_s = time.perf_counter() - t1
    rss_after_assembly = peak_rss_mb()
    t2 = time.perf_counter()
    again = volumes_assemble(fonds=fonds, fiscal_year=year, actor=actor)
    again_s = time.perf_counter() - t2

    from kjda.archives.models import Volume

    t3 = time.perf_counter()
    if os.environ.get("BENCH_PROFILE"):
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.enable()
    for volume in Volume.objects.filter(pk__in=result.volume_ids).order_by("pk"):
        volume_close(volume=volume, actor=actor)
    if os.environ.get("BENCH_PROFILE"):
        prof.disable()
        pstats.Stats(prof).sort_stats(os.environ["BENCH_PROFILE"]).print_stats(30)
    close_s = time.perf_counter() - t3
    closed = Volume.objects.filter(status="closed").count()
    numbered = Record.objects.filter(archive_no__isnull=False).count()

    print(f"database: {args.db}; vouchers: {args.records:,}; rule: by month and voucher word, "
          f"max {args.max_items or '∞'} items per volume")
    print(f"reference: hashlib sha256 {reference:,.0f} MB/s over 256 MB")
    print(f"insert (bulk rows):        {insert_s:7.1f} s")
    print(f"assemble:                  {assemble_s:7.1f} s  → {result.volumes} volumes, "
          f"{result.moved:,} items placed  (target < 60 s)")
    print(f"assemble again (no-op):    {again_s:7.1f} s  → moved {again.moved}")
    print(f"close all (+PDF/A, xlsx):  {close_s:7.1f} s  → {closed} closed, {numbered:,} items numbered")
    print(f"peak RSS: after assembly {rss_after_assembly:.0f} MB, at the end {peak_rss_mb():.0f} MB "
          f"(target < 300 MB)")
    ok = assemble_s < 60 and close_s < 60 and peak_rss_mb() < 300 and numbered == args.records
    tmp.cleanup()
    return 0 if ok else 1


def _pg_recreate(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


if __name__ == "__main__":
    raise SystemExit(main())
