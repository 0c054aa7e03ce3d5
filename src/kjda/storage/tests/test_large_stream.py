from __future__ import annotations

import hashlib
import io
import random
import tracemalloc
from pathlib import Path

import pytest

from kjda.storage.services import blob_store, blob_verify

MB = 1024 * 1024


class GeneratedStream(io.RawIOBase):
    """Pseudo-random bytes made on demand, so the test itself never holds the whole file."""

    def __init__(self, size: int, seed: int = 7) -> None:
        self.remaining = size
        self.rng = random.Random(seed)
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self.remaining if size is None or size < 0 else min(size, self.remaining)
        data = self.rng.randbytes(n)
        self.remaining -= n
        self.sha256.update(data)
        return data


@pytest.mark.django_db
def test_200_mb_stream_stores_with_small_peak_memory(blob_root: Path) -> None:
    source = GeneratedStream(200 * MB)
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        stored = blob_store(source=source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored.size == 200 * MB
    assert stored.sha256 == source.sha256.hexdigest()
    print(f"200 MB stored; traced peak grew by {(peak - baseline) / MB:.1f} MB")
    assert peak - baseline < 50 * MB, f"peak grew by {(peak - baseline) / MB:.1f} MB"
    assert blob_verify(sha256=stored.sha256)
