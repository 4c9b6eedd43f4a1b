"""Aggregates benchmark: what cost_daily and price_hourly save the queries `amber-home query` runs, and
what refreshing them costs on the Apache build.

    uv run python -m bench.aggregates [--years 2] [--repeat 5] [--fsync-off]

Data, seeded server-side with INSERT … SELECT generate_series (not through the loader, so seeding takes
seconds): `--years` of local days in Australia/Sydney for one site — 30-minute usage on 2 channels (E1
general, B1 feedIn: 2 x 17,520 rows a year) and 5-minute ActualInterval prices on 3 channel types
(general, controlledLoad, feedIn: 3 x 105,120 rows a year), each row with an API-sized `raw` jsonb like
the loader stores. Then VACUUM ANALYZE and a full refresh of the aggregates.

Measurements, each the median of `--repeat` runs after one warm-up run (a warm cache: a household's
history fits in shared_buffers):
    a  daily cost over the whole period from cost_daily — loader.query.COSTS_SQL, exactly what
       `amber-home query costs N` runs — against the same numbers computed from raw usage
       (time_bucket by local day); the two results are checked to be equal, cent for cent
    b  hour-of-day price profile over the whole period from price_hourly (loader.query.PRICES_SQL, as
       `amber-home query prices N --channel all`) against the same from raw prices
    c  loader.query.summary() (ranges and counts walk the raw tables' primary keys), and once more with
       the server's default JIT, which the query session turns off
    d  refresh on the Apache build: REFRESH MATERIALIZED VIEW (full, blocking) and … CONCURRENTLY
       (what loader.aggregates.refresh_aggregates runs) per view, with nothing changed, and
       refresh_aggregates() after one day of usage was rewritten

The server is a TimescaleDB started for the run (tests/support/servers.py, scripts/timescaledb) with
fsync on unless --fsync-off, or the database at BENCH_DATABASE_URL (migrated; its sites, channels,
prices and usage are TRUNCATED: use a scratch database).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

import psycopg

from bench.database import bench_database
from bench.machine import machine
from loader.aggregates import AGGREGATES, aggregate_kind, refresh_aggregates
from loader.migrate import migrate
from loader.query import COSTS_SQL, PRICES_SQL, session_options, summary

__all__ = ["main"]

TZ = "Australia/Sydney"
ZONE = ZoneInfo(TZ)
SITE_ID = "01BENCHAGGREGATES000000000"
END_DAY = dt.date(2025, 7, 1)  # first day NOT seeded
USAGE_CHANNELS = (("E1", "general"), ("B1", "feedIn"))
PRICE_CHANNELS = ("general", "controlledLoad", "feedIn")

# n numbers the 5-minute slots since the epoch; values are deterministic, with 4-5 decimals like the API's.
SEED_USAGE = """
INSERT INTO usage (site_id, channel_identifier, channel_type, interval_start, interval_end, nem_time, nem_date,
                   duration_minutes, kwh, cost, quality, per_kwh, spot_per_kwh, renewables, descriptor,
                   spike_status, tariff_period, tariff_season, demand_window, raw)
SELECT %(site)s, %(id)s, %(type)s, s, s + d, s + d, ((s + d - INTERVAL '1 second') AT TIME ZONE 'Australia/Brisbane')::date,
       30, kwh, cost, CASE WHEN n %% 97 = 0 THEN 'estimated' ELSE 'billable' END,
       price, round(price / 3, 5), 20 + n %% 61, 'low', 'none', 'offPeak', 'default', false,
       jsonb_build_object('type', 'Usage', 'duration', 30, 'date', (s AT TIME ZONE 'Australia/Brisbane')::date,
                          'startTime', s + INTERVAL '1 second', 'endTime', s + d, 'nemTime', s + d,
                          'channelIdentifier', %(id)s::text, 'channelType', %(type)s::text, 'kwh', kwh, 'cost', cost,
                          'quality', 'billable', 'perKwh', price, 'spotPerKwh', round(price / 3, 5),
                          'renewables', 20 + n %% 61, 'descriptor', 'low', 'spikeStatus', 'none',
                          'tariffInformation', jsonb_build_object('period', 'offPeak', 'season', 'default',
                                                                  'demandWindow', false))
FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - INTERVAL '30 minutes', INTERVAL '30 minutes') AS s,
     LATERAL (SELECT INTERVAL '30 minutes' AS d, (extract(epoch FROM s) / 300)::bigint AS n) AS k,
     LATERAL (SELECT CASE %(type)s WHEN 'feedIn' THEN -round((n %% 13) * 0.0977, 4)
                                   ELSE round(0.05 + (n %% 17) * 0.0623, 4) END AS kwh,
                     CASE %(type)s WHEN 'feedIn' THEN -round(3 + (n * 7919 %% 1009) / 1000.0, 5)
                                   ELSE round(15 + (n * 7919 %% 4001) / 100.0, 5) END AS price) AS v,
     -- Amber's signs: feed-in kwh and cost negative (a credit) while its price is negative (paid).
     LATERAL (SELECT round(CASE %(type)s WHEN 'feedIn' THEN -kwh * price ELSE kwh * price END, 5) AS cost) AS c
"""

SEED_PRICES = """
INSERT INTO prices (site_id, channel_type, interval_start, interval_end, nem_time, nem_date, duration_minutes,
                    per_kwh, spot_per_kwh, renewables, descriptor, spike_status, interval_type, tariff_period,
                    tariff_season, demand_window, raw)
SELECT %(site)s, %(type)s, s, s + d, s + d, ((s + d - INTERVAL '1 second') AT TIME ZONE 'Australia/Brisbane')::date, 5,
       price, spot, renewables, 'neutral', 'none', 'ActualInterval', 'offPeak', 'default', false,
       jsonb_build_object('type', 'ActualInterval', 'duration', 5, 'date', (s AT TIME ZONE 'Australia/Brisbane')::date,
                          'startTime', s + INTERVAL '1 second', 'endTime', s + d, 'nemTime', s + d,
                          'perKwh', price, 'spotPerKwh', spot, 'renewables', renewables, 'channelType', %(type)s::text,
                          'spikeStatus', 'none', 'descriptor', 'neutral',
                          'tariffInformation', jsonb_build_object('period', 'offPeak', 'season', 'default',
                                                                  'demandWindow', false))
FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - INTERVAL '5 minutes', INTERVAL '5 minutes') AS s,
     LATERAL (SELECT INTERVAL '5 minutes' AS d, (extract(epoch FROM s) / 300)::bigint AS n) AS k,
     LATERAL (SELECT round((n * 104729 %% 3001) / 61.0 - 5, 5) AS spot,
                     round(10 + (n %% 800) / 10.0, 1) AS renewables) AS w,
     LATERAL (SELECT CASE %(type)s WHEN 'feedIn' THEN -round(spot * 1.02, 5)
                                   WHEN 'controlledLoad' THEN round(spot * 1.1 + 14.2, 5)
                                   ELSE round(spot * 1.1 + 18.2, 5) END AS price) AS v
"""

# The same rows as COSTS_SQL (without its gap-filling, as there are no gaps) straight from usage.
COSTS_FROM_RAW_SQL = """
SELECT (time_bucket(INTERVAL '1 day', interval_start, %(tz)s) AT TIME ZONE %(tz)s)::date AS day,
       site_id,
       coalesce(sum(cost) FILTER (WHERE channel_type <> 'feedIn'), 0),
       coalesce(-sum(cost) FILTER (WHERE channel_type = 'feedIn'), 0),
       sum(cost),
       sum(CASE WHEN channel_type = 'feedIn' THEN 0 ELSE kwh END),
       sum(CASE WHEN channel_type = 'feedIn' THEN -kwh ELSE 0 END),
       count(*),
       sum(CASE WHEN quality = 'estimated' THEN 1 ELSE 0 END)
FROM usage
WHERE interval_start >= %(since)s AND interval_start < %(before)s AND site_id = %(site)s
GROUP BY site_id, 1
ORDER BY site_id, 1
"""

# PRICES_SQL's profile straight from prices (plain means over the intervals).
PRICES_FROM_RAW_SQL = """
SELECT site_id, channel_type, extract(hour FROM interval_start AT TIME ZONE %(tz)s)::int AS hour,
       avg(per_kwh), min(per_kwh), max(per_kwh), avg(spot_per_kwh), avg(renewables), count(*)
FROM prices
WHERE interval_start >= %(since)s AND interval_start < %(before)s AND site_id = %(site)s
GROUP BY site_id, channel_type, hour
ORDER BY site_id, channel_type, hour
"""


# --- server ----------------------------------------------------------------------------------------


def database(fsync: bool):
    return bench_database(durable=fsync, prefix="bench-aggregates")


# --- data ------------------------------------------------------------------------------------------


def seed(conn: psycopg.Connection, first_day: dt.date, end_day: dt.date) -> tuple[int, int]:
    start = dt.datetime.combine(first_day, dt.time(), tzinfo=ZONE)
    end = dt.datetime.combine(end_day, dt.time(), tzinfo=ZONE)
    conn.execute("TRUNCATE prices, usage, forecasts, channels, sites CASCADE")
    conn.execute(
        "INSERT INTO sites (site_id, nmi, network, status, active_from, interval_length_minutes, raw)"
        " VALUES (%s, '4102BENCH00', 'Ausgrid', 'active', %s, 30, '{}')",
        (SITE_ID, first_day),
    )
    # E2 (controlled load) has prices but no usage: its meter reads nothing.
    for identifier, channel_type in (*USAGE_CHANNELS, ("E2", "controlledLoad")):
        conn.execute("INSERT INTO channels VALUES (%s, %s, %s, 'EA116')", (SITE_ID, identifier, channel_type))
    for identifier, channel_type in USAGE_CHANNELS:
        conn.execute(SEED_USAGE, {"site": SITE_ID, "id": identifier, "type": channel_type, "start": start, "end": end})
    for channel_type in PRICE_CHANNELS:
        conn.execute(SEED_PRICES, {"site": SITE_ID, "type": channel_type, "start": start, "end": end})
    conn.commit()
    usage_rows, price_rows = conn.execute("SELECT (SELECT count(*) FROM usage), (SELECT count(*) FROM prices)").fetchone()
    conn.commit()
    conn.autocommit = True
    conn.execute("VACUUM ANALYZE usage")
    conn.execute("VACUUM ANALYZE prices")
    conn.autocommit = False
    return usage_rows, price_rows


# --- measurements ----------------------------------------------------------------------------------


def median_seconds(run: Callable[[], object], repeat: int) -> tuple[float, object]:
    result = run()  # warm-up, and the result to check
    times = []
    for _ in range(repeat):
        begin = time.perf_counter()
        run()
        times.append(time.perf_counter() - begin)
    return statistics.median(times), result


def fetch(conn: psycopg.Connection, query: str, params: dict) -> Callable[[], list[tuple]]:
    def run() -> list[tuple]:
        rows = conn.execute(query, params).fetchall()
        conn.rollback()
        return rows

    return run


def refresh_each(conn: psycopg.Connection, concurrently: bool) -> dict[str, float]:
    conn.autocommit = True
    try:
        seconds = {}
        for aggregate in AGGREGATES:
            begin = time.perf_counter()
            conn.execute(f"REFRESH MATERIALIZED VIEW {'CONCURRENTLY ' if concurrently else ''}{aggregate.name}")
            seconds[aggregate.name] = time.perf_counter() - begin
        return seconds
    finally:
        conn.autocommit = False



def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.aggregates", description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=int, default=2, help="years of history to seed (default 2)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement; the median is reported")
    parser.add_argument("--fsync-off", action="store_true", help="start the server with fsync off")
    args = parser.parse_args(argv)
    first_day = END_DAY.replace(year=END_DAY.year - args.years)
    days = (END_DAY - first_day).days
    since = dt.datetime.combine(first_day, dt.time(), tzinfo=ZONE)
    before = dt.datetime.combine(END_DAY, dt.time(), tzinfo=ZONE)
    last_day = END_DAY - dt.timedelta(days=1)

    with database(fsync=not args.fsync_off) as url:
        migrate(url, timezone=TZ)
        # The session `amber-home query` opens (read-only, JIT off; see loader.query.session_options), except
        # that this one may write: it seeds, refreshes and rewrites a day.
        options = session_options(ZONE, timeout_ms=0).replace("default_transaction_read_only=on", "default_transaction_read_only=off")
        with psycopg.connect(url, options=options) as conn:
            version, fsync = conn.execute("SELECT version(), current_setting('fsync')").fetchone()
            print(f"server: {version.split(',')[0]}; fsync={fsync}", file=sys.stderr)
            begin = time.perf_counter()
            usage_rows, price_rows = seed(conn, first_day, END_DAY)
            seeding = time.perf_counter() - begin
            print(f"seeded {usage_rows:,} usage + {price_rows:,} price rows in {seeding:.1f} s", file=sys.stderr)
            kind = aggregate_kind(conn)
            conn.commit()
            begin = time.perf_counter()
            refresh_aggregates(conn)
            first_refresh = time.perf_counter() - begin

            params = {"first": first_day, "last": last_day, "since": since, "before": before, "site": SITE_ID, "tz": TZ,
                      "channel": None}
            cost_agg, agg_rows = median_seconds(fetch(conn, COSTS_SQL, params), args.repeat)
            cost_raw, raw_rows = median_seconds(fetch(conn, COSTS_FROM_RAW_SQL, params), args.repeat)
            if [tuple(r) for r in agg_rows] != [tuple(r) for r in raw_rows]:
                print("MISMATCH: cost_daily and raw usage disagree", file=sys.stderr)
                return 1
            price_agg, agg_profile = median_seconds(fetch(conn, PRICES_SQL, params), args.repeat)
            price_raw, raw_profile = median_seconds(fetch(conn, PRICES_FROM_RAW_SQL, params), args.repeat)
            for a, r in zip(agg_profile, raw_profile, strict=True):
                assert a[:3] == r[:3] and a[4:6] == r[4:6] and a[8] == r[8], (a, r)
                assert all(abs(x - y) < 1e-9 for x, y in zip(a[3:8:], r[3:8], strict=True) if x is not None), (a, r)
            now = dt.datetime.combine(END_DAY, dt.time(1), tzinfo=ZONE)

            def run_summary():
                result = summary(conn, zone=ZONE, now=now, until=last_day)
                conn.rollback()
                return result

            summary_s, _ = median_seconds(run_summary, args.repeat)
            # Once with the server's default JIT, to show why the query session turns it off.
            conn.execute("SET jit = on")
            conn.commit()
            begin = time.perf_counter()
            run_summary()
            summary_jit_s = time.perf_counter() - begin
            conn.execute("SET jit = off")
            conn.commit()

            refresh_full = refresh_concurrent = None
            rewrite_refresh = None
            if kind == "materialized view":
                fulls = [refresh_each(conn, concurrently=False) for _ in range(args.repeat)]
                refresh_full = {name: statistics.median(f[name] for f in fulls) for name in fulls[0]}
                concurrents = [refresh_each(conn, concurrently=True) for _ in range(args.repeat)]
                refresh_concurrent = {name: statistics.median(c[name] for c in concurrents) for name in concurrents[0]}
                times = []
                for n in range(args.repeat):
                    conn.execute(
                        "UPDATE usage SET cost = cost + %s WHERE site_id = %s AND interval_start >= %s AND interval_start < %s",
                        (0.00001 if n % 2 == 0 else -0.00001, SITE_ID, before - dt.timedelta(days=1), before),
                    )
                    conn.commit()
                    begin = time.perf_counter()
                    refresh_aggregates(conn)
                    times.append(time.perf_counter() - begin)
                rewrite_refresh = statistics.median(times)

    today = dt.datetime.now().astimezone().date().isoformat()
    print()
    print(f"Aggregates benchmark, {today}: {days} local days ({first_day} to {last_day}, {TZ}), "
          f"{usage_rows:,} usage rows (30 min, 2 channels) + {price_rows:,} price rows (5 min, 3 channels); "
          f"aggregates: {kind}")
    print(f"{machine()}; fsync {fsync}{' (BENCH_DATABASE_URL)' if os.environ.get('BENCH_DATABASE_URL') else ''}; "
          f"median of {args.repeat} runs after a warm-up")
    print()
    print("| query | from the aggregate, ms | from the raw rows, ms | raw / aggregate |")
    print("|---|---:|---:|---:|")
    print(f"| a. daily cost, {days} days (`query costs {days}`; {len(agg_rows)} rows, equal to the cent) "
          f"| {ms(cost_agg)} | {ms(cost_raw)} | {cost_raw / cost_agg:.1f} |")
    print(f"| b. price by hour of day, {days} days, 3 channels (`query prices {days} --channel all`) "
          f"| {ms(price_agg)} | {ms(price_raw)} | {price_raw / price_agg:.1f} |")
    print()
    print(f"c. `query summary` (ranges and counts on the raw tables' primary keys): {ms(summary_s)} ms; "
          f"with JIT on (the server default; one run): {ms(summary_jit_s)} ms")
    print(f"first refresh_aggregates() after seeding: {first_refresh:.2f} s")
    if refresh_full is not None:
        print()
        print("| d. refresh, nothing changed | REFRESH MATERIALIZED VIEW, ms | … CONCURRENTLY, ms |")
        print("|---|---:|---:|")
        for name in refresh_full:
            print(f"| {name} | {ms(refresh_full[name])} | {ms(refresh_concurrent[name])} |")
        print(f"| all four | {ms(sum(refresh_full.values()))} | {ms(sum(refresh_concurrent.values()))} |")
        print()
        print(f"refresh_aggregates() after rewriting one day of usage: {ms(rewrite_refresh)} ms "
              "(the Apache build recomputes whole views whatever changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
