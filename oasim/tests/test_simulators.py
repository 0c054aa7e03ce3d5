"""Simulators register per platform kind through the kjda_oasim.simulators entry points."""

from __future__ import annotations

from kjda.platforms import platforms
from kjda_oasim.simulators import sim_class, simulators
from kjda_oasim.wecom.sim import WeComSim


def test_every_platform_with_an_api_has_a_simulator_of_the_same_name():
    assert sim_class("wecom") is WeComSim
    # the generic webhook has no vendor API to simulate
    assert set(simulators()) == set(platforms()) - {"webhook"}


def test_the_demo_simulator_runs_every_registered_simulator():
    from kjda_oasim.loop import build_simulator

    sim = build_simulator()
    try:
        assert sorted(sim.vendors) == sorted(simulators())
    finally:
        sim.stop()
