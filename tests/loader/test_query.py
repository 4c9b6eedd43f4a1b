"""`amber-home query`: every subcommand's numbers equal an independent computation from the seeded raw rows
(exact cents, across Sydney's 25-hour 2025-04-06), every format parses, `sql` cannot write, and each kind
of bad input gets one line instead of a traceback. Runs on the real TimescaleDB (Apache build)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import random
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from amber_home.cli import main as cli_main
from loader.aggregates import refresh_aggregates
from loader.migrate import migrate
from loader.query import total, varying_columns, with_totals
from loader.table_format import Column, Table, dollars, render, render_rich
from tests.support.servers import free_port

TZ = "Australia/Sydney"
SYDNEY = ZoneInfo(TZ)
REPO = Path(__file__).resolve().parents[2]
DST_END = dt.date(2025, 4, 6)  # 25 local hours in Sydney
FIRST, LAST = dt.date(2025, 4, 3), dt.date(2025, 4, 8)
GAP = dt.date(2025, 4, 4)  # S1 has no usage at all this day
S1, S2 = "01S1SITE5MIN", "02S2SITE30MIN"
# (site, identifier, type, minutes)
USAGE_CHANNELS = [(S1, "E1", "general", 5), (S1, "E2", "controlledLoad", 5), (S1, "B1", "feedIn", 5), (S2, "E1", "general", 30)]
PRICE_CHANNELS = [(S1, "general", 5), (S1, "feedIn", 5), (S2, "general", 30)]


def local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=SYDNEY)


def intervals(first: dt.date, last: dt.date, minutes: int):
    start, end = local_midnight(first).astimezone(dt.UTC), local_midnight(last + dt.timedelta(days=1)).astimezone(dt.UTC)
    step = dt.timedelta(minutes=minutes)
    while start < end:
        yield start, start + step
        start += step


def nem_date(end: dt.datetime) -> dt.date:
    return (end.astimezone(dt.timezone(dt.timedelta(hours=10))) - dt.timedelta(seconds=1)).date()


def make_rows(seed: int = 7):
    """Deterministic usage and price rows with 4-5 decimals; feed-in kwh negative and cost mostly negative."""
    rng = random.Random(seed)
    usage, prices = [], []
    for site, identifier, channel_type, minutes in USAGE_CHANNELS:
        first = FIRST if site == S1 else dt.date(2025, 4, 5)
        last = LAST if site == S1 else dt.date(2025, 4, 7)
        for start, end in intervals(first, last, minutes):
            if site == S1 and start.astimezone(SYDNEY).date() == GAP:
                continue
            kwh = Decimal(rng.randint(0, 5000)) / 10000
            price = Decimal(rng.randint(500, 60000)) / 1000
            if channel_type == "feedIn":
                kwh = -kwh
                price = -price if rng.random() < 0.9 else price  # sometimes exporting costs money
            # Amber's signs: feed-in kwh negative; a negative feed-in price pays, so the cost is a negative credit.
            cost = ((-kwh if channel_type == "feedIn" else kwh) * price).quantize(Decimal("0.00001"))
            quality = "estimated" if rng.random() < 0.05 else "billable"
            usage.append((site, identifier, channel_type, start, end, end, nem_date(end), minutes, kwh, cost, quality,
                          price, Decimal(rng.randint(0, 20000)) / 1000, Decimal(rng.randint(0, 1000)) / 10))
    for site, channel_type, minutes in PRICE_CHANNELS:
        first = FIRST if site == S1 else dt.date(2025, 4, 5)
        last = LAST if site == S1 else dt.date(2025, 4, 7)
        all_intervals = list(intervals(first, last, minutes))
        for number, (start, end) in enumerate(all_intervals):
            per_kwh = Decimal(rng.randint(-5000, 90000)) / 1000 * (-1 if channel_type == "feedIn" else 1)
            kind = "CurrentInterval" if number == len(all_intervals) - 1 else "ActualInterval"
            prices.append((site, channel_type, start, end, end, nem_date(end), minutes, per_kwh,
                           Decimal(rng.randint(-2000, 30000)) / 1000, Decimal(rng.randint(0, 1000)) / 10,
                           kind, True if kind == "CurrentInterval" else None))
    return usage, prices


USAGE, PRICES = make_rows()


def insert(conn, prefix: str, rows, template: str, chunk: int = 100) -> None:
    """Multi-row INSERT … VALUES in chunks of 100 rows: PGlite takes these (it has no COPY, its connection
    broke on executemany and on 400-row statements)."""
    rows = list(rows)
    for first in range(0, len(rows), chunk):
        part = rows[first:first + chunk]
        conn.execute(prefix + " VALUES " + ", ".join([template] * len(part)), [v for row in part for v in row])


def seed(url: str, *, refresh: bool = True) -> None:
    with psycopg.connect(url) as conn:
        insert(conn, "INSERT INTO sites (site_id, nmi, network, status, active_from, interval_length_minutes, raw)",
               [(S1, "NMI5", 5), (S2, "NMI30", 30)], "(%s, %s, 'Ausgrid', 'active', '2024-01-01', %s, '{}')")
        insert(conn, "INSERT INTO channels", sorted({(s, i, t) for s, i, t, _ in USAGE_CHANNELS}), "(%s, %s, %s, 'A100')")
        insert(conn, "INSERT INTO usage (site_id, channel_identifier, channel_type, interval_start, interval_end, nem_time,"
               " nem_date, duration_minutes, kwh, cost, quality, per_kwh, spot_per_kwh, renewables, descriptor,"
               " spike_status, raw)", USAGE, "(" + "%s, " * 14 + "'low', 'none', '{}')")
        insert(conn, "INSERT INTO prices (site_id, channel_type, interval_start, interval_end, nem_time, nem_date,"
               " duration_minutes, per_kwh, spot_per_kwh, renewables, interval_type, estimate, descriptor, spike_status,"
               " raw)", PRICES, "(" + "%s, " * 12 + "'neutral', 'none', '{}')")
        conn.commit()
        if refresh:
            refresh_aggregates(conn)


@pytest.fixture
def db(apache_db):
    migrate(apache_db, timezone=TZ, reader_password=READER_PASSWORD)
    return apache_db


@pytest.fixture(scope="module")
def seeded(timescale_server):
    """One migrated, seeded database for the read-only tests (they prove they change nothing)."""
    name = timescale_server.create_database()
    url = timescale_server.url(name)
    # `query sql` logs in as amber_reader: migrate gives it LOGIN (the test cluster trusts loopback).
    migrate(url, timezone=TZ, reader_password=READER_PASSWORD)
    seed(url)
    yield url
    timescale_server.drop_database(name)


READER_PASSWORD = "reader pw %zz"


def env(url: str, **extra: str) -> dict[str, str]:
    return {"DATABASE_URL": url, "AMBER_TIMEZONE": TZ, **extra}


def run(capsys, url: str, *args: str, **extra: str) -> tuple[int, str, str]:
    code = cli_main(["query", *args], env(url, **extra))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, url: str, *args: str):
    code, out, err = run(capsys, url, *args, "--format", "json")
    assert code == 0, err
    return json.loads(out, parse_float=Decimal), err


# --- independent computations from the seeded rows ----------------------------------------------------


def expected_costs(first: dt.date, last: dt.date, site: str | None = None):
    days = defaultdict(lambda: defaultdict(Decimal))
    for s, _ident, ctype, start, _end, _nt, _nd, _m, kwh, cost, quality, *_ in USAGE:
        day = start.astimezone(SYDNEY).date()
        if not first <= day <= last or (site and s != site):
            continue
        d = days[(s, day)]
        if ctype == "feedIn":
            d["credits"] -= cost
            d["kwh_out"] -= kwh
        else:
            d["imports"] += cost
            d["kwh_in"] += kwh
        d["net"] += cost
        d["intervals"] += 1
        d["estimated"] += quality == "estimated"
    return days


def expected_profile(first: dt.date, last: dt.date, channel: str, site: str):
    hours = defaultdict(list)
    for s, ctype, start, _e, _nt, _nd, _m, per_kwh, spot, renewables, *_ in PRICES:
        local = start.astimezone(SYDNEY)
        if s == site and ctype == channel and first <= local.date() <= last:
            hours[local.hour].append((per_kwh, spot, renewables))
    return hours


# --- costs ---------------------------------------------------------------------------------------------


def test_costs_json_equal_exact_sums_across_the_dst_day_with_gap_days_listed(seeded, capsys):
    records, err = run_json(capsys, seeded, "costs", "6", "--until", str(LAST))
    assert err == ""
    expected = expected_costs(FIRST, LAST)
    by_key = {(r["site_id"], dt.date.fromisoformat(r["day"])): r for r in records}
    # S1: every day from the 3rd to the 8th, the gap day included with nulls; S2: the 5th to the 7th.
    assert sorted(by_key) == sorted(
        [(S1, FIRST + dt.timedelta(days=n)) for n in range(6)] + [(S2, dt.date(2025, 4, d)) for d in (5, 6, 7)]
    )
    gap = by_key[(S1, GAP)]
    assert all(gap[k] is None for k in ("imports_cents", "credits_cents", "net_cents", "kwh_in", "intervals"))
    for key, record in by_key.items():
        if key == (S1, GAP):
            continue
        want = expected[key]
        assert record["imports_cents"] == want["imports"]
        assert record["credits_cents"] == want["credits"]
        assert record["net_cents"] == want["net"] == want["imports"] - want["credits"]
        assert record["kwh_in"] == want["kwh_in"]
        assert record["kwh_out"] == want["kwh_out"]
        assert record["intervals"] == want["intervals"]
        assert record["estimated_intervals"] == want["estimated"]
    # The 25-hour day: 300 five-minute intervals on each of S1's three channels, 50 half-hours on S2.
    assert by_key[(S1, DST_END)]["intervals"] == 900
    assert by_key[(S2, DST_END)]["intervals"] == 50
    assert by_key[(S1, DST_END)]["credits_cents"] > 0  # feed-in earned money back that day
    assert type(by_key[(S1, DST_END)]["net_cents"]) is Decimal  # exact in the JSON text, not a rounded float


def test_costs_table_shows_dollars_totals_and_gaps_and_csv_keeps_cents(seeded, capsys):
    code, out, err = run(capsys, seeded, "costs", "6", "--until", str(LAST), "--site", S1)
    assert code == 0 and err == ""
    assert "\x1b" not in out and "│" not in out  # captured stdout is no terminal: plain text
    expected = expected_costs(FIRST, LAST, S1)
    net = expected[(S1, DST_END)]["net"]
    dst_line = next(line for line in out.splitlines() if line.startswith(str(DST_END)))
    assert dollars(net) in dst_line and dollars(net) == f"${net / 100:,.2f}".replace("$-", "-$")
    total = sum(d["net"] for d in expected.values())
    total_line = next(line for line in out.splitlines() if line.startswith("Total"))
    assert dollars(total) in total_line
    assert f"{GAP}  " in out and "1 day(s) without any usage rows" in out
    assert S1 not in out  # one site: no site column for people

    code, out, err = run(capsys, seeded, "costs", "6", "--until", str(LAST), "--site", S1, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["day"] for r in rows] == [str(FIRST + dt.timedelta(days=n)) for n in range(6)]
    assert {r["site_id"] for r in rows} == {S1}
    for r in rows:
        day = dt.date.fromisoformat(r["day"])
        if day == GAP:
            assert r["net_cents"] == ""
        else:
            assert Decimal(r["net_cents"]) == expected[(S1, day)]["net"]
            assert Decimal(r["credits_cents"]) == expected[(S1, day)]["credits"]


def test_dollars_round_half_cents_away_from_zero():
    assert dollars(Decimal("123456.5")) == "$1,234.57"
    assert dollars(Decimal("-50")) == "-$0.50"
    assert dollars(Decimal("-0.4")) == "$0.00"
    assert dollars(Decimal("0.49999")) == "$0.00"
    assert dollars(Decimal("-150.5")) == "-$1.51"


# --- prices --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["general", "feedIn"])
def test_prices_hour_of_day_profile_equals_raw_means(seeded, capsys, channel):
    records, _ = run_json(capsys, seeded, "prices", "6", "--until", str(LAST), "--site", S1, "--channel", channel)
    expected = expected_profile(FIRST, LAST, channel, S1)
    assert [r["hour"] for r in records] == list(range(24))
    for r in records:
        values = expected[r["hour"]]
        n = len(values)
        assert r["intervals"] == n and r["channel_type"] == channel and r["site_id"] == S1
        assert r["min_per_kwh"] == min(v[0] for v in values)
        assert r["max_per_kwh"] == max(v[0] for v in values)
        # Means come from price_hourly's hourly means weighted by intervals: exact to numeric's ~16 digits.
        assert abs(r["avg_per_kwh"] - sum(v[0] for v in values) / n) < Decimal("1e-12")
        assert abs(r["avg_spot_per_kwh"] - sum(v[1] for v in values) / n) < Decimal("1e-12")
        assert abs(r["avg_renewables"] - sum(v[2] for v in values) / n) < Decimal("1e-12")
    # Hour 2 holds both 02:00 hours of 2025-04-06: 6 days x 12 intervals + 12 more.
    assert records[2]["intervals"] == 6 * 12 + 12


def test_prices_all_channels_csv_and_unknown_channel_notice(seeded, capsys):
    code, out, err = run(capsys, seeded, "prices", "3", "--until", "2025-04-07", "--channel", "all", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {(r["site_id"], r["channel_type"]) for r in rows} == {(S1, "general"), (S1, "feedIn"), (S2, "general")}
    s2 = {int(r["hour"]): r for r in rows if r["site_id"] == S2}
    expected = expected_profile(dt.date(2025, 4, 5), dt.date(2025, 4, 7), "general", S2)
    assert all(Decimal(s2[h]["max_per_kwh"]) == max(v[0] for v in expected[h]) for h in range(24))

    code, out, err = run(capsys, seeded, "prices", "3", "--until", "2025-04-07", "--channel", "controlledLoad")
    assert code == 0 and out == ""
    assert err == "no controlledLoad prices stored; the channel types here are feedIn, general (see --channel)\n"


def test_prices_table_hours_are_local(seeded, capsys):
    _code, out, _err = run(capsys, seeded, "prices", "1", "--until", "2025-04-05", "--site", S2)
    lines = out.splitlines()
    assert lines[0].startswith("Price by hour of day, general, 2025-04-05 (Australia/Sydney)")
    assert lines[1].split()[:2] == ["Hour", "Avg"]
    assert [line.split()[0] for line in lines[3:27]] == [f"{h:02d}:00" for h in range(24)]
    assert all(line.split()[-1] == "2" for line in lines[3:27])  # two half-hours per hour


# --- usage ---------------------------------------------------------------------------------------------


def test_usage_per_channel_equals_raw_sums(seeded, capsys):
    records, _ = run_json(capsys, seeded, "usage", "6", "--until", str(LAST))
    expected = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0), 0])
    for s, ident, ctype, start, _e, _nt, _nd, _m, kwh, cost, *_ in USAGE:
        e = expected[(start.astimezone(SYDNEY).date(), s, ident)]
        e[0 if ctype != "feedIn" else 1] += kwh if ctype != "feedIn" else -kwh
        e[2] += cost
        e[3] += 1
    got = {(dt.date.fromisoformat(r["day"]), r["site_id"], r["channel_identifier"]): r for r in records}
    assert set(got) == set(expected)
    for key, (kwh_in, kwh_out, cost, count) in expected.items():
        r = got[key]
        assert (r["kwh_imported"], r["kwh_exported"], r["cost_cents"], r["intervals"]) == (kwh_in, kwh_out, cost, count)
    assert got[(DST_END, S1, "B1")]["channel_type"] == "feedIn" and got[(DST_END, S1, "B1")]["kwh_exported"] > 0


# --- summary -------------------------------------------------------------------------------------------


def test_summary_json_sites_ranges_counts_freshness_and_week(seeded, capsys):
    data, _ = run_json(capsys, seeded, "summary", "--until", str(LAST))
    assert set(data) == {"sites", "data", "costs"}
    assert [s["site_id"] for s in data["sites"]] == [S1, S2]
    assert data["sites"][0]["channels"] == "B1 feedIn, E1 general, E2 controlledLoad"
    streams = {(r["site_id"], r["stream"]): r for r in data["data"]}
    assert set(streams) == {(S1, "prices"), (S1, "usage"), (S2, "prices"), (S2, "usage")}
    s1_usage = streams[(S1, "usage")]
    assert s1_usage["rows"] == sum(1 for u in USAGE if u[0] == S1)
    assert (s1_usage["first_day"], s1_usage["last_day"], s1_usage["missing_days"]) == (str(FIRST), str(LAST), 1)
    s1_prices = streams[(S1, "prices")]
    assert s1_prices["rows"] == sum(1 for p in PRICES if p[0] == S1) and s1_prices["missing_days"] == 0
    # Freshness: the newest ACTUAL price (the last interval is a CurrentInterval), the newest usage.
    newest_actual = max(p[3] for p in PRICES if p[0] == S1 and p[10] == "ActualInterval")
    assert dt.datetime.fromisoformat(s1_prices["newest"]) == newest_actual
    assert dt.datetime.fromisoformat(s1_usage["newest"]) == max(u[4] for u in USAGE if u[0] == S1)
    assert dt.datetime.fromisoformat(s1_prices["newest"]).utcoffset() == dt.timedelta(hours=10)  # local time
    age = dt.datetime.now(dt.UTC) - newest_actual
    assert abs(s1_prices["age_seconds"] - age.total_seconds()) < 120
    # The last 7 days' cost: 2025-04-03..08 for S1 (window 04-02..08 starts before the data), 05..07 for S2.
    expected = expected_costs(LAST - dt.timedelta(days=6), LAST)
    week = {(r["site_id"], r["day"]): r["net_cents"] for r in data["costs"]}
    assert len(week) == 9
    assert all(week[(s, str(d))] == v["net"] for (s, d), v in expected.items())


def test_summary_table_is_plain_and_readable(seeded, capsys):
    code, out, err = run(capsys, seeded, "summary", "--until", str(LAST))
    assert code == 0 and err == "" and "\x1b" not in out
    assert out.startswith("Sites\n")
    assert "Stored data" in out and "Daily cost, 2025-04-02 to 2025-04-08" in out
    assert " d" in out  # ages of a year or so: days


def test_site_filter_and_unknown_site(seeded, capsys):
    records, _ = run_json(capsys, seeded, "costs", "6", "--until", str(LAST), "--site", S2)
    assert {r["site_id"] for r in records} == {S2}
    code, out, err = run(capsys, seeded, "costs", "--site", "NOPE")
    assert code == 1 and out == ""
    assert err == f"error: unknown site 'NOPE'; the database has: {S1}, {S2}\n"


def test_window_without_data_names_the_newest_day(seeded, capsys):
    code, out, err = run(capsys, seeded, "costs", "7", "--until", "2025-03-01")
    assert code == 0 and out == ""
    assert err == f"no usage for 2025-02-23 to 2025-03-01; the newest is from {LAST} (try --until {LAST})\n"
    records, err = run_json(capsys, seeded, "costs", "7", "--until", "2025-03-01")
    assert records == [] and "no usage" in err


def test_unrefreshed_aggregates_are_named(db, capsys):
    seed(db, refresh=False)
    code, _out, err = run(capsys, db, "usage", "3", "--until", str(LAST))
    assert code == 0
    assert "usage has rows for 2025-04-06 to 2025-04-08 but cost_daily has none" in err


# --- empty, missing, unreachable -----------------------------------------------------------------------


@pytest.mark.parametrize("what", [["summary"], ["costs", "7"], ["prices", "7"], ["usage", "7"]])
def test_empty_database_says_run_backfill(db, capsys, what):
    code, out, err = run(capsys, db, *what)
    assert (code, out, err) == (0, "", "no data yet — run amber-home backfill\n")
    parsed, err = run_json(capsys, db, *what)
    assert parsed == ({"sites": [], "data": [], "costs": []} if what == ["summary"] else [])
    code, out, err = run(capsys, db, *what, "--format", "csv")
    assert out.splitlines()[0].count(",") >= 5  # the header row, so a csv reader sees the columns


def test_unmigrated_database(apache_db, capsys):
    code, out, err = run(capsys, apache_db, "summary")
    assert code == 1 and out == ""
    assert err.startswith("error: the database has no Amber-Home schema yet (missing sites, channels, prices")
    assert err.endswith("— run amber-home migrate\n")


def test_unreachable_database_one_line_with_redacted_url(capsys):
    url = f"postgresql://amber:s3cret-pw@127.0.0.1:{free_port()}/amber"
    code, out, err = run(capsys, url, "costs", "7")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "s3cret-pw" not in err
    assert err.startswith(f"error: cannot reach the database at postgresql://amber:***@{url.split('@')[1]}: ")
    assert err.rstrip().endswith("check DATABASE_URL and that TimescaleDB is running")


@pytest.mark.parametrize("bad", ["0", "-3", "seven", "99999"])
def test_bad_day_count_is_an_argparse_error(capsys, bad):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["query", "costs", bad], env("postgresql://nobody@127.0.0.1:1/none"))
    assert exit_info.value.code == 2
    assert "amber-home query costs: error: argument N:" in capsys.readouterr().err


# --- sql -----------------------------------------------------------------------------------------------


def test_sql_select_in_every_format(seeded, capsys):
    statement = f"SELECT site_id, sum(cost) AS cents, count(*) AS n FROM usage WHERE site_id = '{S1}' GROUP BY 1"
    total = sum(u[9] for u in USAGE if u[0] == S1)
    records, _ = run_json(capsys, seeded, "sql", statement)
    assert records == [{"site_id": S1, "cents": total, "n": sum(1 for u in USAGE if u[0] == S1)}]
    _code, out, _ = run(capsys, seeded, "sql", statement, "--format", "csv")
    assert list(csv.reader(io.StringIO(out))) == [["site_id", "cents", "n"], [S1, format(total, "f"), str(records[0]["n"])]]
    _code, out, _ = run(capsys, seeded, "sql", statement)
    assert out.splitlines()[0].split() == ["site_id", "cents", "n"] and out.rstrip().endswith("(1 row)")
    # Session time zone is AMBER_TIMEZONE; duplicate names stay distinct keys; jsonb nests.
    records, _ = run_json(capsys, seeded, "sql", "SELECT 1 AS a, 2 AS a, '2025-04-06 03:00Z'::timestamptz AS t,"
                          " '{\"k\": [1.5]}'::jsonb AS j, 'NaN'::numeric AS nan, '100%' AS pct")
    assert records == [{"a": 1, "a_2": 2, "t": "2025-04-06T13:00:00+10:00", "j": {"k": [Decimal("1.5")]}, "nan": None,
                        "pct": "100%"}]


WRITES = [
    "INSERT INTO sites (site_id, nmi, raw) VALUES ('X', 'Y', '{}')",
    "DELETE FROM usage",
    "UPDATE usage SET cost = 0",
    "CREATE TABLE mine (id int)",
    "CREATE TEMP TABLE mine (id int)",
    "WITH gone AS (DELETE FROM prices RETURNING 1) SELECT count(*) FROM gone",
    "SELECT set_config('transaction_read_only', 'off', true)",
    "SET TRANSACTION READ WRITE",
    "COMMIT; DELETE FROM usage",
    "SET default_transaction_read_only = off; DELETE FROM usage",
    "TRUNCATE usage",
]


def counts(url: str) -> tuple[int, ...]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM usage), (SELECT count(*) FROM prices), (SELECT count(*) FROM sites),"
            " (SELECT sum(cost) FROM usage), (SELECT to_regclass('mine') IS NULL)"
        ).fetchone()


@pytest.mark.parametrize("statement", WRITES)
def test_sql_refuses_writes_and_changes_nothing(seeded, capsys, statement):
    before = counts(seeded)
    code, out, err = run(capsys, seeded, "sql", statement)
    assert code == 1 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("error: ")
    assert counts(seeded) == before


def test_sql_write_refusal_says_read_only(seeded, capsys):
    _code, _, err = run(capsys, seeded, "sql", "DELETE FROM usage")
    assert err == ("error: cannot execute DELETE in a read-only transaction — `amber-home query sql` only reads;"
                   " change data with psql as the database owner\n")
    _code, _, err = run(capsys, seeded, "sql", "SELECT 1; DELETE FROM usage")
    assert err == "error: `amber-home query sql` runs one statement at a time; run each separately\n"


def test_sql_bad_sql_is_the_database_message(seeded, capsys):
    assert run(capsys, seeded, "sql", "SELECT * FROM pricez") == (1, "", 'error: relation "pricez" does not exist\n')
    assert run(capsys, seeded, "sql", "SELEC 1") == (1, "", 'error: syntax error at or near "SELEC" (at character 1)\n')
    code, _, err = run(capsys, seeded, "sql", "SELECT pg_sleep(2)", "--timeout", "0.2")
    assert code == 1 and err == "error: canceling statement due to statement timeout (raise it with --timeout SECONDS)\n"


def test_sql_statement_from_stdin_and_non_row_statements(seeded, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("SELECT count(*) AS n FROM sites\n"))
    records, _ = run_json(capsys, seeded, "sql", "-")
    assert records == [{"n": 2}]
    code, out, _err = run(capsys, seeded, "sql", "SET work_mem = '8MB'")
    assert (code, out) == (0, "SET\n")


def test_sql_as_the_reader_role(apache_db, capsys):
    password = "reader pw with spaces"
    migrate(apache_db, timezone=TZ, reader_password=password)
    seed(apache_db)
    before = counts(apache_db)
    extra = {"AMBER_READER_PASSWORD": password}
    records, _ = run_json_env(capsys, apache_db, extra, "sql", "SELECT current_user AS who, count(*) AS n FROM cost_daily")
    assert records[0]["who"] == "amber_reader" and records[0]["n"] > 0
    code, out, err = run(capsys, apache_db, "sql", "DELETE FROM usage", **extra)
    assert code == 1 and "read-only transaction" in err
    # The test cluster trusts every login, so refuse this one the way a never-migrated role would be.
    with psycopg.connect(apache_db, autocommit=True) as admin:
        admin.execute("ALTER ROLE amber_reader NOLOGIN")
        try:
            code, out, err = run(capsys, apache_db, "sql", "SELECT 1", AMBER_READER_PASSWORD="not-this-one")
        finally:
            admin.execute("ALTER ROLE amber_reader LOGIN")
    assert code == 1 and out == "" and err.count("\n") == 1 and "not-this-one" not in err
    assert err.startswith("error: cannot log in to postgresql://postgres@") and "as amber_reader: " in err
    assert 'role "amber_reader" is not permitted to log in' in err and "amber-home migrate gave it" in err
    assert counts(apache_db) == before
    # The other subcommands keep DATABASE_URL's user.
    records, _ = run_json_env(capsys, apache_db, extra, "costs", "1", "--until", str(LAST))
    assert records


# What a superuser DATABASE_URL could do inside a READ ONLY transaction before `sql` ran as amber_reader.
ATTACKS = [
    "COPY (SELECT 1) TO PROGRAM 'touch /tmp/amber-query-was-here'",
    "COPY prices TO '/tmp/amber-query-was-here'",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT set_config('role', 'none', false), pg_read_file('/etc/passwd')",
    ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
    " AND usesysid <> (SELECT oid FROM pg_roles WHERE rolname = current_user)"),
    "LOCK TABLE prices IN ACCESS EXCLUSIVE MODE",
    "SELECT lo_from_bytea(0, 'x')",
    "SELECT pg_advisory_xact_lock(42)",
]


@pytest.mark.parametrize("statement", ATTACKS)
def test_sql_runs_with_the_readers_privileges_whatever_database_url_is(seeded, capsys, statement):
    before = counts(seeded)
    code, out, err = run(capsys, seeded, "sql", statement)  # DATABASE_URL: the superuser, no reader password
    assert (code, out) == (1, "") and err.count("\n") == 1 and "Traceback" not in err, err
    if not statement.startswith("COPY"):  # COPY is refused before its privileges are (see the next test)
        assert err.startswith("error: permission denied") and "(connected as the read-only role amber_reader)" in err
    assert counts(seeded) == before and not Path("/tmp/amber-query-was-here").exists()


def test_sql_copy_to_stdout_is_one_line(seeded, capsys):
    code, out, err = run(capsys, seeded, "sql", "COPY prices TO STDOUT")
    assert (code, out) == (1, "")
    assert err == "error: `amber-home query sql` cannot run COPY; SELECT the rows with --format csv instead\n"


def test_sql_streams_a_large_result_in_bounded_memory(seeded):
    """300 MB of rows through a real process: csv is written as the rows arrive, so the process stays
    below the result's size (it held all of it before: 1M narrower rows took ~455 MB)."""
    script = (
        "import resource, sys; from amber_home.cli import main; code = main(sys.argv[1:], {'DATABASE_URL': "
        f"{seeded!r}, 'AMBER_TIMEZONE': {TZ!r}}}); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, file=sys.stderr); sys.exit(code)"
    )
    statement = "SELECT g, repeat('x', 290) AS pad FROM generate_series(1, 1000000) AS g"
    result = subprocess.run(
        [sys.executable, "-c", script, "query", "sql", statement, "--format", "csv", "--timeout", "600"],
        capture_output=True, cwd=REPO, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.count(b"\n")
    assert lines == 1_000_001 and len(result.stdout) > 290_000_000
    peak_mb = int(result.stderr.decode().strip().splitlines()[-1])
    # 35-70 MB measured alone, up to 150 MB on a loaded machine; holding the rows takes over 600 MB.
    assert peak_mb < 250, f"peak RSS {peak_mb} MB"


def run_json_env(capsys, url, extra, *args):
    code = cli_main(["query", *args, "--format", "json"], env(url, **extra))
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out, parse_float=Decimal), err


def test_timezone_change_is_warned(seeded, capsys):
    code, out, err = run(capsys, seeded, "costs", "3", "--until", str(LAST), AMBER_TIMEZONE="Australia/Perth")
    assert code == 0 and out
    assert err.startswith("warning: the aggregates' days are local to Australia/Sydney")


# --- a real process, a real pipe -----------------------------------------------------------------------


def test_subprocess_pipe_gets_plain_text_and_json(seeded):
    environ = {**os.environ, **env(seeded)}
    environ.pop("AMBER_READER_PASSWORD", None)
    command = [sys.executable, "-m", "amber_home.cli", "query"]
    table = subprocess.run([*command, "costs", "6", "--until", str(LAST), "--site", S1], capture_output=True,
                           text=True, env=environ, cwd=REPO, timeout=60)
    assert table.returncode == 0 and table.stderr == ""
    assert "\x1b" not in table.stdout and "Total" in table.stdout and "$" in table.stdout
    result = subprocess.run([*command, "summary", "--until", str(LAST), "--format", "json"], capture_output=True,
                            text=True, env=environ, cwd=REPO, timeout=60)
    assert result.returncode == 0
    assert json.loads(result.stdout)["sites"][0]["site_id"] == S1
    bad = subprocess.run([*command, "sql", "SELECT * FROM pricez"], capture_output=True, text=True, env=environ,
                         cwd=REPO, timeout=60)
    assert (bad.returncode, bad.stdout, bad.stderr) == (1, "", 'error: relation "pricez" does not exist\n')
    # | head: closing the pipe early is not an error.
    head = subprocess.run(f"{' '.join(command)} prices 6 --until {LAST} --channel all | head -n 2", shell=True,
                          capture_output=True, text=True, env=environ, cwd=REPO, timeout=60)
    assert head.returncode == 0 and "Traceback" not in head.stderr and "BrokenPipe" not in head.stderr


# --- formats without a database ------------------------------------------------------------------------

SAMPLE = Table(
    "costs",
    "Daily cost",
    (Column("day", "Day", "date"), Column("net_cents", "Net", "money"), Column("kwh_in", "kWh in", "kwh"),
     Column("newest", "Newest", "timestamp"), Column("age_seconds", "Age", "age")),
    (
        (dt.date(2025, 4, 6), Decimal("1234.56789"), Decimal("12.3456"),
         dt.datetime(2025, 4, 5, 15, 30, tzinfo=dt.UTC), dt.timedelta(hours=3, minutes=20)),
        (dt.date(2025, 4, 7), None, None, None, None),
    ),
)


def test_formats_keep_exact_cents_and_render_people_friendly():
    out = io.StringIO()
    render([SAMPLE], "json", out, tty=False, zone=SYDNEY)
    assert '"net_cents": 1234.56789' in out.getvalue()
    records = json.loads(out.getvalue(), parse_float=Decimal)
    assert records[0] == {"day": "2025-04-06", "net_cents": Decimal("1234.56789"), "kwh_in": Decimal("12.3456"),
                          "newest": "2025-04-06T02:30:00+11:00", "age_seconds": 12000}
    assert records[1]["net_cents"] is None

    out = io.StringIO()
    render([SAMPLE, SAMPLE], "csv", out, tty=False, zone=SYDNEY)
    first, second = out.getvalue().split("\n\n")
    assert list(csv.reader(io.StringIO(first)))[1] == ["2025-04-06", "1234.56789", "12.3456", "2025-04-06T02:30:00+11:00", "12000"]
    assert first == second.rstrip("\n")

    out = io.StringIO()
    render([SAMPLE], "table", out, tty=False, zone=SYDNEY)
    lines = out.getvalue().splitlines()
    assert lines[0] == "Daily cost"
    assert lines[3].split("  ")[0] == "2025-04-06" and "$12.35" in lines[3] and "12.346" in lines[3]
    assert "2025-04-06 02:30 AEDT" in lines[3] and "3 h 20 min" in lines[3]
    assert lines[4].startswith("2025-04-07") and "–" in lines[4]


def test_rich_on_a_terminal_and_plain_otherwise():
    out = io.StringIO()
    render_rich([SAMPLE], out, zone=SYDNEY, force_terminal=True)
    assert "\x1b[" in out.getvalue() and "$12.35" in out.getvalue()
    out = io.StringIO()
    render([SAMPLE], "table", out, tty=False, zone=SYDNEY)
    assert "\x1b" not in out.getvalue()


def test_site_column_only_when_it_varies_and_totals_only_for_one_site():
    columns = (Column("day", "Day", "date"), Column("site_id", "Site", "text"), Column("net_cents", "Net", "money"))
    one = ((dt.date(2025, 4, 6), S1, Decimal("1.5")), (dt.date(2025, 4, 7), S1, None))
    two = (*one, (dt.date(2025, 4, 6), S2, Decimal("2")))
    assert [c.in_table for c in varying_columns(columns, one)] == [True, False, True]
    assert [c.in_table for c in varying_columns(columns, two)] == [True, True, True]
    assert [c.in_table for c in varying_columns(columns, one, keys=())] == [True, True, True]

    table = with_totals(Table("costs", "", varying_columns(columns, one), one))
    assert table.footer == ("Total", None, Decimal("1.5"))
    assert with_totals(Table("costs", "", varying_columns(columns, two), two)).footer is None
    assert with_totals(Table("costs", "", varying_columns(columns, ()), ())).footer is None
    assert total([None, None]) is None and total([1, None, 2]) == 3


# --- the TSL tier: real-time continuous aggregates ------------------------------------------------------


def test_same_numbers_from_continuous_aggregates_before_any_refresh(tsl_db):
    # PGlite serves one connection, so the functions run on it directly (the CLI adds only the session).
    from loader import query

    with psycopg.connect(tsl_db, autocommit=True) as conn:
        migrate(conn, timezone=TZ)
    seed(tsl_db, refresh=False)  # real-time aggregates read the new rows from the hypertables
    with psycopg.connect(tsl_db) as conn:
        result = query.costs(conn, 6, zone=SYDNEY, until=LAST, site=S1)
        expected = expected_costs(FIRST, LAST, S1)
        got = {row[0]: row for row in result.tables[0].rows}
        assert got[GAP][4] is None
        for (_, day), want in expected.items():
            assert got[day][2:5] == (want["imports"], want["credits"], want["net"])
        profile = query.prices(conn, 6, zone=SYDNEY, until=LAST, site=S1, channel="feedIn").tables[0].rows
        raw = expected_profile(FIRST, LAST, "feedIn", S1)
        assert [(row[2], row[4], row[5], row[8]) for row in profile] == [
            (hour, min(v[0] for v in raw[hour]), max(v[0] for v in raw[hour]), len(raw[hour])) for hour in range(24)
        ]
