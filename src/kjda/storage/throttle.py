"""Pacing a long read (the fixity audit) to a byte rate, so it never starves the server."""

from __future__ import annotations

import time
from collections.abc import Callable


class Throttle:
    """After each chunk, sleeps just long enough that the average since the start stays at or
    below `rate` bytes per second (0 or less: no limit). The clock and sleep are injectable so
    the computed pauses can be tested without timing."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._start = clock()
        self.done = 0
        self.slept = 0.0

    def pause_for(self, nbytes: int) -> float:
        """Count `nbytes` more read: the pause due now (seconds)."""
        self.done += nbytes
        if self.rate <= 0:
            return 0.0
        return max(0.0, self.done / self.rate - (self._clock() - self._start))

    def consumed(self, nbytes: int) -> None:
        pause = self.pause_for(nbytes)
        if pause > 0:
            self._sleep(pause)
            self.slept += pause
