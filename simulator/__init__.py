"""Amber API simulator: a deterministic, seeded stand-in for https://api.amber.com.au/v1.

Entry points: `python -m simulator` (CLI, `simulator.__main__.main`) and, for tests,
`SimulatorServer(SimulatorConfig(...))` used as a context manager.

Layout (pure model first, HTTP last):
    nemtime, seeded, weather   time arithmetic, deterministic randomness, shared sunshine
    market                     regional spot price, renewables, spike events (pure)
    tariff, pricing            retail prices per channel and what an interval shows at a time (pure)
    meter                      household energy per channel (pure)
    site, render               generated sites; Amber-shaped JSON objects
    simulation, truth          the account and its ground truth (no HTTP)
    ratelimit, faults, stats   budget, injected failures, request accounting
    api, server, __main__      request handling, the HTTP server, the CLI
"""

from simulator.clock import SimClock
from simulator.config import SimulatorConfig
from simulator.faults import FaultInjector
from simulator.ratelimit import RateLimiter
from simulator.server import SimulatorServer
from simulator.simulation import Simulation
from simulator.stats import Stats
from simulator.truth import Truth

__all__ = [
    "FaultInjector",
    "RateLimiter",
    "SimClock",
    "Simulation",
    "SimulatorConfig",
    "SimulatorServer",
    "Stats",
    "Truth",
]
