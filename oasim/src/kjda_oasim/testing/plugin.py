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

# The sample corpus drives ~60 tests (OFD, PDF/A, signatures, formats). Without it they would
# all be skipped and the run would still look green, so a missing corpus stops the run instead.
# KJDA_SAMPLES_OPTIONAL=1 lets someone without the corpus run the rest (never set in CI).
SAMPLES_OPTIONAL = "KJDA_SAMPLES_OPTIONAL"


def samples_problem(samples, env) -> str | None:
    """Why this run may not go ahead without the corpus, or None when it may."""
    if samples.is_dir() and any(samples.iterdir()):
        return None
    if env.get(SAMPLES_OPTIONAL) == "1" and env.get("CI") != "true":
        return None
    return (f"样本库缺失 / the sample corpus is missing or empty: {samples}. Put it there "
            f"(../shared/samples beside the checkout) or point KJDA_SAMPLES_DIR at it; to run "
            f"without it outside CI (its tests are then skipped) set {SAMPLES_OPTIONAL}=1.")


def pytest_configure(config) -> None:
    import pytest

    from kjda_oasim.testing import SAMPLES

    problem = samples_problem(SAMPLES, os.environ)
    if problem:
        raise pytest.UsageError(problem)


# Fixtures every connector's tests may use, wherever the connector lives (a vendor package too).
pytest_plugins = ["kjda_oasim.testing.fixtures"]

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
