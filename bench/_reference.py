"""The figures each benchmark prints beside its own: this machine's speed in the same run (the
stock way: hashlib SHA-256), and the process's peak memory."""

from __future__ import annotations

import hashlib
import os
import resource
import time


def sha256_mb_per_s(megabytes: int = 256) -> float:
    """MB/s of hashlib.sha256 over `megabytes` MB in 1 MiB chunks."""
    block = os.urandom(1 << 20)
    h = hashlib.sha256()
    start = time.perf_counter()
    for _ in range(megabytes):
        h.update(block)
    return megabytes / (time.perf_counter() - start)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
