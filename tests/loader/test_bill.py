"""The true bill (sql/014 bill_daily, bill_periods; loader/bill.py; `amber-home query bill`) against an
independent recount: the simulator's truth gives each interval's energy and cost, the test prices the fixed
charges from their definitions itself. The window holds Sydney's 25-hour 2025-04-06, a supply-charge change
mid-period (and one site's own rate), a subscription change at a month start, billing periods from the
15th (across the end of March) and a day whose usage is deleted (missing, never zero)."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest

from amber.client import AmberClient
from amber_home.cli import main as cli_main
from loader.aggregates import refresh_aggregates
from loader.bill import bill, record_bill_settings
from loader.db import upsert_sites
from loader.migrate import migrate
from loader.sync import load_usage_window
from runtime.settings import ConfigError, Settings
from simulator import SimulatorConfig, SimulatorServer

TZ = "Australia/Sydney"
SYDNEY = ZoneInfo(TZ)
NEM = dt.timezone(dt.timedelta(hours=10))
NOW = dt.datetime(2025, 4, 22, 12, 7, 30, tzinfo=NEM)
DST_END = dt.date(2025, 4, 6)
MISSING = dt.date(2025, 4, 9)
ESTIMATED = dt.date(2025, 4, 17)  # its rows are marked estimated in the database (the truth is all billable)
BILL_DAY = 15
SUPPLY = "2024-07-01=110.0,2025-04-01=118.5"  # changes inside the period 2025-03-15..2025-04-14
SUBSCRIPTION = "2024-01-01=25.00,2025-04-01=19.99"  # dollars per month
SITE_SUPPLY_FROM = dt.date(2025, 4, 12)  # the site's own rate from here (set in the fixture)
SITE_SUPPLY = Decimal("95.25")


def supply_on(day: dt.date) -> Decimal:
    if day >= SITE_SUPPLY_FROM:
        return SITE_SUPPLY
    return Decimal("118.5") if day >= dt.date(2025, 4, 1) else Decimal("110.0")


def subscription_on(day: dt.date) -> Decimal:
    fee = Decimal("1999") if day >= dt.date(2025, 4, 1) else Decimal("2500")
    next_month = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    days_in_month = (next_month - day.replace(day=1)).days
    return (fee / days_in_month).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def period_of(day: dt.date) -> dt.date:
    if day.day >= BILL_DAY:
        return day.replace(day=BILL_DAY)
    return (day.replace(day=1) - dt.timedelta(days=1)).replace(day=BILL_DAY)


def build_billed(timescale_server, extra_env: dict[str, str] | None = None):
    """A migrated database holding the simulator's usage for NEM dates from the site's first day to 3 days
    before NOW, minus one local day; plus the truth, recounted per local day."""
    name = timescale_server.create_database()
    url = timescale_server.url(name)
    migrate(url, timezone=TZ)
    config = SimulatorConfig(seed=5, sites=1, resolution=30, speed=0.0, start=NOW, history_days=40,
                             controlled_load="all", rate_limit=100_000)  # fmt: skip
    with SimulatorServer(config) as sim, psycopg.connect(url) as conn:
        client = AmberClient(sim.api_key, sim.base_url, sleeper=lambda _s: None, max_retries=0)
        (site,) = client.sites()
        upsert_sites(conn, [site])
        first, last = site.active_from, NOW.date() - dt.timedelta(days=3)
        for offset in range(0, (last - first).days + 1, 7):  # Amber serves at most 7 days per request
            window_start = first + dt.timedelta(days=offset)
            load_usage_window(client, conn, site, window_start, min(last, window_start + dt.timedelta(days=6)),
                              now=sim.clock.now())
        truth = sim.truth.usage(site.id, dt.datetime.combine(first, dt.time(), NEM), dt.datetime.combine(
            last + dt.timedelta(days=1), dt.time(), NEM))
        client.close()
        settings = Settings.from_env({
            "AMBER_SUPPLY_CHARGE": f"{SUPPLY},{site.id}:{SITE_SUPPLY_FROM}={SITE_SUPPLY}",
            "AMBER_SUBSCRIPTION": SUBSCRIPTION,
            "AMBER_BILL_DAY": str(BILL_DAY),
            **(extra_env or {}),
        })
        record_bill_settings(conn, settings)
        record_bill_settings(conn, settings)  # twice: replaces, never duplicates
        conn.execute(
            "DELETE FROM usage WHERE (interval_start AT TIME ZONE %s)::date = %s", (TZ, MISSING)
        )
        conn.execute(
            "UPDATE usage SET quality = 'estimated' WHERE (interval_start AT TIME ZONE %s)::date = %s", (TZ, ESTIMATED)
        )
        conn.commit()
        refresh_aggregates(conn)
    # The recount: per local day, imports' cost, feed-in cost (signed), kWh, estimated intervals.
    days: dict[dt.date, dict] = defaultdict(lambda: defaultdict(Decimal))
    days_intervals: dict[dt.date, list] = defaultdict(list)  # (local start, channel type, kwh, cost)
    for item in truth:
        start = dt.datetime.fromisoformat(item["startTime"]) - dt.timedelta(seconds=1)
        day = start.astimezone(SYDNEY).date()
        if day == MISSING:
            continue
        cost, kwh = Decimal(str(item["cost"])), Decimal(str(item["kwh"]))
        feed_in = item["channelType"] == "feedIn"
        days[day]["export" if feed_in else "usage"] += cost
        days[day]["kwh_out" if feed_in else "kwh_in"] += -kwh if feed_in else kwh
        days[day]["estimated"] += item["quality"] == "estimated" or day == ESTIMATED
        days[day]["intervals"] += 1
        days_intervals[day].append((start.astimezone(SYDNEY), item["channelType"], kwh, cost))
    days.default_factory = None
    yield url, site, days, days_intervals
    timescale_server.drop_database(name)


@pytest.fixture(scope="module")
def billed(timescale_server):
    for url, site, days, _ in build_billed(timescale_server):
        yield url, site, days


def test_every_day_equals_the_recount(billed):
    url, site, days = billed
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT day, period_start, status, kwh_imported, kwh_exported, usage_cents, export_cents, supply_cents,"
            " subscription_cents, total_cents, intervals FROM bill_daily WHERE site_id = %s ORDER BY day",
            (site.id,),
        ).fetchall()
    by_day = {row[0]: row for row in rows}
    first_data, last_data = min(days), max(days)
    today = dt.datetime.now(SYDNEY).date()
    assert rows[-1][0] >= today and rows[-1][2] == "future"
    # Shown from the billing period of the first day with data (not before activeFrom) on.
    assert rows[0][0] == max(site.active_from, period_of(first_data))
    assert DST_END in days and days[DST_END]["intervals"] > 0
    for day, (_, period, status, kwh_in, kwh_out, usage, export, supply, sub, total, intervals) in by_day.items():
        assert period == period_of(day)
        assert supply == supply_on(day), day
        assert sub == subscription_on(day), day
        if day in days:
            want = days[day]
            assert status == ("estimated" if want["estimated"] else "final")
            assert (usage, export, kwh_in, kwh_out, intervals) == (
                want["usage"], want["export"], want["kwh_in"], want["kwh_out"], want["intervals"]), day
            assert total == want["usage"] + want["export"] + supply_on(day) + subscription_on(day)
        else:
            assert (usage, export, total, kwh_in) == (None, None, None, None), day
            expected = "missing" if day < last_data else "pending" if day <= today else "future"
            assert status == expected, day
    assert by_day[MISSING][2] == "missing" and by_day[ESTIMATED][2] == "estimated"
    # DST: the 25-hour day has 50 half-hours per channel.
    channels = len(site.channels)
    assert by_day[DST_END][10] == 50 * channels


def test_periods_equal_the_recount_and_a_missing_day_blanks_the_total(billed):
    url, site, days = billed
    with psycopg.connect(url) as conn:
        periods = {row[0]: row[1:] for row in conn.execute(
            "SELECT period_start, period_end, days, days_with_data, days_missing, status, usage_cents, export_cents,"
            " supply_cents, subscription_cents, total_cents, projected_cents FROM bill_periods WHERE site_id = %s",
            (site.id,),
        )}
        all_days = [row[0] for row in conn.execute("SELECT day FROM bill_daily WHERE site_id = %s", (site.id,))]
    march = dt.date(2025, 3, 15)
    assert march in periods and dt.date(2025, 4, 15) in periods
    for start, (end, n, with_data, missing, status, usage, export, supply, sub, total, projected) in periods.items():
        mine = [d for d in all_days if period_of(d) == start]
        data_days = [d for d in mine if d in days]
        assert end == (start.replace(day=1) + dt.timedelta(days=32)).replace(day=BILL_DAY) - dt.timedelta(days=1)
        assert (n, with_data) == (len(mine), len(data_days))
        if not data_days:  # after the data: nothing known, nothing projected
            assert (usage, supply, total, projected) == (None, None, None, None)
            continue
        assert usage == sum(days[d]["usage"] for d in data_days)
        assert export == sum(days[d]["export"] for d in data_days)
        assert supply == sum(supply_on(d) for d in data_days)
        assert sub == sum(subscription_on(d) for d in data_days)
        energy = sum(days[d]["usage"] + days[d]["export"] for d in data_days)
        fixed_all = sum(supply_on(d) + subscription_on(d) for d in mine)
        want_projected = (fixed_all + energy * len(mine) / len(data_days)).quantize(Decimal("0.0001"), ROUND_HALF_UP)
        assert projected == want_projected
        if start <= MISSING <= end:
            assert (missing, status, total) == (1, "missing days", None)
        else:
            assert missing == 0 and total == energy + supply + sub
    # The period across the end of March: from 15 March to 14 April, with the supply change on 1 April.
    assert periods[march][0] == dt.date(2025, 4, 14)


def test_query_bill_prints_periods_and_days_exactly(billed, capsys):
    url, site, days = billed
    env = {"DATABASE_URL": url, "AMBER_TIMEZONE": TZ}
    assert cli_main(["query", "bill", "5", "--until", "2025-04-20", "--format", "json"], env) == 0
    out = json.loads(capsys.readouterr().out, parse_float=Decimal)
    assert [p["period_start"] for p in out] == ["2025-04-15", "2025-03-15"] + (
        ["2025-02-15"] if site.active_from < dt.date(2025, 3, 15) else [])
    april = out[0]
    data_days = [d for d in days if d >= dt.date(2025, 4, 15)]
    assert april["usage_cents"] == sum(days[d]["usage"] for d in data_days)
    assert april["total_cents"] == sum(
        days[d]["usage"] + days[d]["export"] + supply_on(d) + subscription_on(d) for d in data_days)
    assert cli_main(["query", "bill", "--daily", "--until", "2025-04-06", "--format", "json"], env) == 0
    daily = json.loads(capsys.readouterr().out, parse_float=Decimal)
    dst = next(d for d in daily if d["day"] == "2025-04-06")
    assert dst["total_cents"] == days[DST_END]["usage"] + days[DST_END]["export"] + supply_on(DST_END) + subscription_on(DST_END)
    assert next(d for d in daily if d["day"] == str(MISSING))["total_cents"] is None
    # The human table says "Total", in dollars; a missing day shows as a dash, not $0.00.
    assert cli_main(["query", "bill", "--daily", "--until", "2025-04-09"], env) == 0
    text = capsys.readouterr().out
    line = next(line for line in text.splitlines() if line.startswith(str(MISSING)))
    assert "missing" in line and "$0.00" not in line


def test_unconfigured_charges_count_zero_and_later_ones_are_unknown(apache_db):
    migrate(apache_db, timezone=TZ)
    with psycopg.connect(apache_db) as conn:
        assert conn.execute("SELECT amber_charge('x', 'supply', '2025-01-01')").fetchone()[0] == 0
        record_bill_settings(conn, Settings.from_env({"AMBER_SUPPLY_CHARGE": "2025-07-01=100"}))
        conn.commit()
        # Configured only from a later date: unknown, not zero.
        assert conn.execute("SELECT amber_charge('x', 'supply', '2025-06-30')").fetchone()[0] is None
        result = bill(conn, 3, zone=SYDNEY, until=dt.date(2025, 7, 1))
    assert result.notice == "no usage stored yet — run amber-home backfill" and result.tables[0].rows == ()


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"AMBER_SUPPLY_CHARGE": "110"}, "AMBER_SUPPLY_CHARGE='110': each entry must be YYYY-MM-DD=VALUE"),
        ({"AMBER_SUPPLY_CHARGE": "2025-02-30=110"}, "impossible date"),
        ({"AMBER_SUPPLY_CHARGE": "2025-07-01=1.1,2025-07-01=1.2"}, "gives 2025-07-01 twice"),
        ({"AMBER_SUPPLY_CHARGE": "2025-07-01=1100"}, "c/day (cents, not dollars) from 0 to 1000"),
        ({"AMBER_SUBSCRIPTION": "2025-07-01=2500"}, "dollars per month incl. GST (not cents)"),
        ({"AMBER_BILL_DAY": "31"}, "AMBER_BILL_DAY='31': must be the day of the month"),
    ],
)
def test_bad_bill_settings_get_one_line_naming_the_fix(env, problem):
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    (line,) = info.value.problems
    assert problem in line and "\n" not in line


def test_dated_settings_parse_exactly():
    settings = Settings.from_env({"AMBER_SUPPLY_CHARGE": " 2025-07-01=118.5 , S1:2024-07-01=95.25",
                                  "AMBER_SUBSCRIPTION": "2024-01-01=19.99"})
    assert [(c.site_id, c.valid_from, c.cents) for c in settings.supply_charge] == [
        (None, dt.date(2025, 7, 1), Decimal("118.5")), ("S1", dt.date(2024, 7, 1), Decimal("95.25"))]
    assert settings.subscription[0].cents == Decimal("1999.00")
    assert Settings.from_env({}).bill_day == 1 and Settings.from_env({}).supply_charge is None


def test_bill_views_on_the_tsl_tier_read_real_time_aggregates(tsl_db, tmp_path):
    """PGlite + TSL: cost_daily and usage_hourly are real-time continuous aggregates; the bill and the
    comparison (a flat 30 c/kWh plan, 90 c/day) see rows never refreshed."""
    plan = tmp_path / "plan.toml"
    plan.write_text("[[tariff]]\nfrom = 2025-01-01\nsupply = 90\nimport = 30\n", encoding="utf-8")
    migrate(tsl_db, timezone=TZ)
    day = dt.date(2025, 4, 6)  # 25 local hours: 50 half-hours
    start = dt.datetime.combine(day, dt.time(), SYDNEY).astimezone(dt.UTC)
    rows, want = [], Decimal(0)
    for n in range(50):
        begin = start + dt.timedelta(minutes=30 * n)
        cost = Decimal(n * 7 + 1) / 1000 + Decimal("0.00001")
        want += cost
        rows.append((begin, begin + dt.timedelta(minutes=30), cost))
    with psycopg.connect(tsl_db) as conn:
        conn.execute("INSERT INTO sites (site_id, nmi, active_from, raw) VALUES ('S', 'N', '2025-04-06', '{}')")
        for begin, end, cost in rows:
            conn.execute(
                "INSERT INTO usage (site_id, channel_identifier, channel_type, interval_start, interval_end, nem_time,"
                " nem_date, duration_minutes, kwh, cost, quality, per_kwh, spot_per_kwh, renewables, descriptor,"
                " spike_status, raw) VALUES ('S', 'E1', 'general', %s, %s, %s, '2025-04-06', 30, 1, %s, 'billable',"
                " 1, 1, 1, 'low', 'none', '{}')",
                (begin, end, end, cost),
            )
        record_bill_settings(conn, Settings.from_env({"AMBER_SUPPLY_CHARGE": "2025-01-01=101.5",
                                                      "AMBER_SUBSCRIPTION": "2025-01-01=30",
                                                      "AMBER_COMPARE_PLAN": str(plan)}))
        conn.commit()
        got = conn.execute(
            "SELECT status, usage_cents, total_cents, intervals FROM bill_daily WHERE day = %s", (day,)
        ).fetchone()
        compared = conn.execute("SELECT amber_cents, plan_cents FROM compare_daily WHERE day = %s", (day,)).fetchone()
        hours = conn.execute("SELECT count(*) FROM compare_hourly WHERE day = %s", (day,)).fetchone()[0]
    amber = want + Decimal("101.5") + Decimal("100.0000")
    assert got == ("final", want, amber, 50)
    assert compared == (amber, 50 * Decimal(30) + 90) and hours == 25
