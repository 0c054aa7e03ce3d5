"""pytest plugin loaded with `-p` before Django is set up: tests keep their data (blobs,
SQLite, secret key) in a throw-away folder, never in ./kjda-data."""

import os
import tempfile

os.environ.setdefault("KJDA_DATA_DIR", tempfile.mkdtemp(prefix="kjda-test-"))
