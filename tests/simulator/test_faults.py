"""Injected faults: scripted failures, truncation and delays, and seeded random faults that repeat."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from simulator import FaultInjector, SimulatorServer
from tests.simulator.conftest import client_for, make_config


def test_fail_next_scripts_errors_then_recovers(sim, client):
    sim.faults.fail_next(2, status=503)
    first, second, third = (client.get("/sites") for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
    assert first.json() == {"message": "Internal server error"}
    assert first.headers["content-type"] == "application/json"
    assert "RateLimit-Remaining" in first.headers  # the failed requests still spent budget
    assert sim.faults.injected == 2


def test_scripted_faults_can_target_one_endpoint(sim, client):
    site_id = sim.site_ids[0]
    sim.faults.fail_next(1, status=500, endpoint="prices")
    assert client.get("/sites").status_code == 200
    assert client.get(f"/sites/{site_id}/prices/current").status_code == 200
    assert client.get(f"/sites/{site_id}/prices").status_code == 500
    assert client.get(f"/sites/{site_id}/prices").status_code == 200


def test_truncated_body_is_invalid_json_with_matching_length(sim, client):
    sim.faults.truncate_next(1)
    cut = client.get("/sites")
    assert cut.status_code == 200
    assert int(cut.headers["content-length"]) == len(cut.content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)
    whole = client.get("/sites")
    assert whole.content.startswith(cut.content) and len(cut.content) == len(whole.content) // 2


def test_delay_next_lets_a_client_time_out(sim, client):
    sim.faults.delay_next(1, seconds=0.5)
    with pytest.raises(httpx.ReadTimeout):
        client.get("/sites", timeout=0.1)
    time.sleep(0.5)  # let the delayed response drain before the next request on a new connection
    assert client.get("/sites").status_code == 200


def test_seeded_random_faults_are_reproducible():
    config = make_config(fault_5xx_rate=0.3, fault_truncate_rate=0.2, rate_limit=1000)

    def run() -> list[tuple[int, bool]]:
        outcomes = []
        with SimulatorServer(config) as sim, client_for(sim) as client:
            for _ in range(40):
                response = client.get("/sites")
                try:
                    json.loads(response.content)
                    whole = True
                except json.JSONDecodeError:
                    whole = False
                outcomes.append((response.status_code, whole))
        return outcomes

    first = run()
    assert first == run()
    statuses = {status for status, _ in first}
    assert 200 in statuses and statuses & {500, 502, 503, 504}
    assert (200, False) in first  # some truncated bodies


def test_fault_latency_is_added_to_every_request():
    with SimulatorServer(make_config(fault_latency_ms=150)) as sim, client_for(sim) as client:
        client.get("/sites")  # connect first
        started = time.monotonic()
        assert client.get("/sites").status_code == 200
        assert time.monotonic() - started >= 0.15


def test_injector_validates_and_clears():
    faults = FaultInjector(1)
    with pytest.raises(ValueError):
        faults.fail_next(0)
    faults.fail_next(3)
    faults.clear()
    assert faults.draw("sites").status is None
