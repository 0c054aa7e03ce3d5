"""pytest plugin loaded with `-p` before Django is set up: tests keep their data (blobs,
SQLite, secret key) in a throw-away folder, never in ./kjda-data, removed when the run ends."""

import atexit
import os
import shutil
import tempfile

if "KJDA_DATA_DIR" not in os.environ:  # a folder given by the caller is theirs to keep
    os.environ["KJDA_DATA_DIR"] = tempfile.mkdtemp(prefix="kjda-test-")
    atexit.register(shutil.rmtree, os.environ["KJDA_DATA_DIR"], True)

# No periodic audit checkpoints into the shared test blob store: a checkpoint left by one test
# would make every later test's log look truncated. Tests of checkpoints use their own store.
os.environ.setdefault("KJDA_AUDIT_CHECKPOINT_MINUTES", "0")

# The OA simulators, the test OpenID provider and live servers listen on loopback, which the
# outbound guard refuses by default (kjda.outbound): admit it for the suite. Tests of the
# guard itself override the setting.
os.environ.setdefault("KJDA_OUTBOUND_ALLOW", "127.0.0.1,::1,localhost")
