"""The follow loop under faults: the Amber API failing (5xx, 429, bad bodies, network down), the database
going away, a rejected API key; and `amber-home collect --once` as a subprocess. Every outage ends with the
history complete (equal to the simulator's truth) without a manual step."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest

from amber.client import AmberClient
from amber.errors import AmberAuthError
from amber.nemtime import floor_time
from amber.ratelimit import RateBudget
from loader.follow import Follower, FollowOptions
from loader.migrate import migrate
from simulator import SimulatorConfig, SimulatorServer
from tests.loader.test_follow import (  # noqa: F401  (make_world is a fixture)
    API_KEY,
    START,
    UTC,
    World,
    make_world,
    stored_prices,
    stored_usage,
    truth_prices,
    truth_usage,
)
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def warnings_of(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def assert_complete(world: World, start: dt.datetime, end: dt.datetime) -> None:
    """Prices in [start, end) are all actual and equal the simulator's final values (no gap, no extra)."""
    stored = stored_prices(world, start, end)
    assert stored == truth_prices(world, start, end)
    first = floor_time(start + dt.timedelta(minutes=5) - dt.timedelta(microseconds=1), dt.timedelta(minutes=5))
    assert len(stored) == 3 * ((end - first) // dt.timedelta(minutes=5))  # every interval of 3 channels


# -- the Amber API fails -----------------------------------------------------------------------------------


def test_an_hour_of_api_5xx_then_recovery_heals_the_gap(make_world, caplog):
    caplog.set_level(logging.INFO)
    world = make_world()
    world.follower.run_cycle()
    outage_start = world.now
    world.sim.faults.error_rate = 1.0
    world.run_for(dt.timedelta(hours=1))
    world.sim.faults.error_rate = 0.0
    failures = sum(n for status, n in world.sim.stats.statuses.items() if status >= 500)
    assert failures >= 12  # backing off, but never giving up (at most 5 minutes apart)
    problems = warnings_of(caplog)
    assert len(problems) == failures  # one line per failed request, no tracebacks
    assert all("\n" not in r.getMessage() and r.exc_info is None for r in problems)
    assert all("HTTP 5" in r.getMessage() for r in problems)
    world.run_for(dt.timedelta(minutes=20))
    assert any("answering again" in r.getMessage() for r in caplog.records)
    # Heal leaves the last 15 minutes to the follow loop; those are covered by its recent actuals.
    end = world.now.replace(second=0, microsecond=0) - dt.timedelta(minutes=5)
    assert_complete(world, outage_start - dt.timedelta(hours=1), end - end.minute % 5 * dt.timedelta(minutes=1))
    assert API_KEY not in caplog.text


class SwitchableTransport(httpx.BaseTransport):
    """A real HTTP transport with a switch that makes every connection fail, as when the network is down."""

    def __init__(self) -> None:
        self.down = False
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("[Errno 101] Network is unreachable", request=request)
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def test_network_down_for_hours_then_recovery_heals(make_world, caplog):
    caplog.set_level(logging.INFO)
    world = make_world()
    transport = SwitchableTransport()
    sleep = world.follower._sleeper
    client = AmberClient(
        world.sim.api_key, world.sim.base_url, transport=transport, max_retries=0, max_rate_limit_waits=0,
        budget=RateBudget(reserve=12, clock=world.sim.clock.timestamp, sleeper=sleep), sleeper=sleep,
    )  # fmt: skip
    world.follower._client = client
    world.follower.run_cycle()
    outage_start = world.now
    transport.down = True
    world.run_for(dt.timedelta(hours=3))
    assert all("connection failed" in r.getMessage() for r in warnings_of(caplog))
    transport.down = False
    world.run_for(dt.timedelta(minutes=30))
    end = world.now - dt.timedelta(minutes=15)
    end -= dt.timedelta(minutes=end.minute % 5, seconds=end.second)
    assert_complete(world, outage_start - dt.timedelta(hours=1), end)
    client.close()


def test_a_rate_limit_pauses_the_api_work_until_the_reset_without_blocking(make_world, caplog):
    world = make_world()
    world.follower.run_cycle()
    world.sim.faults.fail_next(1, status=429, endpoint="prices_current")
    before = world.now
    world.run_for(dt.timedelta(minutes=3))
    state = world.follower.state
    problems = warnings_of(caplog)
    assert len(problems) == 1 and "rate limit" in problems[0].getMessage()
    assert state.api_retry_at is not None and state.api_retry_at > before  # paused, not blocked in a request
    polls = world.sim.stats.requests["prices_current"]
    world.run_for(state.api_retry_at - world.now + dt.timedelta(seconds=1))
    assert world.sim.stats.requests["prices_current"] == polls + 1  # resumed after the reset
    assert state.api_retry_at is None


def test_a_truncated_body_is_one_line_and_the_next_poll_succeeds(make_world, caplog):
    world = make_world()
    world.follower.run_cycle()
    world.sim.faults.truncate_next(1, endpoint="prices_current")
    world.run_for(dt.timedelta(minutes=10))
    problems = warnings_of(caplog)
    assert len(problems) == 1 and "not valid JSON" in problems[0].getMessage()
    assert world.follower.state.api_failures == 0


def test_a_rejected_api_key_is_fatal(make_world):
    world = make_world()
    sleep = world.follower._sleeper
    world.follower._client = AmberClient("psk_wrong_key_0000", world.sim.base_url, max_retries=0, sleeper=sleep)
    with pytest.raises(AmberAuthError):
        world.follower.run(until=world.now + dt.timedelta(minutes=10))


def test_a_process_down_for_two_days_catches_up_on_start(make_world):
    world = make_world()
    world.follower.run_cycle()
    world.sim.clock.advance(dt.timedelta(days=2, hours=3))  # the machine was off
    report = world.follower.run_cycle()
    assert report.ok, report.problems
    # One prices window for the missed days (usage: the hourly re-fetch of 3 days covers them).
    assert report.healed_windows == 1
    today = dt.datetime(2025, 1, 16, 14, tzinfo=UTC)  # 00:00 NEM on the 17th
    end = world.now - dt.timedelta(minutes=15)
    end -= dt.timedelta(minutes=end.minute % 5, seconds=end.second)
    assert_complete(world, START - dt.timedelta(days=1), end)
    start = today - dt.timedelta(days=7)
    assert stored_usage(world, start, today) == truth_usage(world, start, today)


# -- the database fails ------------------------------------------------------------------------------------


def _admin(url: str) -> tuple[str, str]:
    base, name = url.rsplit("/", 1)
    return f"{base}/postgres", name


def database_down(url: str) -> None:
    """No new connections to the test database, and every open one terminated."""
    admin, name = _admin(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))


def database_up(url: str) -> None:
    admin, name = _admin(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def test_database_down_then_back_reconnects_and_heals(make_world, caplog):
    caplog.set_level(logging.INFO)
    world = make_world()
    world.follower.run_cycle()
    outage_start = world.now
    requests_before = world.sim.stats.total
    database_down(world.url)
    try:
        world.run_for(dt.timedelta(minutes=45))
        # The poll that met the dead connection spent one request; no polling while nothing can be written.
        assert world.sim.stats.total - requests_before <= 1
        problems = warnings_of(caplog)
        assert problems and all("database unavailable" in r.getMessage() for r in problems)
        assert all("\n" not in r.getMessage() for r in problems)
        delays = [b[0] - a[0] for a, b in itertools.pairwise(world.samples) if a[0] >= outage_start]
        assert max(delays) <= dt.timedelta(minutes=5)  # backoff capped
    finally:
        database_up(world.url)
    world.run_for(dt.timedelta(minutes=20))
    assert any("database reachable again" in r.getMessage() for r in caplog.records)
    end = world.now - dt.timedelta(minutes=15)
    end -= dt.timedelta(minutes=end.minute % 5, seconds=end.second)
    assert_complete(world, outage_start - dt.timedelta(hours=1), end)
    assert world.follower.state.db_failures == 0


def test_a_database_down_at_start_is_waited_for(make_world, caplog):
    world = make_world()
    database_down(world.url)
    try:
        report = world.follower.run_cycle()
        assert not report.ok and "database unavailable" in report.problems[0]
        assert world.sim.stats.total == 0  # nothing fetched that could not be written
        world.run_for(dt.timedelta(minutes=2))
    finally:
        database_up(world.url)
    world.run_for(dt.timedelta(minutes=10))
    assert world.scalar("SELECT count(*) FROM prices") > 0


# -- amber-home collect --once ---------------------------------------------------------------------------


def _collect(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ", "SYSTEMROOT")}
    return subprocess.run(
        [sys.executable, "-m", "amber_home.cli", "collect", *args],
        cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_collect_once_as_a_subprocess(apache_db):
    # The subprocess has its own (real) clock, so the simulator runs on real time too.
    with SimulatorServer(SimulatorConfig(seed=3, sites=1, resolution=5, history_days=20, api_key=API_KEY)) as sim:
        env = {
            "AMBER_API_KEY": API_KEY,
            "AMBER_API_BASE_URL": sim.base_url,
            "DATABASE_URL": apache_db,
            "LOG_LEVEL": "DEBUG",
        }
        result = _collect(env, "--once")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("collected: ")
        assert API_KEY not in result.stdout + result.stderr
        with psycopg.connect(apache_db) as conn:
            kinds = conn.execute("SELECT DISTINCT interval_type FROM prices").fetchall()
            assert {k for (k,) in kinds} == {"ActualInterval", "CurrentInterval"}
            assert conn.execute("SELECT count(*) FROM forecasts").fetchone()[0] > 0
            assert conn.execute("SELECT count(*) FROM usage").fetchone()[0] > 0
            assert conn.execute("SELECT count(*) FROM cost_daily").fetchone()[0] > 0
        # Again: nothing is missing any more, so only /sites, the poll and the usage re-fetch are sent.
        before = sim.stats.total
        result = _collect(env, "--once")
        assert result.returncode == 0, result.stderr
        assert sim.stats.total - before == 3


def test_collect_once_fails_with_one_line_when_the_database_is_unreachable(apache_db):
    with SimulatorServer(SimulatorConfig(seed=3, api_key=API_KEY)) as sim:
        url = f"postgresql://amber:dbPW_fake_K2v8@127.0.0.1:{free_port()}/amber"
        result = _collect({"AMBER_API_KEY": API_KEY, "AMBER_API_BASE_URL": sim.base_url, "DATABASE_URL": url,
                           "LOG_LEVEL": "WARNING"}, "--once")  # fmt: skip
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "database" in lines[0]
    assert "dbPW_fake_K2v8" not in result.stderr and API_KEY not in result.stderr


def test_collect_once_with_a_wrong_key_exits_2_with_the_fix(apache_db):
    with SimulatorServer(SimulatorConfig(seed=3, api_key=API_KEY)) as sim:
        migrate(apache_db, timezone="Australia/Sydney")
        result = _collect({"AMBER_API_KEY": "psk_wrong_key_0000", "AMBER_API_BASE_URL": sim.base_url,
                           "DATABASE_URL": apache_db, "LOG_LEVEL": "WARNING"}, "--once")  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "AMBER_API_KEY" in lines[0] and "psk_wrong_key_0000" not in result.stderr


def test_follower_options_come_from_settings():
    from runtime.settings import Settings

    settings = Settings.from_env({"USAGE_REFETCH_DAYS": "5", "GAP_HEAL_DAYS": "14", "EXPORTER_REQUEST_SHARE": "9",
                                  "AMBER_SITE_ID": "A,B", "HISTORICAL_START_DATE": "2025-01-02"})  # fmt: skip
    assert FollowOptions.from_settings(settings) == FollowOptions(("A", "B"), 5, 14, 9, dt.date(2025, 1, 2))
    assert Follower  # the executor is what `amber-home collect` runs


def test_collect_runs_until_sigterm_in_demo_mode(apache_db):
    # No AMBER_API_KEY: against a non-Amber base URL the collector uses the simulator's demo key.
    import signal
    import time

    with SimulatorServer(SimulatorConfig(seed=4, sites=1, resolution=30, history_days=10)) as sim:
        base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ")}
        env = {**base, "AMBER_API_BASE_URL": sim.base_url, "DATABASE_URL": apache_db, "LOG_LEVEL": "INFO"}
        process = subprocess.Popen(
            [sys.executable, "-m", "amber_home.cli", "collect"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            rows = 0
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    with psycopg.connect(apache_db) as conn:
                        rows = conn.execute("SELECT count(*) FROM usage").fetchone()[0]
                except psycopg.Error:
                    rows = 0  # not migrated yet
                if rows:
                    break
                time.sleep(0.5)
            assert rows > 0, "the collector wrote nothing within 2 minutes"
            process.send_signal(signal.SIGTERM)
            _out, err = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0, err
    assert "demo key 'sim-key'" in err and "received SIGTERM; stopping" in err and "collector stopped" in err
    assert "Traceback" not in err


def test_an_estimate_repoll_is_skipped_when_the_account_is_nearly_spent(make_world, caplog):
    # The simulator allows 20 requests per window; 12 are the exporter's and 3 headroom, so once the
    # start-up cycle has spent a few, estimate re-polls are skipped instead of waiting for the budget.
    caplog.set_level(logging.INFO, logger="loader.follow")
    world = make_world(rate_limit=20, estimate_seconds=100, follow={"gap_heal_days": 1})
    world.follower.run_cycle()
    assert world.follower.state.polls[world.site_id].estimate is False  # 3 min into the interval: final
    world.run_for(dt.timedelta(minutes=4))  # the 03:00:50 slot: an estimate; its re-polls are skipped
    assert "estimate re-poll skipped" in caplog.text
    polls = world.follower.state.polls[world.site_id]
    assert polls.estimate and polls.repolls >= 1
    assert world.sim.stats.rate_limited == 0
    assert world.sim.stats.requests["prices_current"] == 2  # the two slot polls, no re-poll


def test_a_site_unknown_to_the_api_is_one_line_and_sites_are_read_again_soon(make_world, caplog):
    world = make_world(follow={"gap_heal_days": 1})
    world.follower.run_cycle()
    world.sim.faults.fail_next(1, status=404, endpoint="prices_current")
    world.run_for(dt.timedelta(minutes=4))
    problems = warnings_of(caplog)
    assert len(problems) == 1 and "refused by the Amber API" in problems[0].getMessage()
    state = world.follower.state
    assert state.sites_due is not None and state.sites_due <= world.now + dt.timedelta(minutes=5)
    assert state.api_failures == 0  # not an outage: other work goes on
