"""Peak memory of the server while it ingests one 1 GB file through the HTTP API.

The upload is streamed from a generator (the client never holds it either); the figure is the
peak RSS (VmHWM) of every server process: the gunicorn master and its workers. Target < 200 MB.

    python bench/bench_memory.py [--mb 1024]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import kjda_server, peak_rss_mb, token  # noqa: E402


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=1024)
    args = parser.parse_args()
    size = args.mb * 1024 * 1024
    block = os.urandom(1024 * 1024)

    with kjda_server(threads=2, env={"KJDA_WORKERS": "2"}) as (port, proc):
        bearer = token(port)
        baseline = {pid: peak_rss_mb(pid) for pid in [proc.pid, *children(proc.pid)]}
        boundary = uuid.uuid4().hex
        meta = json.dumps({"category": "其他辅助性账簿", "fiscal_year": 2024,
                           "title": "大文件内存基准 large-file memory benchmark",
                           "date": "2024-12-31"}, ensure_ascii=False).encode()
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n"
                .encode() + meta + b"\r\n" +
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
                f"filename=\"big.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n".encode())
        tail = f"\r\n--{boundary}--\r\n".encode()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1800)
        conn.putrequest("POST", "/api/v1/records")
        conn.putheader("Authorization", f"Bearer {bearer}")
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        conn.putheader("Content-Length", str(len(head) + size + len(tail)))
        conn.endheaders()
        t0 = time.perf_counter()
        conn.send(head)
        sent = 0
        while sent < size:
            chunk = block[: min(len(block), size - sent)]
            conn.send(chunk)
            sent += len(chunk)
        conn.send(tail)
        resp = conn.getresponse()
        body = json.loads(resp.read())
        elapsed = time.perf_counter() - t0
        peaks = {pid: peak_rss_mb(pid) for pid in [proc.pid, *children(proc.pid)]}

    stored = body.get("files", [{}])[0].get("size")
    print(f"memory benchmark: one {args.mb} MB file through POST /api/v1/records")
    print(f"  status {resp.status}, stored {stored} bytes, record status {body.get('status')}, "
          f"{elapsed:.1f} s ({args.mb / elapsed:.0f} MB/s)")
    for pid, peak in peaks.items():
        print(f"  pid {pid}: peak RSS {peak:.0f} MB (before upload {baseline.get(pid, 0):.0f} MB)")
    worst = max(peaks.values())
    print(f"  peak RSS of any server process: {worst:.0f} MB (target < 200 MB)")
    if resp.status not in (200, 201) or stored != size or worst >= 200:
        sys.exit(1)


if __name__ == "__main__":
    main()
