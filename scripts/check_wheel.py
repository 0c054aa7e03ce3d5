"""Build the kjda wheel and fail if it carries anything that is not the product: tests,
conftest.py, test helpers or the OA simulator (those are kjda-oasim's, in ./oasim)."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

NOT_PRODUCT = re.compile(r"(^|/)(tests|testing|sim)/|(^|/)conftest\.py$|kjda_oasim|/demo\.py$")


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="kjda-wheel-") as out:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(root),  # noqa: S603
                        "-w", out], check=True, stdout=subprocess.DEVNULL)
        wheel = next(Path(out).glob("kjda-*.whl"))
        names = zipfile.ZipFile(wheel).namelist()
    bad = [n for n in names if NOT_PRODUCT.search(n)]
    for name in bad:
        print(f"not product code in the wheel: {name}", file=sys.stderr)
    templates = [n for n in names if "/templates/" in n]
    if not templates:
        print("the wheel has no templates: package-data is broken", file=sys.stderr)
    print(f"wheel {wheel.name}: {len(names)} files, {len(bad)} not product")
    return 1 if bad or not templates else 0


if __name__ == "__main__":
    sys.exit(main())
