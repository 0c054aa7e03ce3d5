"""Test helpers: where the shared sample corpus lives."""

import os
from pathlib import Path

# ../shared/samples beside the checkout (CI lays shared/ beside the clone as well).
REPO_ROOT = Path(__file__).resolve().parents[3]
SAMPLES = Path(os.environ.get("KJDA_SAMPLES_DIR", REPO_ROOT.parent / "shared" / "samples"))
