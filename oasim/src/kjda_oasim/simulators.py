"""Platform kinds → their simulator classes, found through the `kjda_oasim.simulators` entry
point group: a vendor's simulator ships in this distribution (or a vendor's own test package)
because the runtime wheel carries no simulators, so it cannot be in kjda.oa_platforms."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

GROUP = "kjda_oasim.simulators"


@cache
def simulators() -> dict[str, type]:
    """Every registered simulator class by platform kind (the kind's entry point name)."""
    return {ep.name: ep.load() for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name)}


def sim_class(kind: str) -> type:
    return simulators()[kind]
