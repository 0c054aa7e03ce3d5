"""The production server behind `kjda serve`: gunicorn with several worker processes (Python
runs one thread at a time per process; archive ingest is CPU-bound) and threads in each.

Each web worker process also runs a task-worker thread (django-tasks-db), started after the
fork so no thread crosses a fork; task claims are locked in the database, so several workers
never run the same task.
"""

from __future__ import annotations

import os
import threading

from django.conf import settings
from gunicorn.app.base import BaseApplication


def _start_task_worker(worker_id: str) -> threading.Thread:
    from django_tasks_db.management.commands.db_worker import Worker

    task_worker = Worker(queue_names=["default"], interval=1.0, batch=False,
                         backend_name="default", startup_delay=True, max_tasks=None,
                         worker_id=worker_id, excluded_queue_names=[])
    thread = threading.Thread(target=task_worker.run, name="kjda-task-worker", daemon=True)
    thread.start()
    return thread


class _Application(BaseApplication):
    def __init__(self, options: dict) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from kjda.wsgi import application

        return application


def serve(*, host: str, port: int, workers: int = 0, threads: int = 4,
          task_worker: bool = True) -> None:
    workers = workers or max(2, 2 * (os.cpu_count() or 1))

    def post_fork(server, worker) -> None:
        if task_worker:
            from kjda.connectors.tasks import start_periodic_thread

            _start_task_worker(f"web-{worker.pid}")
            start_periodic_thread()

    _Application({
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "timeout": 600,  # a 1 GB upload over a slow link must not be killed mid-way
        "graceful_timeout": 30,
        "keepalive": 5,
        "limit_request_line": 8190,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "proc_name": "kjda",
        "post_fork": post_fork,
        "worker_tmp_dir": str(settings.DATA_DIR),
    }).run()
