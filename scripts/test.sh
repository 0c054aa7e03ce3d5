#!/usr/bin/env bash
# Install KJDA with its test extras into .venv and run the whole test suite:
# lint, then every test on SQLite, again on SQLite with Django's stock backend
# (KJDA_SQLITE_BACKEND=stock), then on PostgreSQL (127.0.0.1:5432 by default).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]' -e ./oasim  # kjda-oasim from the folder

.venv/bin/ruff check src tests bench oasim conftest.py scripts
# Import contracts ([tool.importlinter] in pyproject.toml): layers, no cycles, no private names.
.venv/bin/lint-imports
.venv/bin/mypy  # the whole package, settings in pyproject [tool.mypy]
.venv/bin/python scripts/check_wheel.py  # no tests, test helpers or simulator in the wheel

echo "== tests on SQLite =="
.venv/bin/python -m pytest "$@"

echo "== tests on SQLite, Django's stock backend =="
# The fallback (no writer queue, no group commit) must pass too. Browser tests: once is enough.
KJDA_SQLITE_BACKEND=stock .venv/bin/python -m pytest -m "not e2e" "$@"

PG_URL=${KJDA_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/kjda}
if .venv/bin/python - "$PG_URL" <<'PY'
import sys, psycopg
try:
    psycopg.connect(sys.argv[1].rsplit("/", 1)[0] + "/postgres", connect_timeout=3).close()
except Exception as exc:
    print(f"PostgreSQL unreachable: {exc}", file=sys.stderr)
    sys.exit(1)
PY
then
    echo "== tests on PostgreSQL =="
    # Browser tests drive the UI, not the database: once (above) is enough, except the custody
    # story (issue 17), whose steps lock, number and delete rows: on PostgreSQL too.
    DATABASE_URL="$PG_URL" .venv/bin/python -m pytest --create-db -m "not e2e or story" "$@"
elif [ "${CI:-}" = "true" ]; then
    echo "PostgreSQL is required in CI" >&2
    exit 1
else
    echo "WARNING: PostgreSQL not reachable at $PG_URL: the PostgreSQL run was skipped" >&2
fi
