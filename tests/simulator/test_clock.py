"""The simulated clock: set, advance, speed; and a server running on an accelerated clock."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from simulator import SimClock, SimulatorServer
from tests.simulator.conftest import NEM, START, UTC, client_for, make_config


def test_clock_set_advance_and_speed_with_injected_monotonic():
    real = [1000.0]
    clock = SimClock(START, speed=60, monotonic=lambda: real[0])
    assert clock.now() == START.astimezone(UTC)
    real[0] += 1.0  # one real second is one simulated minute
    assert clock.now() == START + dt.timedelta(minutes=1)
    assert clock.advance(dt.timedelta(hours=2)) == START + dt.timedelta(hours=2, minutes=1)
    clock.advance(30.0)
    assert clock.now() == START + dt.timedelta(hours=2, minutes=1, seconds=30)
    clock.speed = 0  # freeze
    real[0] += 100.0
    assert clock.now() == START + dt.timedelta(hours=2, minutes=1, seconds=30)
    clock.set(dt.datetime(2030, 6, 1, tzinfo=NEM))
    assert clock.now() == dt.datetime(2030, 6, 1, tzinfo=NEM)
    assert clock.now().tzinfo is UTC
    with pytest.raises(ValueError):
        clock.set(dt.datetime(2030, 6, 1))  # noqa: DTZ001 - naive, refused
    with pytest.raises(ValueError):
        SimClock(START, speed=-1)


def test_server_on_an_accelerated_clock():
    with SimulatorServer(make_config(speed=3600)) as sim, client_for(sim) as client:  # a real second is an hour
        site_id = sim.site_ids[0]

        def current_end() -> dt.datetime:
            records = client.get(f"/sites/{site_id}/prices/current", params={"resolution": 5}).json()
            return dt.datetime.fromisoformat(records[0]["nemTime"])

        first = current_end()
        time.sleep(0.25)  # 15 simulated minutes
        assert current_end() - first >= dt.timedelta(minutes=10)
        assert sim.clock.now() - START >= dt.timedelta(minutes=15)


def test_living_through_days_in_a_test(sim, client):
    site_id = sim.site_ids[1]
    for _ in range(3):
        sim.clock.advance(dt.timedelta(days=1))
    today = sim.clock.now().astimezone(NEM).date()
    assert today == dt.date(2025, 1, 18)
    usage = client.get(f"/sites/{site_id}/usage", params={"startDate": "2025-01-15", "endDate": "2025-01-18"}).json()
    assert {u["date"] for u in usage} == {"2025-01-15", "2025-01-16", "2025-01-17"}
