"""What keeping the continuous aggregates exact costs the follow loop on TimescaleDB TSL: the narrow
refresh of the buckets one collect cycle wrote (loader.aggregates.refresh_written) against a full
refresh of every aggregate (refresh_aggregates()), each after the same write.

    uv run python -m bench.refresh_written [--days 120] [--repeat 5]

Runs on the TSL tier (PGlite with TimescaleDB TSL, tests/support/servers.py): the only TSL build here.
PGlite is WebAssembly, so absolute times are slower than a native server; the ratio is the point.
Data: bench.aggregates.seed — `--days` of 30-minute usage on 2 channels and 5-minute prices on 3 channel
types for one site, then one full refresh (what a backfill ends with). Each measured cycle then writes
what a collect poll writes — the newest price interval of each channel, updated in place inside the
already-materialized current hour — and refreshes; after the timed runs every aggregate is checked
against a recount from the raw rows (tests/support/recount.py), for both ways. Results: bench/README.md
("Refreshing what a collect cycle wrote").
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time

import psycopg

from bench.aggregates import END_DAY, SITE_ID, TZ, seed
from bench.machine import machine
from loader.aggregates import refresh_aggregates, refresh_written
from loader.migrate import migrate

__all__ = ["main"]

ONE_MICROSECOND = dt.timedelta(microseconds=1)


def write_newest_interval(conn: psycopg.Connection, cycle: int) -> tuple[dt.datetime, dt.datetime]:
    """Rewrite the newest price of each channel, as a poll's final price does; return its span."""
    rows = conn.execute(
        "UPDATE prices SET per_kwh = per_kwh + %s WHERE site_id = %s"
        " AND interval_start = (SELECT max(interval_start) FROM prices WHERE site_id = %s) RETURNING interval_start",
        (0.001 * (cycle + 1), SITE_ID, SITE_ID),
    ).fetchall()
    starts = [row[0] for row in rows]
    return min(starts), max(starts) + ONE_MICROSECOND


def timed_cycles(conn: psycopg.Connection, refresh, repeat: int) -> float:
    times = []
    for cycle in range(repeat + 1):  # the first is a warm-up
        span = write_newest_interval(conn, cycle)
        begin = time.perf_counter()
        refresh(span)
        times.append(time.perf_counter() - begin)
    return statistics.median(times[1:])


def main(argv: list[str] | None = None) -> int:
    from tests.support.recount import mismatched
    from tests.support.servers import PGliteServer

    parser = argparse.ArgumentParser(prog="python -m bench.refresh_written", description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=120, help="days of history to seed (default 120)")
    parser.add_argument("--repeat", type=int, default=5, help="timed cycles per way; the median is reported")
    args = parser.parse_args(argv)
    server = PGliteServer.start()
    try:
        with psycopg.connect(server.url, autocommit=True) as conn:
            migrate(conn, timezone=TZ)
            conn.autocommit = False
            usage_rows, price_rows = seed(conn, END_DAY - dt.timedelta(days=args.days), END_DAY)
            conn.autocommit = True
            license_, version = conn.execute(
                "SELECT current_setting('timescaledb.license'),"
                " (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb')"
            ).fetchone()
            begin = time.perf_counter()
            refresh_aggregates(conn)
            first = time.perf_counter() - begin
            narrow = timed_cycles(conn, lambda span: refresh_written(conn, [span]), args.repeat)
            narrow_exact = mismatched(conn, TZ) == []
            full = timed_cycles(conn, lambda span: refresh_aggregates(conn), args.repeat)
            full_exact = mismatched(conn, TZ) == []
    finally:
        server.stop()
    print(f"machine: {machine()}")
    print(f"TimescaleDB {version} ({license_} license) in PGlite; {args.days} days: {usage_rows:,} usage + "
          f"{price_rows:,} price rows; first full refresh {first:.2f} s")  # fmt: skip
    print(f"one collect cycle's refresh, median of {args.repeat}:")
    print(f"  refresh_written (the buckets written)  {narrow * 1000:9.1f} ms   exact: {narrow_exact}")
    print(f"  refresh_aggregates() (everything)      {full * 1000:9.1f} ms   exact: {full_exact}")
    print(f"  full / narrow = {full / narrow:.1f}")
    return 0 if narrow_exact and full_exact else 1


if __name__ == "__main__":
    sys.exit(main())
