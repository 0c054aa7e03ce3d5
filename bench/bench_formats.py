"""Per-file cost of identification, probing and the PDF/A check, and of long-term renditions.

Run: python bench/bench_formats.py [--rounds 300]
Prints milliseconds per file (median and p95) for the ingest benchmark's ~100 KB voucher PDF:
`identify` + `probe` as ingest runs them now (pikepdf open, damage and truncation checks, the
PDF/A checker), the PDF/A checker alone, and the bare pikepdf open the probe did before; then the
cost of making a PDF/A-2b rendition of a JPEG scan, a PNG scan and a PDF with embedded fonts.
"""

from __future__ import annotations

import argparse
import atexit
import io
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import bench_dir  # noqa: E402


def timed(fn: Callable[[], object], rounds: int) -> tuple[float, float]:
    fn()  # warm up (imports, the sRGB profile)
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kjda.settings")
    if "KJDA_DATA_DIR" not in os.environ:  # a temporary one, removed at exit
        os.environ["KJDA_DATA_DIR"] = bench_dir("kjda-bench-fmt-")
        atexit.register(shutil.rmtree, os.environ["KJDA_DATA_DIR"], True)
    import django

    django.setup()
    import pikepdf
    from PIL import Image

    from kjda.formats import handler_for, identify
    from kjda.formats.pdfa_check import pdfa_check
    from kjda.ingest.longterm import image_to_pdfa, pdf_to_pdfa
    from kjda.ingest.tests.test_pdfa import reportlab_pdf
    from kjda_oasim.factories import voucher_pdf

    pdf = voucher_pdf(number="00001", summary="报销差旅费 第1笔", amount=Decimal("1280.50"),
                      day=date(2024, 3, 15), pad_to=100_000)

    def ingest_identify() -> None:
        fh = io.BytesIO(pdf)
        info = identify(fh)
        handler_for(info.name).probe(fh)

    def bare_open() -> None:
        with pikepdf.open(io.BytesIO(pdf)) as doc:
            len(doc.pages)

    rows = [(f"identify + probe, {len(pdf) // 1024} KB voucher PDF (now)", ingest_identify),
            ("  of which the PDF/A checker alone (own pikepdf open)", lambda: pdfa_check(pdf)),
            ("  bare pikepdf open + page count (the probe before)", bare_open)]
    for label, fn in rows:
        p50, p95 = timed(fn, args.rounds)
        print(f"{label:58s} p50 {p50:6.2f} ms   p95 {p95:6.2f} ms")

    scan = io.BytesIO()
    Image.effect_noise((2480, 3508), 40).convert("RGB").save(scan, "JPEG", quality=85)  # A4 300 dpi
    png = io.BytesIO()
    Image.effect_noise((1240, 1754), 40).convert("RGB").save(png, "PNG")  # A4 150 dpi
    embedded = reportlab_pdf(["记账凭证 记-0015", "金额 1,280.50"] * 10)
    renditions = [
        (f"PDF/A-2b rendition of a JPEG scan ({len(scan.getvalue()) // 1024} KB, A4 300 dpi)",
         lambda: image_to_pdfa(scan.getvalue(), title="t", author="a")),
        (f"PDF/A-2b rendition of a PNG scan ({len(png.getvalue()) // 1024} KB, A4 150 dpi)",
         lambda: image_to_pdfa(png.getvalue(), title="t", author="a")),
        (f"PDF/A-2b rendition of a PDF with embedded fonts ({len(embedded) // 1024} KB)",
         lambda: pdf_to_pdfa(embedded, title="t", author="a")),
    ]
    for label, fn in renditions:
        p50, p95 = timed(fn, max(10, args.rounds // 20))
        print(f"{label:58s} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms")
    print("target: identification + PDF/A check a few ms per file on the common path")


if __name__ == "__main__":
    main()
