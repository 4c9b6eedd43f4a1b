"""Would I have saved? (amber/plan.py, sql/015 compare_*; `amber-home query compare`): the simulator's usage
priced on a time-of-use plan, recounted here from the plan's definition written out as Python (not from the
parser or the SQL), beside Amber's bill. The plan changes on 1 April (inside the billing period from
15 March), the window holds Sydney's 25-hour 2025-04-06 and a day without data."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import psycopg
import pytest

from amber.plan import parse_plan
from amber_home.cli import main as cli_main
from runtime.settings import ConfigError, Settings
from tests.loader.test_bill import DST_END, MISSING, TZ, build_billed, period_of, subscription_on, supply_on

PLAN = """
name = "Old plan (time of use)"

[[tariff]]
from = 2025-01-01
supply = 100.5
import = [
  { name = "peak", price = 52.25, days = "weekdays", start = "15:00", end = "21:00" },
  { name = "night", price = 18.0, start = "22:00", end = "07:00" },
  { name = "shoulder", price = 30.125 },
]
controlled_load = 15.5
feed_in = 6.0

[[tariff]]
from = 2025-04-01
supply = 104.0
subscription = 10.00
import = 33.0
feed_in = [ { name = "solar sponge", price = 0.0, start = "10:00", end = "15:00" }, { price = 7.5 } ]
"""


def plan_rate(channel: str, local: dt.datetime) -> Decimal:
    """The plan above, by hand: c/kWh (feed-in: paid) at a local time."""
    hour = local.hour
    if local.date() < dt.date(2025, 4, 1):
        if channel == "feedIn":
            return Decimal("6.0")
        if channel == "controlledLoad":
            return Decimal("15.5")
        if local.weekday() < 5 and 15 <= hour < 21:
            return Decimal("52.25")
        return Decimal("18.0") if hour >= 22 or hour < 7 else Decimal("30.125")
    if channel == "feedIn":
        return Decimal("0.0") if 10 <= hour < 15 else Decimal("7.5")
    return Decimal("33.0")  # flat; controlled load takes the import rate when the tariff gives none


def plan_subscription(day: dt.date) -> Decimal:
    if day < dt.date(2025, 4, 1):
        return Decimal(0)
    days_in_month = 30  # April is the only month with a subscription in this window
    return (Decimal(1000) / days_in_month).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


@pytest.fixture(scope="module")
def compared(timescale_server, tmp_path_factory):
    path = tmp_path_factory.mktemp("plan") / "plan.toml"
    path.write_text(PLAN, encoding="utf-8")
    for url, site, days, intervals in build_billed(timescale_server, {"AMBER_COMPARE_PLAN": str(path)}):
        yield url, site, days, intervals, path


def recount_day(day: dt.date, intervals) -> Decimal:
    energy = sum(kwh * plan_rate(channel, local) for local, channel, kwh, _cost in intervals[day])
    return energy + Decimal("100.5" if day < dt.date(2025, 4, 1) else "104.0") + plan_subscription(day)


def amber_day(day: dt.date, days) -> Decimal:
    return days[day]["usage"] + days[day]["export"] + supply_on(day) + subscription_on(day)


def test_every_day_priced_on_the_plan_equals_the_recount(compared):
    url, site, days, intervals, _ = compared
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT day, status, amber_cents, plan_cents, saved_cents FROM compare_daily WHERE site_id = %s"
            " AND day <= %s ORDER BY day", (site.id, max(days)),
        ).fetchall()
    assert len(rows) > 30
    for day, status, amber, plan, saved in rows:
        if day not in days:
            assert (amber, plan, saved) == (None, None, None) and status == "missing", day
            continue
        want_plan = recount_day(day, intervals)
        assert (amber, plan, saved) == (amber_day(day, days), want_plan, want_plan - amber_day(day, days)), day
    assert MISSING in [row[0] for row in rows] and DST_END in days


def test_months_periods_and_hours_equal_the_recount(compared):
    url, site, days, intervals, _ = compared
    months, periods = defaultdict(Decimal), defaultdict(Decimal)
    for day in days:
        saved = recount_day(day, intervals) - amber_day(day, days)
        months[day.replace(day=1)] += saved
        periods[period_of(day)] += saved
    hours: dict[tuple[dt.date, int], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for local, channel, kwh, cost in intervals[DST_END]:
        # Both 02:00 hours of the day daylight saving ends stay apart: key on the UTC offset too.
        key = (local.hour, local.utcoffset())
        hours[key][0] += cost
        hours[key][1] += kwh * plan_rate(channel, local)
    with psycopg.connect(url) as conn:
        got_months = dict(conn.execute(
            "SELECT month, saved_cents FROM compare_monthly WHERE site_id = %s AND days_compared > 0", (site.id,)))
        got_periods = {row[0]: row[1:] for row in conn.execute(
            "SELECT period_start, saved_cents, days_compared, days_missing FROM compare_periods WHERE site_id = %s"
            " AND days_compared > 0", (site.id,))}
        got_hours = conn.execute(
            "SELECT hour, amber_cents, plan_cents, saved_cents FROM compare_hourly WHERE site_id = %s AND day = %s"
            " ORDER BY hour_start", (site.id, DST_END)).fetchall()
    assert got_months == dict(months)
    assert {k: v[0] for k, v in got_periods.items()} == dict(periods)
    assert got_periods[dt.date(2025, 3, 15)][1:] == (30, 1)  # 15 March - 14 April, one day missing
    assert len(got_hours) == 25 and [h for h, *_ in got_hours].count(2) == 2
    assert sorted((h, a, p, p - a) for h, a, p in ((k[0], v[0], v[1]) for k, v in hours.items())) == sorted(
        got_hours)


def test_query_compare_prints_savings_exactly(compared, capsys):
    url, _site, days, intervals, path = compared
    env = {"DATABASE_URL": url, "AMBER_TIMEZONE": TZ, "AMBER_COMPARE_PLAN": str(path)}
    assert cli_main(["query", "compare", "2", "--until", "2025-04-30", "--format", "json"], env) == 0
    out = json.loads(capsys.readouterr().out, parse_float=Decimal)
    april = [d for d in days if d.month == 4]
    assert [m["month"] for m in out] == ["2025-04-01", "2025-03-01"]
    assert out[0]["saved_cents"] == sum(recount_day(d, intervals) - amber_day(d, days) for d in april)
    assert cli_main(["query", "compare", "3", "--by", "hour", "--until", "2025-04-06"], env) == 0
    text = capsys.readouterr().out
    assert "Amber cheaper" in text and "Old plan (time of use)" in text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[[tariff]]\nfrom = 2025-01-01\nsupply = 100\nimport = [ { price = 30, start = \"07:00\", end = \"22:00\" } ]",
         "import has no price for mon 00:00; end the list with a catch-all period"),
        ("[[tariff]]\nfrom = 2025-01-01\nsupply = 100\nimport = [ { price = 30, start = \"07:30\" } ]",
         "local times on the hour"),
        ("[[tariff]]\nfrom = \"2025-01-01\"\nsupply = 100\nimport = 30", "needs from = YYYY-MM-DD"),
        ("[[tariff]]\nfrom = 2025-01-01\nsupply = 100\nimport = 30\nsubscription = 2500", "dollars per month from 0"),
        ("[[tariff]]\nfrom = 2025-01-01\nimport = 30", "needs supply (c/day) and import"),
        ("name = 1 2", "is not valid TOML"),
        ("[[tariff]]\nfrom = 2025-01-01\nsupply = 100\nimport = [ { price = 30, days = [\"funday\"] } ]",
         'days must be "all", "weekdays"'),
    ],
)
def test_bad_plans_get_one_line_naming_the_fix(tmp_path, text, problem):
    path = tmp_path / "plan.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"AMBER_COMPARE_PLAN": str(path)})
    (line,) = info.value.problems
    assert line.startswith(f"AMBER_COMPARE_PLAN={str(path)!r}: ") and problem in line and "\n" not in line


def test_plan_periods_cross_midnight_and_keep_exact_decimals():
    plan = parse_plan(PLAN)
    first, second = plan.tariffs
    assert [(r.name, r.start_hour, r.end_hour) for r in first.rates["general"]] == [
        ("peak", 15, 21), ("night", 22, 24), ("night", 0, 7), ("shoulder", 0, 24)]
    assert first.rates["general"][3].cents_per_kwh == Decimal("30.125")
    assert second.rates["controlledLoad"] == second.rates["general"]
    assert second.subscription_cents_per_month == Decimal("1000.00")
