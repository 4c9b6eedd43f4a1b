"""Backfill pacing benchmark: does a backfill use the fewest requests, meet no 429, and take no longer
than the rate limit requires?

    uv run python -m bench.backfill_pacing [--limit 50] [--window 30] [--days 365] [--resolution 30]

Setup: the simulator in its own process (so it does not share the loader's GIL), frozen at a fixed
time, one site with `--days` of history, its rate limit scaled down to `--limit` requests per
`--window` seconds; a TimescaleDB started for the run (tests/support/servers.py) or BENCH_DATABASE_URL
(two scratch databases are created on that server). The backfill keeps reserve 0 (no exporter).

Two backfills of the same site-year, each into an empty database, in this process:
    baseline   the simulator without a rate limit: the pure work (HTTP, parse, write) of R requests
    paced      the simulator with the scaled-down limit

Definitions (printed with the results)
    R          requests the server counted: 1 /sites + the window requests
    minimum    1 + ceil(price days / 7) + ceil(usage days / 7): the fewest whole-day requests
    wall       paced run, from sending /sites to committing the last window (the final aggregate
               refresh is not paced and is left out of both runs)
    bound      the limit's lower bound: the server's window opens with the first request and admits
               `limit`; the R-th request cannot be sent before (ceil(R / limit) - 1) windows have
               passed, and after it opens the remaining requests still need their work, measured in
               the baseline as work(R) x tail / R (tail = requests in the last window). So
               bound = max(work(R), (ceil(R / limit) - 1) x window + work(R) x tail / R).
Goals: requests ÷ minimum = 1.00, 429s = 0, wall ÷ bound ≤ 1.05.

Note the simulator rounds RateLimit-Reset up to whole seconds (as Amber's header is whole seconds), so a
client obeying it waits up to 1 s more per window than a perfect one: negligible at Amber's 300 s, up to
~30 % at a 3 s window. The default window (30 s) keeps that rounding below the goal's 5 %.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from amber.client import AmberClient
from amber.nemtime import NEM_TZ
from amber.ratelimit import RateBudget
from bench.machine import machine
from loader.backfill import run_backfill
from loader.migrate import migrate
from loader.windows import minimum_requests

__all__ = ["main", "scratch_databases", "simulator_process"]

API_KEY = "bench-key"
NEM = NEM_TZ
FROZEN_AT = dt.datetime(2025, 6, 30, 12, 7, 30, tzinfo=NEM)


@contextmanager
def simulator_process(*, days: int, resolution: int, limit: int, window: float, sites: int = 1) -> Iterator[str]:
    """A simulator in a child process, frozen at FROZEN_AT; yields its base URL."""
    command = [
        sys.executable, "-m", "simulator", "--port", "0", "--api-key", API_KEY, "--seed", "5",
        "--sites", str(sites), "--resolution", str(resolution), "--history-days", str(days),
        "--rate-limit", str(limit), "--rate-window-seconds", str(window),
        "--speed", "0", "--start", FROZEN_AT.isoformat(), "--log-level", "WARNING",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        if "listening on " not in line:
            raise RuntimeError(f"the simulator did not start: {line!r}")
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def scratch_databases(count: int) -> Iterator[list[str]]:
    """`count` new, migrated databases: on BENCH_DATABASE_URL's server, or on a TimescaleDB started now."""
    from tests.support.servers import TimescaleServer

    admin = os.environ.get("BENCH_DATABASE_URL")
    server = None
    if admin is None:
        server = TimescaleServer.start()
        admin = server.admin_url
    base = admin.rsplit("/", 1)[0]
    names = [f"bench_backfill_{os.getpid()}_{k}" for k in range(count)]
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in names:
                conn.execute(f'CREATE DATABASE "{name}"')
        urls = [f"{base}/{name}" for name in names]
        for url in urls:
            migrate(url, timezone="Australia/Sydney")
        yield urls
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if server is not None:
            server.stop()


@dataclass
class Run:
    wall: float  # /sites sent -> last window committed
    requests: int  # counted by the client: /sites + windows, every HTTP attempt
    rate_limited: int
    windows: int


class _LastWindow:
    """Progress reporter that only notes when the last window was committed."""

    def __init__(self) -> None:
        self.at: float | None = None

    def start(self, plan) -> None:
        pass

    def window_done(self, event) -> None:
        self.at = time.monotonic()

    def finish(self, result) -> None:
        pass

    def close(self) -> None:
        pass


def backfill_once(base_url: str, database: str) -> Run:
    def clock() -> dt.datetime:
        return FROZEN_AT

    with AmberClient(API_KEY, base_url, budget=RateBudget(reserve=0)) as client:
        real_sites = client.sites
        sent: list[float] = []

        def sites():
            sent.append(time.monotonic())
            return real_sites()

        client.sites = sites
        last = _LastWindow()
        result = run_backfill(client, database, clock=clock, progress=last)
        stats = client.stats()["requests"]
    assert result.ok, result.failed
    return Run(
        wall=last.at - sent[0],
        requests=sum(sum(outcomes.values()) for outcomes in stats.values()),
        rate_limited=sum(outcomes["rate_limited"] for outcomes in stats.values()),
        windows=result.windows_done,
    )



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.backfill_pacing", description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=50, help="requests per window (Amber: 50)")
    parser.add_argument("--window", type=float, default=60.0, help="window seconds (Amber: 300)")
    parser.add_argument("--days", type=int, default=365, help="history of the site, days")
    parser.add_argument("--resolution", type=int, choices=(5, 30), default=30)
    args = parser.parse_args(argv)

    price_days, usage_days = args.days + 1, args.days  # activeFrom .. today / yesterday
    minimum = 1 + minimum_requests(price_days) + minimum_requests(usage_days)
    with scratch_databases(2) as (unlimited_db, paced_db):
        with simulator_process(days=args.days, resolution=args.resolution, limit=10**9, window=300) as url:
            base = backfill_once(url, unlimited_db)
        with simulator_process(days=args.days, resolution=args.resolution, limit=args.limit, window=args.window) as url:
            paced = backfill_once(url, paced_db)

    batches = math.ceil(paced.requests / args.limit)
    tail = paced.requests - (batches - 1) * args.limit
    pure_bound = (batches - 1) * args.window
    tail_work = base.wall * tail / paced.requests
    bound = max(base.wall, pure_bound + tail_work)
    print(
        f"Run of {dt.datetime.now().astimezone().date()} on {machine()}: one site, {args.days} days of {args.resolution}-minute history"
        f" (frozen at {FROZEN_AT.date()} NEM), limit {args.limit} per {args.window:g} s, reserve 0.\n"
    )
    print("| measure | result | goal |")
    print("|---|---:|---|")
    print(f"| requests ÷ minimum | {paced.requests} ÷ {minimum} = {paced.requests / minimum:.2f} | 1.00 |")
    print(f"| 429s received | {paced.rate_limited} | 0 |")
    print(f"| wall ÷ bound | {paced.wall:.1f} s ÷ {bound:.1f} s = {paced.wall / bound:.3f} | ≤ 1.05 |")
    print(
        f"| baseline: the same backfill without a limit | {base.wall:.1f} s ({base.wall / base.requests:.3f} s per request) | |"
    )
    print(
        f"\nbound = max(work {base.wall:.1f} s, (ceil({paced.requests} / {args.limit}) − 1) × {args.window:g} s"
        f" = {pure_bound:.0f} s + work of the last {tail} requests {tail_work:.1f} s)"
    )
    ok = paced.requests == minimum and paced.rate_limited == 0 and paced.wall / bound <= 1.05
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
