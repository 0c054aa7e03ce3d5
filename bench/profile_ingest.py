"""In-process profile of POST /api/v1/records: the WSGI application called directly (no HTTP
server, no client), one ~100 KB PDF per record, so the figure is the application's own CPU.

    python bench/profile_ingest.py [--records 600] [--profile pyinstrument|cprofile|none]
"""

from __future__ import annotations

import argparse
import atexit
import io
import json
import os
import shutil
import sys
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import ADMIN_PASSWORD, bench_dir, multipart  # noqa: E402
from bench_ingest import with_file_id  # noqa: E402


def _environ(method: str, path: str, body: bytes, ctype: str, bearer: str = "") -> dict:
    env = {"REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
           "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "REMOTE_ADDR": "127.0.0.1",
           "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
           "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": True,
           "wsgi.run_once": False, "wsgi.version": (1, 0), "CONTENT_TYPE": ctype,
           "CONTENT_LENGTH": str(len(body)), "HTTP_HOST": "127.0.0.1"}
    if bearer:
        env["HTTP_AUTHORIZATION"] = f"Bearer {bearer}"
    return env


# (module, attribute path) of the steps whose inclusive thread CPU time `--profile timers` reports.
_TIMED = [
    ("kjda.connectors.fastpath", "CallbackApp.__call__"),
    ("ninja.operation", "Operation.run"),
    ("ninja.operation", "Operation._run_authentication"),
    ("ninja.operation", "Operation._get_values"),
    ("ninja.operation", "Operation._result_to_response"),
    ("kjda.api.records", "record_create"),
    ("kjda.accounts.services", "token_authenticate"),
    ("django.http.multipartparser", "MultiPartParser.parse"),
    ("kjda.api.permissions", "require"),
    ("kjda.ingest.metadata", "metadata_parse"),
    ("kjda.ingest.services", "record_ingest"),
    ("kjda.archives.selectors", "record_find_existing"),
    ("kjda.ingest.pipeline", "Receive.run"),
    ("kjda.storage.services", "blob_store"),
    ("kjda.storage.backends.local", "LocalBlobBackend.put"),
    ("kjda.storage.backends.base", "spool"),
    ("kjda.storage.backends.local", "LocalBlobBackend._place"),
    ("kjda.storage.backends.local", "LocalBlobBackend._check_placed"),
    ("kjda.ingest.pipeline", "Identify.run"),
    ("kjda.formats.pdf", "PdfHandler.probe"),
    ("kjda.ingest.pipeline", "Extract.run"),
    ("kjda.ingest.pipeline", "Inspect.run"),
    ("kjda.ingest.pipeline", "InvoiceExtract.run"),
    ("kjda.ingest.pipeline", "Convert.run"),
    ("kjda.ingest.services", "_lookups"),
    ("kjda.ingest.pipeline", "Check.run"),
    ("kjda.ingest.services", "_file"),
    ("kjda.archives.services", "record_build"),
    ("kjda.archives.services", "record_assign_number"),
    ("kjda.archives.services", "record_save_new"),
    ("kjda.db.insert", "rows_insert"),
    ("kjda.archives.search", "search_index_record"),
    ("kjda.audit.services", "audit_log"),
    ("kjda.api.records", "record_detail"),
    ("ninja.renderers", "JSONRenderer.render"),
    ("django.db.backends.base.base", "BaseDatabaseWrapper.commit"),
]


class _Timers:
    """Wraps each of _TIMED to add up its inclusive thread CPU time (outermost call only)."""

    def __init__(self) -> None:
        import importlib

        self.totals: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        for module_name, path in _TIMED:
            owner = importlib.import_module(module_name)
            *parents, attr = path.split(".")
            for name in parents:
                owner = getattr(owner, name)
            self._wrap(owner, attr, path)

    def _wrap(self, owner, attr: str, label: str) -> None:
        import functools

        original = owner.__dict__[attr] if attr in getattr(owner, "__dict__", {}) else getattr(owner, attr)
        depth = [0]

        @functools.wraps(original)
        def timed(*a, **kw):
            depth[0] += 1
            t0 = time.thread_time()
            try:
                return original(*a, **kw)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    self.totals[label] = self.totals.get(label, 0.0) + time.thread_time() - t0
                    self.calls[label] = self.calls.get(label, 0) + 1

        setattr(owner, attr, timed)
        # Names imported elsewhere (`from x import f`) keep the original: patch those too.
        for module in list(sys.modules.values()):
            if getattr(module, "__name__", "").startswith("kjda") and getattr(module, attr, None) is original:
                setattr(module, attr, timed)

    def print(self, n: int) -> None:
        for _, label in _TIMED:
            if label in self.totals:
                print(f"  {label:45s} {self.totals[label] / n * 1000:7.3f} ms/record "
                      f"({self.calls[label] / n:.1f} calls)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=600)
    parser.add_argument("--profile", default="pyinstrument", choices=["pyinstrument", "cprofile", "timers", "none"])
    parser.add_argument("--out", default="")
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--sql", action="store_true", help="print the SQL of one request")
    parser.add_argument("--threads", type=int, default=1, help="concurrent requests")
    parser.add_argument("--lines", type=int, default=80)
    args = parser.parse_args()

    if "KJDA_DATA_DIR" not in os.environ:  # a temporary one, removed at exit
        os.environ["KJDA_DATA_DIR"] = bench_dir("kjda-prof-")
        atexit.register(shutil.rmtree, os.environ["KJDA_DATA_DIR"], True)
    os.environ["KJDA_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    os.environ["KJDA_MFA_REQUIRED_ROLES"] = "none"  # a throw-away instance: admin without TOTP
    os.environ.setdefault("KJDA_LOG_LEVEL", "WARNING")
    from kjda.cli import django_setup, site_prepare

    django_setup()
    site_prepare()
    from kjda.wsgi import application
    from kjda_oasim.factories import voucher_pdf

    def call(env: dict) -> tuple[str, bytes]:
        status: list[str] = []
        body = b"".join(application(env, lambda s, h, exc=None: status.append(s)))
        return status[0], body

    _, body = call(_environ("POST", "/api/v1/auth/token",
                            json.dumps({"username": "admin", "password": ADMIN_PASSWORD}).encode(),
                            "application/json"))
    bearer = json.loads(body)["token"]
    bases = [voucher_pdf(number=f"{i:05d}", summary=f"报销差旅费 第{i}笔", amount=Decimal("1280.50"),
                         day=date(2024, 3, 15), pad_to=100_000) for i in range(20)]
    pdfs = [with_file_id(bases[i % len(bases)], i) for i in range(args.records + 50)]  # distinct
    bodies = []
    for i in range(args.records + 50):
        meta = {"category": "记账凭证", "fiscal_year": 2024, "period": 3,
                "title": f"报销差旅费 第{i}笔", "date": "2024-03-15", "amount": "1280.50",
                "department": "销售部", "applicant": "张三", "document_no": f"记-{i:06d}",
                "source_system": "prof", "external_id": f"prof-{i}"}
        bodies.append(multipart(meta, [(f"记-{i:06d}.pdf", pdfs[i])]))

    def run(batch: list[tuple[bytes, str]]) -> None:
        for b, ctype in batch:
            status, out = call(_environ("POST", "/api/v1/records", b, ctype, bearer))
            if not status.startswith("201"):
                raise SystemExit(f"{status} {out[:300]!r}")

    run(bodies[:49])  # warm up: caches, first counter row, imports
    if args.sql:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            run(bodies[49:50])
        for q in queries.captured_queries:
            print(f"  SQL {q['time']}s {q['sql'][:160]}")
    else:
        run(bodies[49:50])
    timed = bodies[50:]
    profiler = None
    if args.profile == "pyinstrument":
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    elif args.profile == "cprofile":
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU, not waits on fsync
        profiler.enable()
    elif args.profile == "timers":
        profiler = _Timers()
    import gc

    gc_time = [0.0, 0]

    def gc_timer(phase: str, info: dict) -> None:
        if phase == "start":
            gc_time.append(time.thread_time())
        else:
            gc_time[0] += time.thread_time() - gc_time.pop()
            gc_time[1] += info["generation"] == 2
    gc.callbacks.append(gc_timer)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if args.threads > 1:  # as in a web worker process: concurrent requests share the GIL
        import threading

        from django.db import connections

        def worker(batch: list) -> None:
            try:
                run(batch)
            finally:
                connections.close_all()
        pool = [threading.Thread(target=worker, args=(timed[k::args.threads],))
                for k in range(args.threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    else:
        run(timed)
    gc.callbacks.remove(gc_timer)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if args.profile == "pyinstrument":
        profiler.stop()
        if args.out:
            Path(args.out).write_text(profiler.output_html())
        print(profiler.output_text(unicode=True, color=False, show_all=False))
    elif args.profile == "cprofile":
        profiler.disable()
        import pstats

        if args.out:
            profiler.dump_stats(args.out)
        pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.lines)
    n = len(timed)
    print(f"garbage collector: {gc_time[0] / n * 1000:.3f} ms/record, {gc_time[1]} full collections")
    if args.profile == "timers":
        profiler.print(n)
    print(f"in-process: {n} records, CPU {cpu / n * 1000:.2f} ms/record, wall {wall / n * 1000:.2f} "
          f"ms/record ({'with ' + args.profile + ' overhead' if profiler else 'no profiler'})")


if __name__ == "__main__":
    main()
