"""Smoke test of the native stack: `scripts/stack up` in demo mode, everything working end to end, then
`scripts/stack down --delete-data` leaves nothing running.

Throwaway state dir, cluster name and free ports, and an empty env file instead of the checkout's .env, so
it never touches a stack of your own. Needs root, like scripts/timescaledb (./scripts/test runs as root).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from runtime.settings import _VARS
from tests.stack.test_compose import compose_config
from tests.support.servers import free_port

pytestmark = pytest.mark.timescaledb  # a real TimescaleDB, started by scripts/stack

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "scripts" / "stack"
SERVICES = ("simulator", "loader", "exporter", "alertmanager", "prometheus")
WAIT_SECONDS = 90


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def alive(pid: int, start: str) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(") ", 1)[1].split()[19] == start


def wait_for(what: str, check, seconds: float = WAIT_SECONDS):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"; the last one is reported
            result, last = None, exc
        if result:
            return result
        time.sleep(1)
    pytest.fail(f"{what} did not happen within {seconds} s (last error: {last!r})", pytrace=False)


@pytest.fixture
def stack_env(tmp_path):
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    env = {k: v for k, v in os.environ.items() if k not in {v.name for v in _VARS} and not k.endswith("_FILE")}
    env.pop("VIRTUAL_ENV", None)
    env |= {
        "AMBER_STACK_DIR": str(tmp_path / "state"),
        "AMBER_STACK_ENV_FILE": str(env_file),
        "AMBER_STACK_DB_CLUSTER": f"smoke-{os.getpid()}",
        "AMBER_STACK_DB_PORT": str(free_port()),
        "AMBER_STACK_SIMULATOR_PORT": str(free_port()),
        "EXPORTER_PORT": str(free_port()),
        "AMBER_STACK_PROMETHEUS_PORT": str(free_port()),
        "AMBER_STACK_ALERTMANAGER_PORT": str(free_port()),
    }
    yield env
    subprocess.run([str(STACK), "down", "--delete-data"], env=env, capture_output=True, timeout=120)


def stack(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(STACK), *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_native_stack_up_works_end_to_end_and_down_stops_everything(stack_env, tmp_path):
    if os.geteuid() != 0:
        pytest.fail("scripts/stack needs root (the database runs from a chroot); run ./scripts/test as root")
    env = stack_env
    state = Path(env["AMBER_STACK_DIR"])
    exporter = f"http://127.0.0.1:{env['EXPORTER_PORT']}"
    prometheus = f"http://127.0.0.1:{env['AMBER_STACK_PROMETHEUS_PORT']}"
    port = env["AMBER_STACK_DB_PORT"]

    up = stack(env, "up")
    assert up.returncode == 0, f"scripts/stack up failed:\n{up.stderr[-3000:]}"
    secrets = state / "secrets"
    assert {p.name for p in secrets.iterdir()} == {"postgres_password", "writer_password", "reader_password",
                                                   "relay_token"}
    assert all(p.stat().st_mode & 0o077 == 0 and len(p.read_text()) == 32 for p in secrets.iterdir())
    database = f"postgresql://amber:{(secrets / 'postgres_password').read_text()}@127.0.0.1:{port}/amber"

    # Password auth, not trust: no login without the password, whichever role.
    for role in ("amber", "amber_writer", "amber_reader", "postgres"):
        with pytest.raises(psycopg.OperationalError, match=r"password authentication failed|no password supplied"):
            psycopg.connect(f"postgresql://{role}:wrong@127.0.0.1:{port}/amber", connect_timeout=5)
    assert "demo mode" in up.stdout and "Grafana does not run natively" in up.stdout
    assert f"{exporter}/metrics" in up.stdout

    # The exporter serves a current price, polled from the simulator.
    def current_price():
        return re.search(
            r'^amber_price_dollars_per_kwh\{channel="general"[^}]*\} -?\d', get(f"{exporter}/metrics"), re.MULTILINE
        )

    wait_for("a current price on the exporter's /metrics", current_price)

    # The database holds the backfilled and collected prices up to now.
    with psycopg.connect(database) as conn:
        recent, newest_age = conn.execute(
            "SELECT count(*), extract(epoch FROM now() - max(interval_start)) FROM prices"
            " WHERE interval_start > now() - interval '6 hours'"
        ).fetchone()
    assert recent >= 6 and newest_age < 3600, (recent, newest_age)

    # Each service logs in as the weakest role that does its job.
    with psycopg.connect(database) as conn:
        roles = dict(conn.execute(
            "SELECT application_name, usename FROM pg_stat_activity WHERE application_name LIKE 'amber-home %'"
        ).fetchall())
    assert roles.get("amber-home collect") == "amber_writer", roles

    # compose.yaml's loader healthcheck holds on the native stack too.
    test = compose_config(tmp_path)["services"]["loader"]["healthcheck"]["test"]
    healthcheck = subprocess.run(
        [sys.executable, "-c", test[3]], env={**os.environ, "DATABASE_URL": database},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert healthcheck.returncode == 0, healthcheck.stderr

    # Prometheus scrapes every target of the generated config: exporter, itself, Alertmanager.
    def all_targets_up():
        targets = json.loads(get(f"{prometheus}/api/v1/targets"))["data"]["activeTargets"]
        jobs = {t["labels"]["job"]: t["health"] for t in targets}
        return (
            jobs
            if set(jobs) == {"amber-exporter", "prometheus", "alertmanager"} and set(jobs.values()) == {"up"}
            else None
        )

    wait_for("every Prometheus target up", all_targets_up)

    status = stack(env, "status", timeout=60)
    assert status.returncode == 0, status.stdout + status.stderr

    # A second `up` finds everything running and starts nothing new.
    pids = {name: (state / "run" / f"{name}.pid").read_text().split() for name in SERVICES}
    again = stack(env, "up")
    assert again.returncode == 0, again.stderr[-3000:]
    for name in SERVICES:
        assert f"{name}: already running" in again.stderr
        assert (state / "run" / f"{name}.pid").read_text().split() == pids[name]

    down = stack(env, "down", "--delete-data", timeout=120)
    assert down.returncode == 0, down.stderr
    left = [name for name, (pid, start) in pids.items() if alive(int(pid), start)]
    assert not left, f"still running after down: {left}"
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(database, connect_timeout=2)
    cluster = subprocess.run(
        [str(REPO / "scripts" / "timescaledb"), "status", env["AMBER_STACK_DB_CLUSTER"]], capture_output=True
    )
    assert cluster.returncode == 4, "the database cluster should be gone after down --delete-data"
    assert not state.exists()
