"""Invoice extraction throughput per format, and OCR seconds per page.

Run: python bench/bench_invoices.py [--seconds 10] [--workers 2]
Formats: OFD (every invoice in ../shared/samples/ofd_invoices/), XML (invoice_xml/), text PDF
(einvoice_pdf/), scanned image (a 1600×1000 picture of a real invoice face with its QR code,
read by QR + OCR) and a scan without QR (OCR alone). Each format runs for --seconds in one
process and then in --workers processes (the machine has 2 cores); the figure is files/s.
OCR: seconds per page in one process after the engine is loaded, and the load itself.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT.parent / "shared" / "samples"


def _setup() -> None:
    sys.path.insert(0, str(ROOT / "src"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kjda.settings")
    os.environ.setdefault("KJDA_DATA_DIR", str(ROOT / "bench" / "out" / "invoices"))
    import django

    django.setup()


def _inputs() -> dict[str, list[tuple[bytes, str]]]:
    from kjda.invoices.services import invoice_extract
    from kjda.invoices.tests.scan import invoice_scan

    real = invoice_extract(SAMPLES / "ofd_invoices" / "ofdrw_reader_发票示例_数电.ofd", "ofd")
    qr = (f"01,31,,{real['invoice_number']},{real['total_incl_tax']},"
          f"{real['issue_date'].replace('-', '')},,A1B2")
    return {
        "ofd": [(p.read_bytes(), "ofd") for p in sorted((SAMPLES / "ofd_invoices").glob("*.ofd"))],
        "xml": [(p.read_bytes(), "xml") for p in sorted((SAMPLES / "invoice_xml").glob("*.xml"))],
        "text pdf": [(p.read_bytes(), "pdf")
                     for p in sorted((SAMPLES / "einvoice_pdf").glob("*.pdf"))],
        "scan (QR + OCR)": [(invoice_scan(real, qr=qr, fmt="JPEG"), "jpeg")],
        "scan (OCR only)": [(invoice_scan(real), "png")],
    }


def _run(items: list[tuple[bytes, str]], seconds: float) -> tuple[int, int, float]:
    """Extract in a loop for at least `seconds`; returns (files done, files that yielded a
    number, seconds the loop took)."""
    from kjda.invoices.services import invoice_extract

    done = found = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        for data, fmt in items:
            inv = invoice_extract(data, fmt)
            done += 1
            found += bool(inv and inv["invoice_number"])
    return done, found, time.perf_counter() - t0


def _worker(args: tuple[str, float]) -> tuple[int, int, float]:
    _setup()
    name, seconds = args
    items = _inputs()[name]
    _run(items[:1], 0)  # warm: imports, the OCR engine
    if "scan" in name:
        from kjda.invoices.services import invoice_extract

        invoice_extract(*items[0])
    return _run(items, seconds)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    _setup()
    from kjda.invoices import ocr

    names = list(_inputs())
    print(f"{'format':<18} {'1 process':>12} {f'{args.workers} processes':>14}   files read")
    for name in names:
        rates = []
        for workers in (1, args.workers):
            with ProcessPoolExecutor(workers) as pool:
                t0 = time.perf_counter()
                results = list(pool.map(_worker, [(name, args.seconds)] * workers))
                elapsed = time.perf_counter() - t0
            done = sum(r[0] for r in results)
            found = sum(r[1] for r in results)
            # Rate over the timed loops only (start-up and warm-up are excluded).
            rates.append(sum(r[0] / r[2] for r in results))
        print(f"{name:<18} {rates[0]:>9.1f}/s {rates[1]:>11.1f}/s   "
              f"{found}/{done} with a number ({elapsed:.0f} s wall)")

    from PIL import Image

    from kjda.invoices.tests.scan import invoice_scan

    real = {"kind": "电子发票（普通发票）", "invoice_number": "24112000000048542163",
            "issue_date": "2024-05-28", "buyer_name": "某某科技有限公司", "seller_name": "某某酒店有限公司",
            "buyer_tax_id": "91350100M000100Y43", "seller_tax_id": "91350100M000100Y43",
            "total_excl_tax": "100.00", "total_tax": "6.00", "total_incl_tax": "106.00"}
    import io

    page = Image.open(io.BytesIO(invoice_scan(real))).convert("RGB")
    t0 = time.perf_counter()
    ocr.ocr_glyphs(page)
    first = time.perf_counter() - t0
    runs = 5
    t0 = time.perf_counter()
    for _ in range(runs):
        glyphs = ocr.ocr_glyphs(page)
    per_page = (time.perf_counter() - t0) / runs
    print(f"OCR (rapidocr-onnxruntime, {page.width}×{page.height} page, det limit "
          f"{ocr.DET_LIMIT_SIDE}px): {per_page:.2f} s/page over {runs} pages "
          f"(first call incl. model load {first:.2f} s), {len(glyphs)} characters")


if __name__ == "__main__":
    main()
