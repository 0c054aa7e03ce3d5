"""Ingest throughput through the HTTP API on SQLite: records/s, each with one ~100 KB PDF,
checks (四性) and indexing included; prints the raw local write+fsync rate as the ceiling.

    python bench/bench_ingest.py [--records 2000] [--clients 8]
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import http.client
import json
import os
import shutil
import sys
import threading
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import bench_dir, kjda_server, multipart, percentile, process_tree_cpu_seconds, token  # noqa: E402


def raw_fsync_rate(data: bytes, folder: str, seconds: float = 3.0) -> tuple[float, float]:
    """Files of `data` created, written and fsynced per second in `folder`, and the CPU seconds
    each took (kernel time: high when the file system is slow to allocate inodes)."""
    n, start, cpu = 0, time.perf_counter(), time.thread_time()
    while time.perf_counter() - start < seconds:
        path = os.path.join(folder, f"f{n}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        n += 1
    return n / (time.perf_counter() - start), (time.thread_time() - cpu) / n


def with_file_id(pdf: bytes, n: int) -> bytes:
    """`pdf` with the first half of its trailer /ID (ISO 32000 §14.4, 16 bytes in hex) set from
    `n`: same length, so every offset in the cross-reference table stays valid."""
    start = pdf.rindex(b"/ID") + pdf[pdf.rindex(b"/ID"):].index(b"<") + 1
    new_id = hashlib.md5(f"bench-{n}".encode()).hexdigest().encode()  # noqa: S324 - an identifier
    return pdf[:start] + new_id + pdf[start + 32:]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--threads", type=int, default=8, help="threads per web worker process")
    parser.add_argument("--workers", type=int, default=0, help="web worker processes (0: one per core)")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kjda.settings")
    if "KJDA_DATA_DIR" not in os.environ:  # a temporary one, removed at exit
        os.environ["KJDA_DATA_DIR"] = bench_dir("kjda-bench-gen-")
        atexit.register(shutil.rmtree, os.environ["KJDA_DATA_DIR"], True)
    import django

    django.setup()
    from kjda_oasim.factories import voucher_pdf

    # ~100 KB PDFs, every record's content distinct (a new blob, written and fsynced, each time),
    # made before timing: a few rendered vouchers, each copy with its own file identifier.
    bases = [voucher_pdf(number=f"{i:05d}", summary=f"报销差旅费 第{i}笔", amount=Decimal("1280.50"),
                         day=date(2024, 3, 15), pad_to=100_000) for i in range(min(args.records, 40))]
    pdfs = [with_file_id(bases[i % len(bases)], i) for i in range(args.records)]
    if len(set(pdfs)) != len(pdfs):
        raise SystemExit("the generated PDFs are not distinct")
    size = sum(map(len, pdfs)) / len(pdfs)
    # Its files are removed only at the end: ext4 skips recently freed inodes when it allocates
    # new ones, so thousands deleted just before the run made every file the server then
    # created cost ~0.5 ms of kernel CPU (measured here; a minute or more after the deletion).
    fsync_dir = bench_dir("kjda-fsync-")
    atexit.register(shutil.rmtree, fsync_dir, True)
    ceiling, create_cpu = raw_fsync_rate(pdfs[0], fsync_dir)

    # The request bodies too are made before timing: the clients share the server's 2 cores,
    # and a real OA's uploads come from other machines.
    bodies = []
    for i in range(args.records):
        meta = {"category": "记账凭证", "fiscal_year": 2024, "period": 3,
                "title": f"报销差旅费 第{i}笔", "date": "2024-03-15", "amount": "1280.50",
                "department": "销售部", "applicant": "张三", "document_no": f"记-{i:06d}",
                "source_system": "bench", "external_id": f"bench-{i}"}
        bodies.append(multipart(meta, [(f"记-{i:06d}.pdf", pdfs[i])]))

    with kjda_server(threads=args.threads, workers=args.workers) as (port, proc):
        bearer = token(port)
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        counter = iter(range(args.records))

        def client() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            for i in counter:
                body, ctype = bodies[i]
                t0 = time.perf_counter()
                conn.request("POST", "/api/v1/records", body,
                             {"Content-Type": ctype, "Authorization": f"Bearer {bearer}"})
                resp = conn.getresponse()
                payload = resp.read()
                elapsed = time.perf_counter() - t0
                with lock:
                    latencies.append(elapsed)
                    if resp.status != 201 or json.loads(payload)["status"] != "filed":
                        errors.append(f"{resp.status} {payload[:200]!r}")
            conn.close()

        cpu0, client_cpu0 = process_tree_cpu_seconds(proc.pid, split=True), time.process_time()
        start = time.perf_counter()
        pool = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        wall = time.perf_counter() - start
        user, system = (b - a for a, b in zip(cpu0, process_tree_cpu_seconds(proc.pid, split=True),
                                                    strict=True))
        client_cpu = time.process_time() - client_cpu0

    rate = args.records / wall
    print(f"ingest benchmark (SQLite, local blob store, {os.cpu_count()} cores, "
          f"{args.clients} concurrent clients, {args.workers or 'one per core'} web processes × "
          f"{args.threads} threads)")
    print(f"  records            : {args.records} (one {size / 1024:.0f} KB PDF each, all distinct), "
          f"errors: {len(errors)}")
    print(f"  throughput         : {rate:.0f} records/s (target >= 200)")
    print(f"  latency p50 / p95  : {percentile(latencies, 50) * 1000:.1f} / "
          f"{percentile(latencies, 95) * 1000:.1f} ms")
    print(f"  CPU per record     : server {(user + system) / args.records * 1000:.1f} ms "
          f"(user {user / args.records * 1000:.1f}, system {system / args.records * 1000:.1f}), "
          f"this client {client_cpu / args.records * 1000:.1f} ms "
          f"(load average at the end {os.getloadavg()[0]:.1f})")
    print(f"  raw write+fsync    : {ceiling:.0f} files/s of the same size (ceiling), "
          f"{create_cpu * 1000:.2f} ms CPU per file")
    if errors:
        print("  first error:", errors[0])
        sys.exit(1)


if __name__ == "__main__":
    main()
