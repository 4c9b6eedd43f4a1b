"""amber/advisor.py: the cheapest window, checked against a brute-force recount minute by minute (prices
as Fractions, independent of the search's running sums), on 5- and 30-minute sites, with deadlines across
both of Sydney's daylight-saving changes, feed-in, gaps, ties and the advanced price band."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from amber.advisor import Load, Slot, cheapest_window, deadline, parse_loads
from runtime.settings import ConfigError, Settings

SYDNEY = ZoneInfo("Australia/Sydney")
UTC = dt.UTC


def slots_from(start: dt.datetime, prices, minutes: int = 5, band: bool = False) -> list[Slot]:
    step = dt.timedelta(minutes=minutes)
    return [
        Slot(start + i * step, start + (i + 1) * step, Decimal(p),
             Decimal(p) - 2 if band else None, Decimal(p) + 3 if band else None)
        for i, p in enumerate(prices)
    ]


def brute_force(slots: list[Slot], minutes: int, now: dt.datetime, limit: dt.datetime):
    """Every start on a slot boundary from the slot holding now; per-minute prices averaged as Fractions."""
    per_minute = []
    for s in slots:
        per_minute += [(s.start + dt.timedelta(minutes=m), Fraction(s.price)) for m in range(int((s.end - s.start).total_seconds() // 60))]
    best = None
    starts = [i for i, s in enumerate(slots) if s.end > now]
    slot_len = int((slots[0].end - slots[0].start).total_seconds() // 60)
    run = -(-minutes // slot_len) * slot_len  # whole slots
    for i in starts:
        first_minute = next(k for k, (t, _) in enumerate(per_minute) if t == slots[i].start)
        chunk = per_minute[first_minute:first_minute + run]
        if len(chunk) < run or chunk[-1][0] + dt.timedelta(minutes=1) > limit:
            continue
        mean = sum(p for _, p in chunk) / run
        if best is None or mean < best[0]:
            best = (mean, slots[i].start, chunk[-1][0] + dt.timedelta(minutes=1))
    return best


@pytest.mark.parametrize("minutes,slot", [(120, 5), (45, 30), (240, 30), (5, 5), (95, 5)])
def test_random_forecasts_match_the_brute_force_recount(minutes, slot):
    rng = random.Random(minutes * 100 + slot)
    start = dt.datetime(2025, 1, 15, 3, 0, tzinfo=UTC)
    for _ in range(20):
        slots = slots_from(start, [f"{rng.randint(-2000, 6000) / 100}" for _ in range(24 * 60 // slot)], slot)
        now = start + dt.timedelta(minutes=rng.randint(0, slot - 1))
        window = cheapest_window(slots, Load("x", minutes), now=now, zone=SYDNEY)
        mean, begin, end = brute_force(slots, minutes, now, now + dt.timedelta(hours=24))
        # Means of whole cents over 24 intervals repeat (1603/300): Decimal keeps 28 significant digits.
        assert (window.start, window.end) == (begin, end)
        assert abs(Fraction(window.mean_price) - mean) < Fraction(1, 10**20)
        now_mean = brute_force(slots[:-(-minutes // slot)], minutes, now, now + dt.timedelta(hours=24))[0]
        assert abs(Fraction(window.now_price) - now_mean) < Fraction(1, 10**20) and window.saving_per_kwh >= 0


def test_deadline_limits_the_search_and_kw_gives_dollars():
    start = dt.datetime(2025, 1, 15, 8, 0, tzinfo=UTC)  # 19:00 Sydney (AEDT, UTC+11)
    prices = ["30"] * 12 * 4 + ["10"] * 12 * 4 + ["40"] * 12 * 4 + ["1"] * 12 * 8  # cheapest after 07:00 local
    slots = slots_from(start, prices)
    car = parse_loads("car 4h by 07:00 7kW")[0]
    window = cheapest_window(slots, car, now=start, zone=SYDNEY)
    assert window.start == start + dt.timedelta(hours=4) and window.mean_price == 10  # 23:00-03:00 local
    assert window.saving_per_kwh == 20 and window.saving_cents == Decimal(20 * 7 * 4)
    free = cheapest_window(slots, Load("pool", 240), now=start, zone=SYDNEY)
    assert free.start == start + dt.timedelta(hours=12) and free.mean_price == 1


def test_deadlines_across_daylight_saving_changes():
    # 2025-04-06: 03:00 AEDT becomes 02:00 AEST, so 03:00 local that day is 17:00 UTC on the 5th (5 h after
    # 23:00 the evening before, not 4). 2025-10-05: 02:00 AEST becomes 03:00 AEDT; 03:00 local is 16:00 UTC.
    evening = dt.datetime(2025, 4, 5, 12, 0, tzinfo=UTC)  # 23:00 AEDT
    assert deadline(dt.time(3), evening, SYDNEY) == dt.datetime(2025, 4, 5, 17, 0, tzinfo=UTC)
    spring = dt.datetime(2025, 10, 4, 13, 0, tzinfo=UTC)  # 23:00 AEST
    assert deadline(dt.time(3), spring, SYDNEY) == dt.datetime(2025, 10, 4, 16, 0, tzinfo=UTC)
    # The cheapest hour is the repeated 02:00-03:00 (AEST, 16:00 UTC): it is before 03:00 local, so it counts.
    slots = slots_from(evening, ["20"] * 4 + ["5"] + ["30"] * 3, minutes=60)
    window = cheapest_window(slots, parse_loads("dryer 1h by 03:00")[0], now=evening, zone=SYDNEY)
    assert window.start == dt.datetime(2025, 4, 5, 16, 0, tzinfo=UTC) and window.mean_price == 5
    # On the spring day the hour after 02:00 AEST is 03:00 AEDT: 17:00 UTC is already past the deadline.
    slots = slots_from(spring, ["20", "20", "20", "1", "0"], minutes=60)
    window = cheapest_window(slots, parse_loads("dryer 1h by 03:00")[0], now=spring, zone=SYDNEY)
    assert window.end <= dt.datetime(2025, 10, 4, 16, 0, tzinfo=UTC) and window.mean_price == 20


def test_feed_in_finds_the_best_hours_to_export_and_bands_and_ties():
    start = dt.datetime(2025, 1, 15, 6, 0, tzinfo=UTC)
    slots = slots_from(start, ["-5", "-5", "-20", "-20", "-3", "-20", "-20"], minutes=30, band=True)
    battery = parse_loads("battery 1h feedIn")[0]
    window = cheapest_window(slots, battery, now=start, zone=SYDNEY)
    assert (window.start, window.mean_price) == (start + dt.timedelta(hours=1), Decimal(-20))  # earliest tie
    assert (window.low, window.high) == (Decimal(-22), Decimal(-17)) and window.saving_per_kwh == 15


def test_no_window_without_the_current_interval_a_deadline_too_close_or_a_gap():
    start = dt.datetime(2025, 1, 15, 6, 0, tzinfo=UTC)
    slots = slots_from(start, ["10"] * 6, minutes=30)
    assert cheapest_window(slots, Load("x", 60), now=start - dt.timedelta(minutes=1), zone=SYDNEY) is None
    assert cheapest_window(slots, Load("x", 240), now=start, zone=SYDNEY) is None  # only 3 h of forecast
    assert cheapest_window([], Load("x", 60), now=start, zone=SYDNEY) is None
    gap = slots[:2] + slots[3:]
    assert cheapest_window(gap, Load("x", 90), now=start, zone=SYDNEY) is None  # starting now runs into the gap
    assert cheapest_window(slots, Load("x", 60, by=dt.time(17, 30)), now=start, zone=SYDNEY) is None  # 17:00 local now


def test_loads_parse_and_bad_ones_get_one_line():
    loads = Settings.from_env({"AMBER_LOADS": "dishwasher 2h, car 4h by 07:00 7.5kW, pool 1h30m controlledLoad"}).loads
    assert loads == (Load("dishwasher", 120), Load("car", 240, by=dt.time(7), kw=Decimal("7.5")),
                     Load("pool", 90, "controlledLoad"))
    for text, problem in [("car", "needs a duration"), ("car 2h by 7am", "by needs a local time as HH:MM"),
                          ("car 2h, car 1h", "listed twice"), ("car 2h solar", "cannot read 'solar'"),
                          ("2h", "starts with a name"), ("car 25h", "from 5m to 24h")]:
        with pytest.raises(ConfigError) as info:
            Settings.from_env({"AMBER_LOADS": text})
        (line,) = info.value.problems
        assert line.startswith("AMBER_LOADS=") and problem in line, line
