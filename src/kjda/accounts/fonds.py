"""Which fonds codes exist, asked of the app that owns fonds (kjda.archives, a higher layer)
without importing it: archives registers its lookup when Django starts (ArchivesConfig.ready)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

_known_codes: Callable[[Iterable[str]], set[str]] | None = None


def fonds_lookup_register(lookup: Callable[[Iterable[str]], set[str]]) -> None:
    """Install `lookup(codes) -> the codes among them that exist` (called once at start-up)."""
    global _known_codes
    _known_codes = lookup


def fonds_codes_known(codes: Iterable[str]) -> set[str]:
    if _known_codes is None:  # archives not installed or not ready: refuse rather than guess
        raise RuntimeError("no fonds lookup registered (kjda.archives must be installed)")
    return _known_codes(codes)
