"""Fixtures for OA connector tests, from any package (loaded by kjda_oasim.testing.plugin):
a running OA simulator."""

from __future__ import annotations

import pytest

from kjda_oasim.core import OASimulator


@pytest.fixture
def make_sim():
    started: list[OASimulator] = []

    def make(*vendors):
        sim = OASimulator(list(vendors))
        sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()
