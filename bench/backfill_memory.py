"""Backfill memory benchmark: a backfill streams window by window, so its peak memory must not grow
with the length of the history.

    uv run python -m bench.backfill_memory [--years 2] [--resolution 5]

The simulator runs in its own process (frozen in time, no rate limit) with one site of `--years` of
`--resolution`-minute history. Each backfill runs in a fresh child process into its own empty database
(tests/support/servers.py's TimescaleServer, or BENCH_DATABASE_URL's server), so each peak is its own:
    long    the whole history (prices and usage from the site's activeFrom)
    short   the last 30 days only (--from), the baseline, in the same run
The child reports VmHWM (peak resident set) from /proc/self/status, and its resident set after
importing everything and opening the client and a connection ("ready"), so the growth during the
backfill is visible too. Goal: peak(long) ÷ peak(short) ≈ 1 (history is never held in memory).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys

from bench.backfill_pacing import API_KEY, FROZEN_AT, scratch_databases, simulator_process
from bench.machine import machine

__all__ = ["main"]


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(base_url: str, database: str, start: str | None) -> None:
    """Run one backfill and print its numbers as JSON (runs in a child process)."""
    import time

    from amber.client import AmberClient
    from amber.ratelimit import RateBudget
    from loader.backfill import run_backfill
    from runtime.database import connect

    with AmberClient(API_KEY, base_url, budget=RateBudget(reserve=0)) as client:
        connect(database, application_name="warm-up").close()
        ready = _status_kib("VmRSS")
        started = time.monotonic()
        result = run_backfill(
            client, database, start_date=dt.date.fromisoformat(start) if start else None, clock=lambda: FROZEN_AT
        )
        elapsed = time.monotonic() - started
    print(
        json.dumps(
            {
                "ready_kib": ready,
                "peak_kib": _status_kib("VmHWM"),
                "end_kib": _status_kib("VmRSS"),
                "requests": result.requests,
                "rows": result.rows,
                "seconds": elapsed,
                "ok": result.ok,
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.backfill_memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument("--resolution", type=int, choices=(5, 30), default=5)
    parser.add_argument("--child", nargs=3, metavar=("URL", "DATABASE", "START"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        url, database, start = args.child
        child(url, database, None if start == "-" else start)
        return 0

    days = 365 * args.years
    short_from = (FROZEN_AT.date() - dt.timedelta(days=30)).isoformat()
    results = {}
    with (
        scratch_databases(2) as (long_db, short_db),
        simulator_process(days=days, resolution=args.resolution, limit=10**9, window=300) as url,
    ):
        for name, database, start in (("short", short_db, short_from), ("long", long_db, "-")):
            out = subprocess.run(
                [sys.executable, "-m", "bench.backfill_memory", "--child", url, database, start],
                capture_output=True,
                text=True,
                check=True,
            )
            results[name] = json.loads(out.stdout.strip().splitlines()[-1])
    print(
        f"Run of {dt.datetime.now().astimezone().date()} on {machine()}: one site, {args.resolution}-minute prices (3 channels) and"
        f" 30-minute usage (3 channels), frozen at {FROZEN_AT.date()} NEM; each backfill in a fresh process.\n"
    )
    print("| backfill | requests | rows | seconds | RSS ready, MiB | peak RSS, MiB | peak − ready, MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    mib = 1024.0
    for name, label in (("short", "last 30 days"), ("long", f"{args.years} years")):
        r = results[name]
        print(
            f"| {label} | {r['requests']} | {r['rows']:,} | {r['seconds']:.1f} | {r['ready_kib'] / mib:.1f}"
            f" | {r['peak_kib'] / mib:.1f} | {(r['peak_kib'] - r['ready_kib']) / mib:.1f} |"
        )
    ratio = results["long"]["peak_kib"] / results["short"]["peak_kib"]
    print(f"\npeak RSS, {args.years} years ÷ 30 days = {ratio:.2f} (goal ≈ 1)")
    return 0 if ratio <= 1.15 and all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
