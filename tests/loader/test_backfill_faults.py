"""Backfill under faults, against the real simulator and a real TimescaleDB: interrupted writes, kill -9,
rate limits from a competing client, 5xx bursts, truncated bodies, the database going away. After each,
the database must equal the simulator's truth, and each problem is one log line without the API key."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import psycopg
import pytest

import loader.db
from amber.nemtime import nem_today
from loader.backfill import BackfillError, RetryPolicy
from simulator import SimulatorServer
from tests.loader.test_backfill import (
    DAY,
    FAST_RETRY,
    KEY,
    assert_equals_truth,
    backfill,
    expected_requests,
    make_client,
    progress_rows,
    sim_config,
    window_requests,
)
from tests.support.servers import REPO, TIMESCALEDB_SCRIPT, wait_for_postgres


@pytest.fixture
def db_url(apache_db):
    from loader.migrate import migrate

    migrate(apache_db, timezone="Australia/Sydney")
    return apache_db


def problem_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("loader")]


def wrap(monkeypatch, name: str, before):
    """Make loader.db.<name> call before(call_number) first; returns the list of call numbers."""
    real = getattr(loader.db, name)
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(len(calls) + 1)
        before(len(calls))
        return real(*args, **kwargs)

    monkeypatch.setattr(loader.db, name, wrapper)
    return calls


def record_requests(client) -> list[tuple]:
    """Record the (stream, start, end) of every prices/usage call the client makes."""
    seen = []
    for stream in ("prices", "usage"):
        real = getattr(client, stream)

        def call(site_id, start, end, resolution=None, _real=real, _stream=stream):
            seen.append((site_id, _stream, start, end))
            return _real(site_id, start, end, resolution=resolution)

        setattr(client, stream, call)
    return seen


def exhaust(sim) -> int:
    """Spend the account's whole budget from another client (the competing program); returns requests."""
    sent = 0
    with httpx.Client(base_url=sim.base_url, headers={"Authorization": f"Bearer {sim.api_key}"}) as other:
        while other.get("/sites").status_code != 429:
            sent += 1
    return sent


# -- interruption and resume --------------------------------------------------------------------------


def test_failure_inside_a_window_write_then_rerun_equals_truth_without_refetching(db_url, monkeypatch):
    def fail_third(n):
        if n == 3:
            raise RuntimeError("injected failure while writing the window")

    with SimulatorServer(sim_config(sites=1, history_days=27)) as sim:
        with monkeypatch.context() as patch:
            wrap(patch, "write_usage", fail_third)
            with make_client(sim) as client:
                first = record_requests(client)
                with pytest.raises(RuntimeError, match="injected"):
                    backfill(sim, db_url, client)
        committed = progress_rows(db_url)
        # p1 u1 p2 u2 p3 committed (newest first); u3 failed inside its transaction and left nothing behind.
        # p1 and u1 touch today and yesterday: written but left open, so every run fetches them again.
        assert sorted((s, a) for _, s, a, *_ in committed) == sorted((s, a) for _, s, a, _ in first[:5])
        open_windows = sorted((s, a) for _, s, a, _, complete, _ in committed if not complete)
        assert open_windows == sorted((s, a) for _, s, a, _ in first[:2])
        with psycopg.connect(db_url) as conn:
            window = first[5]
            days = (window[2], window[3])
            assert conn.execute("SELECT count(*) FROM usage WHERE nem_date BETWEEN %s AND %s", days).fetchone() == (0,)

        with make_client(sim) as client:
            second = record_requests(client)
            result = backfill(sim, db_url, client)
        assert_equals_truth(sim, db_url)
        # Completed windows are not fetched again: after the open ones, the rerun starts at the failed one.
        assert second[:2] == first[:2]
        assert second[2:] == first[5:] + [w for w in second[2:] if w not in first]  # same windows from there on
        assert not set(second) & set(first[2:5])
        assert len(first[:5]) + result.requests == expected_requests(sim) + 2


def test_kill_9_mid_run_then_rerun_equals_truth(db_url):
    # Real time, paced by a small rate limit so the run takes several seconds and can be killed mid-way.
    config = sim_config(sites=1, start=None, speed=1.0, history_days=42, rate_limit=3, rate_window_seconds=1)
    with SimulatorServer(config) as sim:
        env = {
            **os.environ,
            "AMBER_API_KEY": sim.api_key,
            "AMBER_API_BASE_URL": sim.base_url,
            "DATABASE_URL": db_url,
            "EXPORTER_REQUEST_SHARE": "1",
            "LOG_LEVEL": "INFO",
        }
        command = [sys.executable, "-m", "amber_home.cli", "backfill"]
        process = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while sum(1 for r in progress_rows(db_url) if r[4]) < 4:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == -signal.SIGKILL
        done = sum(1 for r in progress_rows(db_url) if r[4])
        time.sleep(0.5)  # let the simulator finish (and count) a request that was in flight
        fetched = window_requests(sim)
        total = expected_requests(sim)
        assert done < total, "the backfill finished before it was killed"

        rerun = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
        assert rerun.returncode == 0, rerun.stderr
        assert "backfill finished" in rerun.stderr
        # Only the windows that had not committed are fetched again.
        assert window_requests(sim) - fetched == total - done
        assert f"backfill finished: {total - done} requests" in rerun.stderr
        # Compare whole NEM days up to yesterday (today keeps changing in real time).
        assert_equals_truth(sim, db_url, through=nem_today(sim.clock.now()) - DAY)
        assert KEY not in stderr.decode() + rerun.stderr + rerun.stdout


# -- the Amber API misbehaving ------------------------------------------------------------------------


def test_429_from_a_competing_client_waits_and_completes(db_url, caplog):
    caplog.set_level(logging.INFO)
    with SimulatorServer(sim_config(sites=1, rate_limit=12, rate_window_seconds=2)) as sim:
        assert exhaust(sim) == 12
        started = time.monotonic()
        result = backfill(sim, db_url)
        assert time.monotonic() - started < 30
        assert result.ok
        assert sim.stats.rate_limited == 2  # the competitor's last probe and our first request
        assert_equals_truth(sim, db_url)
        # After the client learnt the policy (12 per 2 s) from the 429, no further 429.
        assert result.requests == expected_requests(sim)
    assert KEY not in caplog.text


def test_client_giving_up_on_429_makes_the_backfill_wait_and_fetch_the_window_again(db_url, caplog, monkeypatch):
    caplog.set_level(logging.WARNING)

    def competitor(n):
        if n == 2:
            exhaust(sim)

    with SimulatorServer(sim_config(sites=1, rate_limit=15, rate_window_seconds=2)) as sim:
        wrap(monkeypatch, "write_prices", competitor)
        assert exhaust(sim) == 15  # also before /sites
        # This client raises AmberRateLimitedError on the first 429 instead of waiting itself.
        with make_client(sim, max_rate_limit_waits=0) as client:
            result = backfill(sim, db_url, client)
        assert result.ok
        assert result.rate_limited == 2  # /sites, and a window after the second exhaustion
        assert_equals_truth(sim, db_url)
        assert result.requests == expected_requests(sim) + 1  # the window hit by the 429 was fetched again
    lines = [line for line in problem_lines(caplog) if "rate limited" in line]
    assert len(lines) == 2
    assert lines[0].startswith("Amber /sites: rate limited by Amber (HTTP 429")
    assert lines[1].startswith("site ") and "s for the reset, then fetching the window again" in lines[1]
    assert KEY not in caplog.text


def test_5xx_bursts_are_retried(db_url, caplog):
    caplog.set_level(logging.WARNING)
    with SimulatorServer(sim_config(sites=2, fault_5xx_rate=0.15)) as sim:
        sim.faults.fail_next(3, status=503, endpoint="prices")  # a burst the client rides out
        sim.faults.fail_next(7, status=502, endpoint="usage")  # longer than the client's 5 attempts
        result = backfill(sim, db_url)
        assert result.ok
        assert_equals_truth(sim, db_url)
        assert result.requests > expected_requests(sim)  # the usage window the client gave up on, again
    lines = problem_lines(caplog)
    assert any("unavailable after 5 attempts" in line and "fetching the window again" in line for line in lines)
    assert KEY not in caplog.text


def test_truncated_json_refetches_the_window(db_url, caplog):
    caplog.set_level(logging.WARNING)
    with SimulatorServer(sim_config(sites=1)) as sim:
        sim.faults.truncate_next(2, endpoint="usage")
        result = backfill(sim, db_url)
        assert result.ok
        assert result.requests == expected_requests(sim) + 2
        assert_equals_truth(sim, db_url)
    lines = [line for line in problem_lines(caplog) if "not valid JSON" in line]
    assert len(lines) == 2
    assert "usage" in lines[0] and "fetching the window again" in lines[0]
    assert KEY not in caplog.text


def test_a_window_that_keeps_failing_is_reported_and_a_rerun_completes_it(db_url, caplog):
    caplog.set_level(logging.WARNING)
    retry = RetryPolicy(window_attempts=2, retry_delay=0.01, db_retry_delay=0.05)
    with SimulatorServer(sim_config(sites=1)) as sim:
        sim.faults.fail_next(10, status=500, endpoint="usage")  # 2 windows × 5 client attempts
        result = backfill(sim, db_url, retry=retry)
        assert not result.ok and len(result.failed) == 1
        assert result.failed[0].stream == "usage"
        rerun = backfill(sim, db_url, retry=retry)
        assert rerun.ok
        assert_equals_truth(sim, db_url)
    failed = [line for line in problem_lines(caplog) if "FAILED" in line]
    assert len(failed) == 1 and "run the backfill again to retry it" in failed[0]
    assert KEY not in caplog.text


def test_amber_down_stops_the_backfill_with_one_line(db_url):
    retry = RetryPolicy(window_attempts=1, consecutive_failures=3, retry_delay=0.01)
    with SimulatorServer(sim_config(sites=1)) as sim:
        sim.faults.fail_next(1000, status=503, endpoint="prices")
        sim.faults.fail_next(1000, status=503, endpoint="usage")
        with pytest.raises(BackfillError, match=r"3 windows in a row could not be fetched .* run the backfill again"):
            backfill(sim, db_url, retry=retry)


# -- the database going away --------------------------------------------------------------------------


def test_connection_terminated_mid_write_reconnects_without_extra_requests(db_url, caplog, monkeypatch):
    caplog.set_level(logging.INFO)

    def terminate_loader(n):
        if n == 2:
            with psycopg.connect(db_url, autocommit=True) as admin:
                killed = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'amber-home backfill' AND datname = current_database()"
                ).fetchall()
            assert killed == [(True,)]

    with SimulatorServer(sim_config(sites=2)) as sim:
        calls = wrap(monkeypatch, "write_usage", terminate_loader)
        result = backfill(sim, db_url)
        assert result.ok
        assert result.requests == expected_requests(sim)  # the fetched window was written again, not refetched
        assert len(calls) == result.plan.requests // 2 + 1
        assert_equals_truth(sim, db_url)
    lines = problem_lines(caplog)
    assert len(lines) == 1 and lines[0].startswith("database connection failed while writing site ")
    assert any(r.getMessage().startswith("database reachable again") for r in caplog.records)


def test_database_restart_mid_backfill(db_url, timescale_server, caplog, monkeypatch):
    caplog.set_level(logging.WARNING)
    restarted = threading.Event()

    def control(action: str) -> None:
        subprocess.run([str(TIMESCALEDB_SCRIPT), action, timescale_server.name], check=True, capture_output=True)

    def restart_later() -> None:
        time.sleep(1.0)
        control("start")
        wait_for_postgres(timescale_server.admin_url)
        restarted.set()

    def stop_server(n):
        if n == 3:
            control("stop")  # the write that follows finds the server gone
            threading.Thread(target=restart_later, daemon=True).start()

    with SimulatorServer(sim_config(sites=1)) as sim:
        wrap(monkeypatch, "write_prices", stop_server)
        result = backfill(sim, db_url, retry=FAST_RETRY)
        assert restarted.wait(30)
        assert result.ok and result.requests == expected_requests(sim)
        assert_equals_truth(sim, db_url)
    lines = problem_lines(caplog)
    assert len(lines) == 1 and lines[0].startswith("database connection failed while writing site ")


def test_database_gone_for_good_stops_with_one_line(db_url, monkeypatch):
    retry = RetryPolicy(db_retry_seconds=1.0, db_retry_delay=0.05, retry_delay=0.01)
    url = db_url
    with SimulatorServer(sim_config(sites=1)) as sim:
        # After the sites are saved, every new connection goes to a port where nothing listens.
        import loader.backfill as backfill_module

        real_connect = backfill_module.connect
        opened = []

        def connect(target, **kwargs):
            opened.append(target)
            dead = "postgresql://postgres@127.0.0.1:1/none" if len(opened) > 1 else target
            return real_connect(dead, **kwargs)

        monkeypatch.setattr(backfill_module, "connect", connect)

        def drop(n):
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'amber-home backfill' AND datname = current_database()"
                )

        wrap(monkeypatch, "write_prices", drop)
        with pytest.raises(
            BackfillError, match=r"database was unreachable for 1 s while writing .* run the backfill again"
        ):
            backfill(sim, url, retry=retry)


def test_windows_the_database_refuses_are_skipped_and_the_backfill_goes_on(db_url, caplog):
    """Data the parser does not know to be impossible but the database refuses (here a trigger raising a
    data exception for feed-in usage) skips those windows, not the backfill; a rerun completes them."""
    caplog.set_level(logging.WARNING)
    with psycopg.connect(db_url, autocommit=True) as admin:
        admin.execute(
            """
            CREATE FUNCTION refuse_feed_in() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.channel_type = 'feedIn' THEN
                    RAISE EXCEPTION 'numeric field overflow' USING ERRCODE = 'numeric_value_out_of_range';
                END IF;
                RETURN NEW;
            END $$
            """
        )
        admin.execute("CREATE TRIGGER refuse BEFORE INSERT ON usage FOR EACH ROW EXECUTE FUNCTION refuse_feed_in()")
    with SimulatorServer(sim_config(sites=1)) as sim:
        result = backfill(sim, db_url)
        usage_windows = [w for w in result.plan.windows if w.stream == "usage"]
        assert not result.ok and list(result.failed) == usage_windows
        assert result.windows_done == len(result.plan.windows) - len(usage_windows)  # every price window
        refused = [line for line in problem_lines(caplog) if "the database refused its data" in line]
        assert len(refused) == len(usage_windows) and "numeric field overflow" in refused[0]
        with psycopg.connect(db_url, autocommit=True) as admin:
            admin.execute("DROP TRIGGER refuse ON usage")
        assert backfill(sim, db_url).ok
        assert_equals_truth(sim, db_url)
