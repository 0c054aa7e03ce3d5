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

_DB_FIXTURES = ("db", "transactional_db", "django_db_reset_sequences",
                "django_db_serialized_rollback", "live_server")


def pytest_collection_modifyitems(items) -> None:
    """Every test that may use the database may also read through the read-only `search`
    alias (kjda.db.routers; a test mirror of `default`): searches run there outside a
    transaction, so a transactional test exercises the read-only connection."""
    import pytest

    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None and not any(f in item.fixturenames for f in _DB_FIXTURES):
            continue
        kwargs = dict(marker.kwargs) if marker is not None else {}
        databases = kwargs.get("databases")
        if databases == "__all__":
            continue
        kwargs["databases"] = sorted({*(databases or ["default"]), "search"})
        item.add_marker(pytest.mark.django_db(*(marker.args if marker else ()), **kwargs),
                        append=False)
