"""Ingest benchmark: the loader's write path (loader.db) against a bare COPY and per-row upserts.

    uv run python -m bench.ingest [--days 365] [--sample 20000] [--repeat 3] [--fsync-off]

Data: `--days` of 5-minute history for one site, generated in memory as the models the Amber client
returns (API-shaped JSON parsed by amber.parse, so `raw` is realistic): 3 price channels (general,
controlledLoad, feedIn; all ActualInterval) and 2 usage channels (E1 general, B1 feedIn). A year is
3 x 105,120 = 315,360 price rows and 2 x 105,120 = 210,240 usage rows: 525,600 rows. Generating and
parsing is not timed; converting models to rows is, in every measurement.

Measurements (rows/s over prices + usage together, each into empty tables unless said otherwise):
    a  write path   write_prices + write_usage, one batch per 7-day window (as a backfill does), one
                    transaction per batch
    b  bare COPY    the same rows and batches, binary COPY straight into prices/usage (numbers as
                    Decimal, which binary numeric needs), no conflict handling: the limit
    c  per-row      one `INSERT ... ON CONFLICT ... DO UPDATE` execute per row, committed per 7-day
                    window (the seed loader's way); only the first `--sample` rows are written and the
                    rate is extrapolated
    d  re-run       the whole period through the write path again: every row conflicts and is unchanged
a, b and d run --repeat times and the best run is reported (the machine's load varies); all runs are
printed. Results and what was tried: bench/README.md, "Ingest".

The server is a TimescaleDB started for the run (tests/support/servers.py's TimescaleServer and
scripts/timescaledb) with fsync ON, i.e. durable commits, unless --fsync-off; or the database at
BENCH_DATABASE_URL (its prices, usage and forecasts tables are TRUNCATED: use a scratch database).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from decimal import Decimal

import psycopg
from psycopg.types.json import set_json_dumps

from amber.models import PriceInterval, Usage
from amber.nemtime import NEM_TZ
from amber.parse import parse_price_intervals, parse_usage
from bench.database import bench_database
from bench.machine import machine
from loader import rows as R
from loader.db import _NUMERIC, PRICES, USAGE, _compact_json, _stage_type, write_prices, write_usage
from loader.migrate import migrate

SITE_ID = "01BENCHSITE000000000000000"
NEM = NEM_TZ
START = dt.datetime(2024, 7, 1, tzinfo=NEM).astimezone(dt.UTC)  # midnight NEM time
STEP = dt.timedelta(minutes=5)
WINDOW_DAYS = 7
PRICE_CHANNELS = ("general", "controlledLoad", "feedIn")
USAGE_CHANNELS = (("E1", "general"), ("B1", "feedIn"))
PERIODS = ("offPeak", "shoulder", "solarSponge", "peak")
DESCRIPTORS = ("extremelyLow", "veryLow", "low", "neutral", "high")

__all__ = ["main"]


# --- data ------------------------------------------------------------------------------------------


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _common(n: int, start: dt.datetime, channel: str) -> dict:
    end = start + STEP
    spot = round(((n * 7919) % 4001) / 97.0 - 3, 5)
    hour = (end.astimezone(NEM).hour + 24) % 24
    return {
        "duration": 5,
        "spotPerKwh": spot,
        "perKwh": round(
            -spot * 1.02 if channel == "feedIn" else spot * 1.1 + 18.2 - (4 if channel == "controlledLoad" else 0), 5
        ),
        "date": (start + dt.timedelta(seconds=1)).astimezone(NEM).date().isoformat(),
        "nemTime": end.astimezone(NEM).isoformat(),
        "startTime": _iso(start + dt.timedelta(seconds=1)),
        "endTime": _iso(end),
        "renewables": round(10 + (n % 800) / 10.0, 1),
        "channelType": channel,
        "tariffInformation": {"period": PERIODS[hour // 6], "season": "default", "demandWindow": 16 <= hour < 21},
        "spikeStatus": "none",
        "descriptor": DESCRIPTORS[n % len(DESCRIPTORS)],
    }


def generate(days: int) -> tuple[list[list[PriceInterval]], list[list[Usage]]]:
    """Per 7-day window: the price intervals (all channels) and usage rows (all channels)."""
    price_windows: list[list[PriceInterval]] = []
    usage_windows: list[list[Usage]] = []
    for first in range(0, days, WINDOW_DAYS):
        span = min(WINDOW_DAYS, days - first)
        window_start = START + dt.timedelta(days=first)
        prices: list[dict] = []
        usage: list[dict] = []
        for i in range(span * 288):
            start = window_start + i * STEP
            n = int(start.timestamp()) // 300
            for channel in PRICE_CHANNELS:
                prices.append({"type": "ActualInterval", **_common(n, start, channel)})
            for identifier, channel in USAGE_CHANNELS:
                item = _common(n, start, channel)
                kwh = -round((n % 13) * 0.0177, 4) if channel == "feedIn" else round(0.05 + (n % 17) * 0.0123, 4)
                item.update(
                    type="Usage",
                    channelIdentifier=identifier,
                    kwh=kwh,
                    quality="billable",
                    cost=round(abs(kwh) * item["perKwh"], 6),
                )
                usage.append(item)
        price_windows.append(parse_price_intervals(prices))
        usage_windows.append(parse_usage(usage))
    return price_windows, usage_windows


# --- server ----------------------------------------------------------------------------------------


def database(fsync: bool):
    return bench_database(durable=fsync, prefix="bench-ingest")


def _truncate(conn: psycopg.Connection) -> None:
    conn.execute("TRUNCATE prices, usage, forecasts")
    conn.commit()


# --- measurements ----------------------------------------------------------------------------------


def _timed(label: str, rows: int, fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - started
    rate = rows / elapsed
    print(f"  {label:<44} {rows:>9,} rows in {elapsed:7.2f} s = {rate:>10,.0f} rows/s", file=sys.stderr)
    return rate


def run_write_path(conn, price_windows, usage_windows, fetched_at) -> None:
    for prices, usage in zip(price_windows, usage_windows, strict=True):
        write_prices(conn, SITE_ID, prices, fetched_at=fetched_at)
        write_usage(conn, SITE_ID, usage, fetched_at=fetched_at)


def run_bare_copy(conn, price_windows, usage_windows, fetched_at) -> None:
    """Full rows from loader.rows straight into the tables by binary COPY, the numbers as Decimal (binary
    numeric needs them). Text-format COPY of the same rows measured slower: formatting timestamps as text
    costs more than the Decimals (bench/README.md)."""
    targets = (
        ("prices", R.PRICE_COLUMNS, lambda window: (R.price_row(SITE_ID, i, fetched_at) for i in window)),
        ("usage", R.USAGE_COLUMNS, lambda window: (R.usage_row(SITE_ID, u, fetched_at) for u in window)),
    )
    plans = []
    for table, columns, rows in targets:
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
        numeric = [i for i, c in enumerate(columns) if c in _NUMERIC]
        plans.append((sql, [_table_type(c) for c in columns], numeric, rows))
    for windows in zip(price_windows, usage_windows, strict=True):
        for (sql, types, numeric, rows), window in zip(plans, windows, strict=True):
            with conn.transaction(), conn.cursor() as cur:
                set_json_dumps(_compact_json, context=cur)
                with cur.copy(sql) as copy:
                    copy.set_types(types)
                    for row in rows(window):
                        row = list(row)
                        for i in numeric:
                            if row[i] is not None:
                                row[i] = Decimal(row[i])
                        copy.write_row(row)


def _table_type(column: str) -> str:
    if column == "site_id":
        return "text"
    if column in ("fetched_at", "issued_at"):
        return "timestamptz"
    return "numeric" if column in _NUMERIC else _stage_type(column)


def _row_upsert(table: str, columns: tuple[str, ...], key: tuple[str, ...]) -> str:
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"
    )


def run_per_row(conn, price_windows, usage_windows, fetched_at, sample: int) -> int:
    """The seed's way: one execute per row, a commit per window. Returns the rows written."""
    from psycopg.types.json import Jsonb

    price_sql = _row_upsert("prices", R.PRICE_COLUMNS, PRICES.key)
    usage_sql = _row_upsert("usage", R.USAGE_COLUMNS, USAGE.key)
    done = 0
    for prices, usage in zip(price_windows, usage_windows, strict=True):
        for sql, rows in (
            (price_sql, (R.price_row(SITE_ID, i, fetched_at) for i in prices)),
            (usage_sql, (R.usage_row(SITE_ID, u, fetched_at) for u in usage)),
        ):
            with conn.transaction(), conn.cursor() as cur:
                for row in rows:
                    if done >= sample:
                        break
                    *head, raw, fetched = row
                    cur.execute(sql, (*head, Jsonb(raw, dumps=_compact_json), fetched))
                    done += 1
            if done >= sample:
                return done
    return done



def _load() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=365, help="days of 5-minute history (default 365)")
    parser.add_argument("--sample", type=int, default=20000, help="rows written one by one for (c) (default 20000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of a, b and d; the best is reported (default 3)")
    parser.add_argument("--fsync-off", action="store_true", help="start the server with fsync off (not durable)")
    args = parser.parse_args(argv)

    print(f"generating {args.days} days of 5-minute data …", file=sys.stderr)
    price_windows, usage_windows = generate(args.days)
    n_prices = sum(map(len, price_windows))
    n_usage = sum(map(len, usage_windows))
    total = n_prices + n_usage
    print(f"  {n_prices:,} price + {n_usage:,} usage rows = {total:,} rows in {len(price_windows)} windows",
          file=sys.stderr)  # fmt: skip
    fetched_at = dt.datetime.now(dt.UTC)
    load_before = _load()

    runs: dict[str, list[float]] = {"a": [], "b": [], "c": [], "d": []}
    with database(fsync=not args.fsync_off) as url:
        migrate(url, timezone="Australia/Sydney")
        with psycopg.connect(url) as conn:
            version, fsync, sync_commit = conn.execute(
                "SELECT version(), current_setting('fsync'), current_setting('synchronous_commit')"
            ).fetchone()
            conn.commit()
            server = f"{version.split(' on ')[0]}, TimescaleDB (Apache build), fsync={fsync}, synchronous_commit={sync_commit}"
            print(f"server: {server}", file=sys.stderr)
            measurements = (
                ("b", "b  bare COPY (no conflict handling)", run_bare_copy, True),
                ("a", "a  write path, 7-day batches", run_write_path, True),
                ("d", "d  re-run through the write path", run_write_path, False),  # a's rows still there
            )
            for run in range(1, args.repeat + 1):
                print(f"run {run} of {args.repeat}:", file=sys.stderr)
                for key, label, fn, empty_first in measurements:
                    if empty_first:
                        _truncate(conn)
                    runs[key].append(
                        _timed(label, total, lambda fn=fn: fn(conn, price_windows, usage_windows, fetched_at))
                    )
            _truncate(conn)
            sample = min(args.sample, total)
            def per_row() -> int:
                return run_per_row(conn, price_windows, usage_windows, fetched_at, sample)

            runs["c"].append(_timed(f"c  per-row upsert (first {sample:,} rows)", sample, per_row))
    rates = {key: max(values) for key, values in runs.items()}

    print()
    print(f"Ingest benchmark, {dt.datetime.now().astimezone().date().isoformat()}: {args.days} days of 5-minute data, {n_prices:,} price +"
          f" {n_usage:,} usage rows = {total:,} rows in {len(price_windows)} weekly windows.")  # fmt: skip
    print(f"Machine: {machine()}; load average {load_before} before, {_load()} after.")
    print(f"Server: {server}{' (BENCH_DATABASE_URL)' if os.environ.get('BENCH_DATABASE_URL') else ''}.")
    print(f"Best of {args.repeat} runs for a, b, d (all runs: see stderr); c from one {sample:,}-row sample.")
    print()
    print("| measurement | rows/s | all runs |")
    print("|---|---:|---|")
    labels = {
        "a": "a. write path (COPY → staging → INSERT … ON CONFLICT), 7-day batches",
        "b": "b. bare COPY into the tables, no conflict handling",
        "c": f"c. per-row INSERT … ON CONFLICT DO UPDATE ({sample:,}-row sample, extrapolated)",
        "d": "d. re-run of the same period through the write path (all conflicts)",
    }
    for key in "abcd":
        print(f"| {labels[key]} | {rates[key]:,.0f} | {', '.join(f'{r:,.0f}' for r in runs[key])} |")
    print()
    print(f"a/b = {rates['a'] / rates['b']:.2f} (goal >= 0.5); a/c = {rates['a'] / rates['c']:.1f} (goal >= 20);"
          f" d/b = {rates['d'] / rates['b']:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
