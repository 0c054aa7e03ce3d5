"""The production server behind `kjda serve`.

Web: granian (HTTP parsing and connection handling in Rust, the WSGI application in a pool of
threads per worker process; one process per core, as Python runs one thread at a time per
process). `KJDA_SERVER=gunicorn` runs gunicorn's threaded workers instead.

Background work runs in separate `kjda worker` processes that `kjda serve` starts, watches and
restarts, at a lower CPU priority (`KJDA_WORKER_NICE`, default 10), so archiving never takes the
CPU from answering requests and OA callbacks. Each worker runs the django-tasks queue, the
intake loop that claims received inbox events, and (one per machine) the periodic sweep.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

from django.conf import settings

log = logging.getLogger(__name__)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class TaskWorkers:
    """`count` `kjda worker` processes, restarted when one dies, stopped with the server."""

    def __init__(self, count: int, nice: int) -> None:
        self.count, self.nice = count, nice
        self.procs: list[subprocess.Popen | None] = [None] * count
        self._stop = threading.Event()

    def _start(self, index: int) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "kjda.cli", "worker", "--nice", str(self.nice),
               "--parent-pid", str(os.getpid()), "--index", str(index),
               "--count", str(self.count)]
        return subprocess.Popen(cmd, env=os.environ.copy())  # noqa: S603 - our own CLI

    def start(self) -> None:
        for i in range(self.count):
            self.procs[i] = self._start(i)
        threading.Thread(target=self._watch, name="kjda-worker-watch", daemon=True).start()

    def _watch(self) -> None:
        while not self._stop.wait(2.0):
            for i, proc in enumerate(self.procs):
                if proc is not None and proc.poll() is not None and not self._stop.is_set():
                    log.warning("task worker %s exited (%s); restarting", proc.pid,
                                proc.returncode)
                    self.procs[i] = self._start(i)

    def stop(self) -> None:
        self._stop.set()
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        deadline = time.time() + 20
        for proc in self.procs:
            if proc is not None:
                try:
                    proc.wait(timeout=max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    proc.kill()


def _granian(*, host: str, port: int, workers: int, threads: int) -> None:
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    Server(
        "kjda.wsgi:application", address=host, port=port, interface=Interfaces.WSGI,
        workers=workers, blocking_threads=threads,
        blocking_threads_idle_timeout=600,  # keep warm threads (connections, built connectors)
        http=HTTPModes.http1, websockets=False, backlog=2048,
        log_level=LogLevels.warning, log_access=False, respawn_failed_workers=True,
        workers_kill_timeout=10,
    ).serve()


def _gunicorn(*, host: str, port: int, workers: int, threads: int) -> None:
    from gunicorn.app.base import BaseApplication

    class Application(BaseApplication):
        def load_config(self) -> None:
            for key, value in {
                "bind": f"{host}:{port}", "workers": workers, "threads": threads,
                "worker_class": "gthread", "backlog": 2048,
                "timeout": 600,  # a 1 GB upload over a slow link must not be killed mid-way
                "graceful_timeout": 30, "keepalive": 5, "limit_request_line": 8190,
                "accesslog": None, "errorlog": "-", "loglevel": "warning", "proc_name": "kjda",
                "worker_tmp_dir": str(settings.DATA_DIR),
            }.items():
                self.cfg.set(key, value)

        def load(self):
            from kjda.wsgi import application

            return application

    Application().run()


def serve(*, host: str, port: int, workers: int = 0, threads: int = 32,
          task_workers: int = 0, worker_nice: int = 10, server: str = "granian") -> None:
    """Run the web server in the foreground with `task_workers` worker processes beside it
    (0: one per core; -1: none)."""
    from django.db import connections

    connections.close_all()  # nothing open crosses the fork into the web workers
    workers = workers or _cores()
    task_workers = _cores() if task_workers == 0 else max(0, task_workers)
    background = TaskWorkers(task_workers, worker_nice)
    background.start()
    try:
        run = _gunicorn if server == "gunicorn" else _granian
        run(host=host, port=port, workers=workers, threads=threads)
    finally:
        background.stop()
