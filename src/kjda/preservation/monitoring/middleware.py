"""Slow-response counting for the monitor: each request is timed; one slower than
KJDA_SLOW_REQUEST_MS is counted in the shared cache, per five-minute window, with the slowest
paths. Only slow requests write, so a healthy server pays one clock read per request."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse

log = logging.getLogger(__name__)
WINDOW_SECONDS = 300
TOP_KEPT = 5


def window_of(at: float) -> int:
    return int(at // WINDOW_SECONDS)


def _keys(window: int) -> tuple[str, str]:
    return f"kjda:slow:{window}:n", f"kjda:slow:{window}:top"


def slow_request_count(*, path: str, millis: float, at: float | None = None) -> None:
    """Count one slow request in its window (the middleware's write)."""
    count_key, top_key = _keys(window_of(time.time() if at is None else at))
    cache.add(count_key, 0, timeout=WINDOW_SECONDS * 4)
    try:
        cache.incr(count_key)
    except ValueError:  # expired between add and incr
        cache.set(count_key, 1, timeout=WINDOW_SECONDS * 4)
    # read-modify-write: two slow requests at once may keep only one of them here; the count
    # above is what the alarm is about, these are the examples it shows
    top = cache.get(top_key) or []
    top = sorted([*top, [round(millis), path]], reverse=True)[:TOP_KEPT]
    cache.set(top_key, top, timeout=WINDOW_SECONDS * 4)


def slow_window(window: int) -> tuple[int, list[list[Any]]]:
    """The slow requests counted in `window`: their number and the slowest [ms, path]."""
    count_key, top_key = _keys(window)
    return int(cache.get(count_key) or 0), list(cache.get(top_key) or [])


class SlowRequestMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        start = time.monotonic()
        response = self.get_response(request)
        millis = (time.monotonic() - start) * 1000
        if millis > settings.KJDA_SLOW_REQUEST_MS:
            try:
                slow_request_count(path=f"{request.method} {request.path}"[:200], millis=millis)
            except Exception:  # the answer matters more than the count
                log.exception("slow request not counted")
        return response
