"""Daily jobs of the lifecycle (custody running out, retention expiries, …): each sub-app
registers a django-tasks task in its AppConfig.ready; a thread of every `kjda worker` enqueues
each task once per day (the first worker to claim the day in the shared cache does it), and the
task workers run it.

The connectors' periodic loop cannot call these (the connectors layer sits below lifecycle), so
the worker command starts this thread beside it."""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.core.cache import cache
from django.db import close_old_connections
from django.utils import timezone

log = logging.getLogger(__name__)
_JOBS: dict[str, Any] = {}  # name → a django_tasks Task taking no arguments


def daily_job(task: Any) -> Any:
    _JOBS[task.name] = task
    return task


def daily_enqueue_due() -> list[str]:
    """Enqueue each job not yet enqueued today (by any worker); the names enqueued."""
    today = timezone.localdate().isoformat()
    done = []
    for name, task in sorted(_JOBS.items()):
        if cache.add(f"kjda:daily:{name}:{today}", "1", timeout=2 * 86400):
            task.enqueue()
            done.append(name)
    return done


def start_daily_thread(interval: float = 600.0) -> threading.Thread:
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            close_old_connections()
            try:
                daily_enqueue_due()
            except Exception:  # a database hiccup must not end the thread; next round retries
                log.exception("daily lifecycle jobs not enqueued")

    thread = threading.Thread(target=loop, name="kjda-daily", daemon=True)
    thread.start()
    return thread
