"""Test helpers: where the shared sample corpus lives."""

import os
from pathlib import Path

# ../shared/samples beside the checkout (CI lays shared/ beside the clone as well); this file
# is oasim/src/kjda_oasim/testing/__init__.py in it.
REPO_ROOT = Path(__file__).resolve().parents[4]
SAMPLES = Path(os.environ.get("KJDA_SAMPLES_DIR", REPO_ROOT.parent / "shared" / "samples"))
