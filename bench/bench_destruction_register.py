"""The 会计档案销毁清册 for 100,000 items, PDF/A and Excel, generated from the database.

Run: python bench/bench_destruction_register.py [--items 100000] [--dir /tmp/x]

Builds a throw-away SQLite archive (migrations applied), inserts the records and one destruction
batch holding them all with bulk rows (not through ingest: what is measured is the register),
then times `destruction_register` rendered by `register_pdf` and by `register_xlsx`: the rows
stream from the database in chunks (kjda.lifecycle.destruction.selectors.register_rows), never
as a list. Prints seconds and peak RSS beside a reference measured in the same run (SHA-256 over
256 MB), so figures from different machines can be compared. Target (issue 17): under 60 s and
under 300 MB each.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from _reference import peak_rss_mb, sha256_mb_per_s

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 5000


def _setup_django(data_dir: Path) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "kjda.settings"
    os.environ["KJDA_DATA_DIR"] = str(data_dir)
    os.environ["STORAGE_URL"] = (data_dir / "blobs").as_uri()
    os.environ.pop("DATABASE_URL", None)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)




def _populate(items: int) -> int:
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from kjda.archives.models import Record, RecordStatus
    from kjda.archives.services import fonds_ensure, rule_for_category
    from kjda.lifecycle.destruction.models import DestructionBatch, DestructionItem

    fonds = fonds_ensure(code="Z001", name="基准测试单位")
    rule = rule_for_category(name="记账凭证")
    user = get_user_model().objects.create_user("bench-archivist")
    batch = DestructionBatch.objects.create(number="XH-2055-0001", fonds=fonds, created_by=user,
                                            title="1990–2024年度记账凭证")
    titles = ["报销差旅费", "采购办公用品", "支付供应商货款", "收到客户回款", "计提工资",
              "缴纳增值税", "固定资产折旧", "银行手续费"]
    done = 0
    while done < items:
        n = min(CHUNK, items - done)
        with transaction.atomic():
            records = []
            for i in range(done, done + n):
                year = 1990 + i % 35
                records.append(Record(
                    fonds=fonds, rule=rule, category_id=rule.category_id, fiscal_year=year,
                    retention="D30", class_code=f"PZ·{year}·D30", status=RecordStatus.FILED,
                    archive_no=f"Z001-PZ·{year}·D30-{i // 35 + 1:06d}", item_no=i // 35 + 1,
                    title=f"{year}年{i % 12 + 1}月{titles[i % len(titles)]}（记-{i:06d}）",
                    responsible="财务部", date=date(year, i % 12 + 1, 1),
                    document_no=f"记-{i:06d}", retention_expires_on=date(year + 30, 12, 31)))
            Record.objects.bulk_create(records, batch_size=1000)
            DestructionItem.objects.bulk_create(
                [DestructionItem(batch=batch, record=r) for r in records], batch_size=1000)
        done += n
    return batch.pk


def _render(work: Path, batch_id: int, kind: str) -> None:
    """In a process of its own (as the task worker or a web request would be): one register,
    its seconds, size and this process' peak RSS."""
    _setup_django(work)
    from kjda.lifecycle.destruction.models import DestructionBatch
    from kjda.lifecycle.destruction.selectors import destruction_register
    from kjda.lifecycle.registers import register_pdf, register_xlsx

    render = register_pdf if kind == "pdf" else register_xlsx
    batch = DestructionBatch.objects.select_related("fonds").get(pk=batch_id)
    before = peak_rss_mb()
    start = time.perf_counter()
    data = render(destruction_register(batch, on=date(2055, 3, 1)))
    seconds = time.perf_counter() - start
    print(f"{seconds:.2f} {len(data)} {before:.0f} {peak_rss_mb():.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--render", nargs=3, metavar=("WORK", "BATCH", "KIND"),
                        help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.render:
        _render(Path(args.render[0]), int(args.render[1]), args.render[2])
        return
    work = Path(tempfile.mkdtemp(prefix="kjda-bench-xh-", dir=args.dir))
    try:
        _setup_django(work)
        ref = sha256_mb_per_s()
        start = time.perf_counter()
        batch_id = _populate(args.items)
        print(f"inserted {args.items:,} records and items in {time.perf_counter() - start:.1f} s")
        ok = True
        for name, kind in (("PDF/A", "pdf"), ("xlsx", "xlsx")):
            out = subprocess.run(  # noqa: S603 (our own interpreter and script)
                [sys.executable, __file__, "--render", str(work), str(batch_id), kind],
                check=True, capture_output=True, text=True).stdout.split()
            seconds, size, before, peak = float(out[0]), int(out[1]), out[2], float(out[3])
            ok &= seconds < 60 and peak < 300
            print(f"销毁清册 {name:5} {args.items:,} items: {seconds:6.1f} s, {size / 1e6:.1f} MB, "
                  f"peak RSS {peak:.0f} MB (the process before rendering: {before} MB)")
        print(f"reference: SHA-256 {ref:.0f} MB/s on this machine in this run; "
              "target < 60 s and < 300 MB each")
        print("within target" if ok else "OVER TARGET")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
