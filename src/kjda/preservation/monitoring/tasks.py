"""The monitor's loop in every `kjda worker`: every KJDA_MONITOR_INTERVAL_SECONDS one worker in
the cluster (the first to claim the interval in the shared cache, as kjda.lifecycle.daily
claims its day) runs the probes. Nothing a check does may end the worker."""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections

from .services import monitor_check

log = logging.getLogger(__name__)


def monitor_claim(*, now: float | None = None) -> bool:
    """True for the one caller (across all workers) that claims the current interval."""
    interval = max(10.0, float(settings.KJDA_MONITOR_INTERVAL_SECONDS))
    slot = int((time.time() if now is None else now) // interval)
    return bool(cache.add(f"kjda:monitor:slot:{slot}", "1", timeout=int(interval * 3)))


def monitor_tick() -> bool:
    """One turn of the loop: run the check when this worker claims the interval. Never raises;
    True when a check ran."""
    close_old_connections()
    try:
        if not monitor_claim():
            return False
        report = monitor_check()
        if report.errors:
            log.warning("monitor probes failed: %s", report.errors)
        return True
    except Exception:  # a database hiccup must not end the thread; the next interval retries
        log.exception("monitor check failed")
        return False


def start_monitor_thread(*, poll: float = 30.0) -> threading.Thread:
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(min(poll, float(settings.KJDA_MONITOR_INTERVAL_SECONDS))):
            monitor_tick()

    thread = threading.Thread(target=loop, name="kjda-monitor", daemon=True)
    thread.start()
    return thread
