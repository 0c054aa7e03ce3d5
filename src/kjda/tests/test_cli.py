"""The `kjda` command: serve starts a usable system on a fresh data dir; audit verify reports."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

KJDA = str(Path(sys.executable).with_name("kjda"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_on_a_fresh_data_dir_prints_the_password_and_serves_ui_and_api(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KJDA_ADMIN_PASSWORD")}
    env["KJDA_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.Popen([KJDA, "serve", "--port", str(port), "--workers", "1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines: list[str] = []
        deadline = time.time() + 90
        while time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "running: http://" in line:
                break
        output = "".join(lines)
        assert f"http://127.0.0.1:{port}/" in output, output
        password = next(ln.split(":", 1)[1].strip() for ln in lines if "password:" in ln)
        for _ in range(100):
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            time.sleep(0.2)
        login = urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=30)
        assert login.status == 200
        # the generated password is right, but the API waits until it is changed (on the
        # web, then TOTP: see tests/e2e/test_first_run.py)
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            json.dumps({"username": "admin", "password": password}).encode(),
            {"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=30)
        assert refused.value.code == 403
        assert json.loads(refused.value.read())["code"] == "password_change_required"
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            json.dumps({"username": "admin", "password": "wrong-password"}).encode(),
            {"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as wrong:
            urllib.request.urlopen(req, timeout=30)
        assert wrong.value.code == 401
        docs = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/docs", timeout=30)
        assert docs.status == 200
    finally:
        proc.terminate()
        rest, _ = proc.communicate(timeout=30)
    # Shutting down signed a checkpoint of the audit log (the token request above is in it).
    assert "audit checkpoint (shutdown)" in rest, rest
    assert list((tmp_path / "data" / "blobs" / "checkpoints").iterdir())
    second = subprocess.run([KJDA, "audit", "verify"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert second.returncode == 0, second.stderr
    assert "intact" in second.stdout
    assert "covered by signed checkpoint" in second.stdout and "0 after it" in second.stdout


@pytest.mark.django_db(transaction=True)
def test_audit_verify_exits_non_zero_naming_the_altered_event(settings):
    from django.db import connection

    from kjda.audit.services import audit_log
    from kjda.cli import main

    for i in range(3):
        audit_log(action="record.view", object_type="record", object_id=str(i))
    assert main(["audit", "verify"]) == 0
    with connection.cursor() as cur:
        cur.execute("UPDATE audit_auditevent SET object_id = 'forged' WHERE seq = 2")
    assert main(["audit", "verify"]) == 1
