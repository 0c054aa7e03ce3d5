"""What a watermark costs per response (issue 18 item 4): a 1-page and a 100-page PDF/A, a
large JPEG, and one phone page image, each beside the floor it cannot beat measured in the same
run (the same file opened and saved unchanged by pikepdf; the JPEG decoded and re-encoded by
Pillow), and hashlib SHA-256 MB/s as this machine's speed.

Run: python bench/bench_watermark.py [--rounds 20]
Prints milliseconds (median and p95) per file. Nothing is stored; the original bytes are only
read.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _reference import peak_rss_mb, sha256_mb_per_s  # noqa: E402

SAMPLE_JPEG = (Path(__file__).resolve().parents[2] / "shared" / "samples" / "ofd_edge_cases"
               / "ofdrw_converter_containsJPEG_wps.ofd")


def timed(fn: Callable[[], object], rounds: int) -> tuple[float, float]:
    fn()  # warm up (the font, the sRGB profile)
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def pdfa_pages(pages: int) -> bytes:
    """A PDF/A-2b of `pages` text pages in our embedded CJK font, as renditions are."""
    from reportlab.pdfgen import canvas

    from kjda.formats.fonts import cjk_font
    from kjda.formats.pdfa import make_pdfa2b

    font = cjk_font()
    buf = io.BytesIO()
    c = canvas.Canvas(buf, initialFontName=font)
    for n in range(pages):
        c.setFont(font, 11)
        for line in range(40):
            c.drawString(60, 780 - line * 18, f"第 {n + 1} 页 第 {line + 1} 行 报销差旅费 1280.50 元")
        c.showPage()
    c.save()
    return make_pdfa2b(buf.getvalue(), title=f"{pages} 页", author="bench")


def large_jpeg() -> bytes:
    """The corpus's 3648×2736 camera JPEG when the samples are there, else one of that size."""
    if SAMPLE_JPEG.exists():
        with zipfile.ZipFile(SAMPLE_JPEG) as z:
            return z.read(next(n for n in z.namelist() if n.lower().endswith(".jpeg")))
    from PIL import Image

    img = Image.radial_gradient("L").resize((3648, 2736)).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    import pikepdf
    from PIL import Image

    from kjda.formats.watermark import Mark, watermark
    from kjda.formats.watermark.pages import pdf_page_png

    mark = Mark(mark_id="0123456789abcdef", person="李四", department="审计部",
                time="2026-12-07T17:40:00+08:00", loan_no="JY-2026-0042")
    key = b"bench-key"

    def resave(data: bytes) -> None:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            pdf.save(io.BytesIO(), compress_streams=True)

    def recode(data: bytes) -> None:
        Image.open(io.BytesIO(data)).save(io.BytesIO(), "JPEG", quality=90)

    print(f"reference: hashlib SHA-256 {sha256_mb_per_s():.0f} MB/s on this machine")
    one, hundred, jpeg = pdfa_pages(1), pdfa_pages(100), large_jpeg()
    w, h = Image.open(io.BytesIO(jpeg)).size
    rows = [
        (f"PDF/A 1 page ({len(one) // 1024} KB): watermark", lambda: watermark(one, mark, key=key)),
        ("  floor: pikepdf open + save unchanged", lambda: resave(one)),
        (f"PDF/A 100 pages ({len(hundred) // 1024} KB): watermark",
         lambda: watermark(hundred, mark, key=key)),
        ("  floor: pikepdf open + save unchanged", lambda: resave(hundred)),
        (f"JPEG {w}x{h} ({len(jpeg) // 1024} KB): watermark",
         lambda: watermark(jpeg, mark, key=key)),
        ("  floor: Pillow decode + encode", lambda: recode(jpeg)),
        ("phone page image (page 50 of 100, 1080 px): watermark + render",
         lambda: pdf_page_png(hundred, 49, mark=mark, key=key)),
        ("  the same page rendered without a mark", lambda: pdf_page_png(hundred, 49)),
    ]
    for label, fn in rows:
        p50, p95 = timed(fn, args.rounds)
        print(f"{label:66s} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms")
    print(f"peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
