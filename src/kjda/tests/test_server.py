"""`kjda serve` starts its task workers as separate processes at a lower CPU priority, restarts
one that dies, and stops them with the server."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from kjda.server import TaskWorkers


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _wait(condition, seconds: float = 30.0) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_task_workers_run_niced_are_restarted_and_stopped(tmp_path, monkeypatch):
    monkeypatch.setenv("KJDA_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    subprocess.run([str(Path(os.sys.executable).with_name("kjda")), "manage", "migrate",
                    "--verbosity", "0"], check=True, timeout=300)
    workers = TaskWorkers(2, nice=7)
    workers.start()
    try:
        first = [p.pid for p in workers.procs]
        base = os.nice(0)
        assert _wait(lambda: all(_nice(pid) == base + 7 for pid in first))
        workers.procs[0].kill()
        assert _wait(lambda: workers.procs[0].pid != first[0] and workers.procs[0].poll() is None)
    finally:
        workers.stop()
    assert all(p.poll() is not None for p in workers.procs)
