"""OFD figures: how fast a zip bomb is refused, and per-file cost of reading, verifying and
rendering the sample OFDs (../shared/samples). Prints figures; asserts nothing.

    .venv/bin/python bench/bench_ofd.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import django  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kjda.settings")
django.setup()

from kjda.formats.ofd import OFDError, OFDPackage  # noqa: E402
from kjda.formats.ofd.render import render_pdfa, render_png  # noqa: E402
from kjda.formats.ofd.signatures import verify_package  # noqa: E402

SAMPLES = Path(os.environ.get("KJDA_SAMPLES_DIR", ROOT.parent / "shared" / "samples"))


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def refuse_bomb() -> str:
    try:
        OFDPackage.open(SAMPLES / "ofd_edge_cases" / "ofdrw_reader_zip_boom.zip")
    except OFDError as exc:
        return exc.code
    return "NOT REFUSED"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    refuse_bomb()  # imports warm
    t, code = timed(refuse_bomb, max(args.repeat, 20))
    print(f"zip bomb (1 GiB declared, 1 MB file): refused with {code} in {t * 1000:.2f} ms (median)")

    rows = []
    files = sorted((SAMPLES / "ofd_invoices").glob("*.ofd")) + sorted((SAMPLES / "ofd_general").glob("*.ofd"))
    for path in files:
        def read(path=path):
            with OFDPackage.open(path) as pkg:
                doc = pkg.documents()[0]
                return doc.text(), doc.attachments(), doc.custom_tags()

        def verify(path=path):
            with OFDPackage.open(path) as pkg:
                return verify_package(pkg)

        def pdfa(path=path):
            with OFDPackage.open(path) as pkg:
                return render_pdfa(pkg.documents()[0])

        def png(path=path):
            with OFDPackage.open(path) as pkg:
                return render_png(pkg.documents()[0], dpi=144)

        t_read, _ = timed(read, args.repeat)
        t_verify, sigs = timed(verify, args.repeat)
        t_pdfa, _ = timed(pdfa, max(1, args.repeat // 2))
        t_png, _ = timed(png, max(1, args.repeat // 2))
        rows.append((path.name[:44], t_read, len(sigs), t_verify, t_pdfa, t_png))
    print(f"{'file':46} {'read+text ms':>12} {'sigs':>4} {'verify ms':>10} {'PDF/A ms':>9} {'PNG ms':>8}")
    for name, r, n, v, a, p in rows:
        print(f"{name:46} {r * 1000:12.1f} {n:4d} {v * 1000:10.1f} {a * 1000:9.0f} {p * 1000:8.0f}")
    print(f"median over {len(rows)} files: read+text {statistics.median(r[1] for r in rows) * 1000:.1f} ms, "
          f"verify {statistics.median(r[3] for r in rows if r[2]) * 1000:.1f} ms (signed files), "
          f"PDF/A {statistics.median(r[4] for r in rows) * 1000:.0f} ms, "
          f"PNG {statistics.median(r[5] for r in rows) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
