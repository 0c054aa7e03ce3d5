"""Start a real `kjda serve` in a subprocess on loopback for the benchmarks, and talk to it."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

ADMIN_PASSWORD = "Bench-Admin-Pass-2024"
# Where the benchmarks keep their data: in the working tree, as `kjda serve` keeps ./kjda-data,
# not in /tmp. On this project's machines /tmp's ext4 block group is so full that creating a
# file there cost 0.5-0.7 ms of kernel CPU against 0.02 ms elsewhere on the same disk (perf:
# ext4 inode allocation), ~1 ms of each ingested record's 9-11 ms. KJDA_BENCH_TMP overrides it.
BENCH_TMP = Path(os.environ.get("KJDA_BENCH_TMP",
                                Path(__file__).resolve().parent / "out" / "tmp"))


def bench_dir(prefix: str) -> str:
    """A new, empty folder for one benchmark run under BENCH_TMP (the caller removes it)."""
    BENCH_TMP.mkdir(parents=True, exist_ok=True)
    return tempfile.mkdtemp(prefix=prefix, dir=BENCH_TMP)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def kjda_server(*, data_dir: str | None = None, env: dict | None = None,
                threads: int = 8, workers: int = 0, task_worker: bool = False
                ) -> Iterator[tuple[int, subprocess.Popen]]:
    """`task_worker=True` keeps `kjda serve`'s task worker processes (one per core) on, so
    queued work (e.g. OA intake archiving) runs; KJDA_PUBLIC_URL defaults to
    the loopback URL of the server."""
    own_dir = data_dir is None  # a temporary one, removed at the end (each run writes GBs)
    data_dir = data_dir or bench_dir("kjda-bench-")
    port = free_port()
    kjda = Path(sys.executable).with_name("kjda")
    # A throw-away instance: its admin gets a password token without TOTP (serve warns).
    full_env = {**os.environ, "KJDA_DATA_DIR": data_dir, "KJDA_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "KJDA_MFA_REQUIRED_ROLES": "none",
                "KJDA_LOG_LEVEL": "WARNING", "KJDA_PUBLIC_URL": f"http://127.0.0.1:{port}",
                **(env or {})}
    cmd = [str(kjda), "serve", "--port", str(port), "--threads", str(threads)]
    if workers:
        cmd += ["--workers", str(workers)]
    proc = subprocess.Popen(cmd + ([] if task_worker else ["--no-worker"]), env=full_env,
                            stdout=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            if proc.poll() is not None:
                raise RuntimeError("kjda serve exited early")
            time.sleep(0.2)
        yield port, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if own_dir:
            shutil.rmtree(data_dir, ignore_errors=True)


def token(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = json.dumps({"username": "admin", "password": ADMIN_PASSWORD})
    conn.request("POST", "/api/v1/auth/token", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    return data["token"]


def multipart(metadata: dict, files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n".encode()
             + json.dumps(metadata, ensure_ascii=False).encode() + b"\r\n"]
    for name, data in files:
        parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
                     f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                     .encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def process_tree_cpu_seconds(pid: int, *, split: bool = False):
    """User + system CPU seconds used so far by `pid` and its live descendants (from /proc);
    with `split`, (user, system)."""
    tick = os.sysconf("SC_CLK_TCK")
    user = system = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            user += int(fields[11]) / tick
            system += int(fields[12]) / tick
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        todo.extend(int(c) for c in children)
    return (user, system) if split else user + system
