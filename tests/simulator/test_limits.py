"""401/404/422/429: statuses, JSON bodies, RateLimit headers, window reset on the real clock, lockout,
unknown parameters ignored, one DEBUG log line per request without the key."""

from __future__ import annotations

import logging
import time

import pytest

from simulator import RateLimiter, SimulatorServer
from tests.simulator.conftest import client_for, make_config


def test_missing_or_wrong_key_is_401(sim, anonymous, client):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {sim.api_key}"},
                    {"Authorization": "Bearer"}):  # fmt: skip
        response = anonymous.get("/sites", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"message": "Unauthorized"}
    ok = client.get("/sites")
    assert ok.headers["RateLimit-Remaining"] == "49"  # refused keys do not spend the budget


def test_unknown_site_and_path_are_404(sim, client):
    response = client.get("/sites/01ZZZZZZZZZZZZZZZZZZZZZZZZ/prices")
    assert response.status_code == 404 and response.json() == {"message": "Site not found"}
    days = {"startDate": "2025-01-01", "endDate": "2025-01-01"}
    assert client.get("/sites/01ZZZZZZZZZZZZZZZZZZZZZZZZ/usage", params=days).status_code == 404
    assert client.get("/nothing/here").status_code == 404


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("prices", {"startDate": "2025-01-01", "endDate": "2025-01-09"}),  # 8 days apart
        ("usage", {"startDate": "2025-01-01", "endDate": "2025-01-09"}),
        ("prices", {"startDate": "2025-01-05", "endDate": "2025-01-04"}),  # end before start
        ("prices", {"startDate": "2025-13-01"}),
        ("prices", {"startDate": "20250101", "endDate": "20250101"}),
        ("prices", {"endDate": "yesterday"}),
        ("usage", {"startDate": "2025-01-01"}),  # endDate is required for usage
        ("prices", {"resolution": "15"}),
        ("prices/current", {"next": "-1"}),
        ("prices/current", {"next": "2001", "previous": "48"}),  # next + previous > 2048
    ],
)
def test_bad_parameters_are_422(sim, client, path, params):
    response = client.get(f"/sites/{sim.site_ids[0]}/{path}", params=params)
    assert response.status_code == 422, response.text
    assert response.json()["message"]
    assert "RateLimit-Remaining" in response.headers


def test_limits_are_inclusive(sim, client):
    site_id = sim.site_ids[0]
    seven = {"startDate": "2025-01-01", "endDate": "2025-01-08", "resolution": 30}  # endDate - startDate = 7 days
    records = client.get(f"/sites/{site_id}/prices", params=seven)
    assert records.status_code == 200
    assert len({r["date"] for r in records.json()}) == 8  # both dates are included
    assert client.get(f"/sites/{site_id}/usage", params=seven).status_code == 200
    assert client.get(f"/sites/{site_id}/prices/current", params={"next": 2000, "previous": 48}).status_code == 200


def test_unknown_query_parameters_are_ignored(sim, client):
    site_id = sim.site_ids[0]
    params = {"startDate": "2025-01-10", "endDate": "2025-01-10"}
    plain = client.get(f"/sites/{site_id}/prices", params=params)
    noisy = client.get(f"/sites/{site_id}/prices", params={**params, "foo": "bar", "page": "2"})
    assert noisy.status_code == 200 and noisy.content == plain.content


def test_429_with_headers_then_window_resets_on_real_clock():
    config = make_config(rate_limit=3, rate_window_seconds=1.0)
    with SimulatorServer(config) as sim, client_for(sim) as client:
        started = time.monotonic()
        remaining = []
        for _ in range(3):
            response = client.get("/sites")
            assert response.status_code == 200
            assert response.headers["RateLimit-Limit"] == "3"
            assert response.headers["RateLimit-Policy"] == "3;w=1"
            assert response.headers["RateLimit-Reset"] == "1"
            remaining.append(response.headers["RateLimit-Remaining"])
        assert remaining == ["2", "1", "0"]

        refused = client.get(f"/sites/{sim.site_ids[0]}/prices")
        assert refused.status_code == 429
        assert refused.json() == {"message": "Too Many Requests"}
        assert refused.headers["RateLimit-Remaining"] == "0"
        assert refused.headers["Retry-After"] == refused.headers["RateLimit-Reset"] == "1"
        assert sim.stats.rate_limited == 1
        assert sim.stats.requests == {"sites": 3, "prices": 1}

        sim.clock.advance(3600)  # simulated time does not refill the budget
        assert client.get("/sites").status_code == 429

        time.sleep(max(0.0, started + 1.05 - time.monotonic()))
        again = client.get("/sites")
        assert again.status_code == 200 and again.headers["RateLimit-Remaining"] == "2"
        assert sim.stats.rate_limited == 2


def test_rate_limiter_window_and_lockout_with_injected_clock():
    now = [100.0]
    limiter = RateLimiter(2, 10, monotonic=lambda: now[0])
    assert [limiter.check("k").allowed for _ in range(3)] == [True, True, False]
    now[0] = 105.2
    refused = limiter.check("k")
    assert not refused.allowed and refused.reset_seconds == 5
    now[0] = 110.0
    assert limiter.check("k").allowed  # a new window
    assert limiter.check("other").remaining == 1  # budgets are per key

    locking = RateLimiter(1, 10, lockout=True, monotonic=lambda: now[0])
    now[0] = 200.0
    assert locking.check("k").allowed
    now[0] = 209.0
    assert not locking.check("k").allowed  # going over restarts the window ...
    now[0] = 215.0
    refused = locking.check("k")
    assert not refused.allowed and refused.reset_seconds == 10  # ... so hammering keeps it locked
    now[0] = 225.0
    assert locking.check("k").allowed


def test_one_debug_line_per_request_and_never_the_key(sim, client, anonymous, caplog):
    caplog.set_level(logging.DEBUG, logger="simulator")
    client.get("/sites")
    client.get(f"/sites/{sim.site_ids[0]}/prices", params={"startDate": "2025-01-14", "endDate": "2025-01-14"})
    anonymous.get("/sites", headers={"Authorization": "Bearer not-the-key"})
    lines = [r for r in caplog.records if r.name == "simulator.api"]
    assert len(lines) == 3 and all(r.levelno == logging.DEBUG for r in lines)
    assert sim.api_key not in caplog.text and "not-the-key" not in caplog.text
    assert "/v1/sites" in lines[0].getMessage()
