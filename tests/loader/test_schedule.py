"""loader.schedule: when the collector wakes (pure arithmetic on UTC; no clock, no sleeping)."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from amber.nemtime import floor_time, nem_date, nem_midnight
from loader.schedule import (
    FINAL_DELAY,
    MAX_REPOLLS,
    REPOLL_EVERY,
    backoff,
    last_slot,
    next_repoll,
    next_slot,
)

UTC = dt.UTC


def at(hhmmss: str, day: int = 15) -> dt.datetime:
    h, m, s = (int(x) for x in hhmmss.split(":"))
    return dt.datetime(2025, 1, day, h, m, s, tzinfo=UTC)


def test_floor_time_on_the_utc_grid():
    assert floor_time(at("10:07:13"), dt.timedelta(minutes=5)) == at("10:05:00")
    assert floor_time(at("10:05:00"), dt.timedelta(minutes=5)) == at("10:05:00")
    assert floor_time(at("10:59:59"), dt.timedelta(minutes=30)) == at("10:30:00")


# -- 5-minute sites --------------------------------------------------------------------------------------


def test_five_minute_site_is_polled_fifty_seconds_after_each_boundary():
    slot = last_slot(at("10:07:00"), 5)
    assert slot.at == at("10:05:50") == at("10:05:00") + FINAL_DELAY
    assert (slot.interval_start, slot.interval_end) == (at("10:05:00"), at("10:10:00"))
    assert slot.settles
    # Before the delay has passed, the slot is still the previous interval's.
    assert last_slot(at("10:05:49"), 5).at == at("10:00:50")
    assert last_slot(at("10:05:50"), 5).at == at("10:05:50")


def test_next_slot_is_strictly_after_now():
    assert next_slot(at("10:05:49"), 5).at == at("10:05:50")
    assert next_slot(at("10:05:50"), 5).at == at("10:10:50")
    assert next_slot(at("10:07:00"), 5).at == at("10:10:50")


def test_five_minute_site_has_288_slots_a_day():
    now, seen = at("00:00:00"), []
    while now < at("00:00:00", day=16):
        slot = next_slot(now, 5)
        seen.append(slot)
        now = slot.at
    assert len([s for s in seen if s.at < at("00:00:00", day=16)]) == 288
    assert all(s.settles for s in seen)
    assert all((b.at - a.at) == dt.timedelta(minutes=5) for a, b in itertools.pairwise(seen))


# -- 30-minute sites -------------------------------------------------------------------------------------


def test_thirty_minute_site_is_polled_at_its_start_and_in_its_last_five_minutes():
    opening = last_slot(at("10:10:00"), 30)
    assert opening.at == at("10:00:50")
    assert (opening.interval_start, opening.interval_end) == (at("10:00:00"), at("10:30:00"))
    assert not opening.settles  # a 30-minute price cannot be final before its last dispatch interval

    settling = last_slot(at("10:26:00"), 30)
    assert settling.at == at("10:25:50")
    assert settling.interval_start == at("10:00:00") and settling.settles

    assert last_slot(at("10:00:49"), 30).at == at("09:55:50")
    assert next_slot(at("10:00:50"), 30).at == at("10:25:50")
    assert next_slot(at("10:25:50"), 30).at == at("10:30:50")


def test_thirty_minute_site_has_two_slots_per_interval():
    now, count = at("00:00:00"), 0
    while (slot := next_slot(now, 30)).at < at("00:00:00", day=16):
        count += 1
        now = slot.at
    assert count == 96


def test_unknown_interval_length_means_thirty_minutes():
    assert last_slot(at("10:10:00"), None) == last_slot(at("10:10:00"), 30)
    with pytest.raises(ValueError):
        last_slot(at("10:10:00"), 7)


# -- re-polls --------------------------------------------------------------------------------------------


def test_repolls_every_thirty_seconds_at_most_four_within_the_interval():
    slot = last_slot(at("10:05:50"), 5)
    when, done, times = slot.at, 0, []
    while (nxt := next_repoll(slot, done, when)) is not None:
        times.append(nxt)
        when, done = nxt, done + 1
    assert times == [at("10:06:20"), at("10:06:50"), at("10:07:20"), at("10:07:50")]
    assert len(times) == MAX_REPOLLS
    assert all(b - a == REPOLL_EVERY for a, b in itertools.pairwise(times))


def test_no_repoll_after_the_interval_ended_or_at_an_opening_slot():
    slot = last_slot(at("10:05:50"), 5)
    assert next_repoll(slot, 0, at("10:09:40")) is None  # +30 s would be in the next interval
    opening = last_slot(at("10:00:50"), 30)
    assert next_repoll(opening, 0, opening.at) is None
    settling = last_slot(at("10:25:50"), 30)
    assert next_repoll(settling, 0, settling.at) == at("10:26:20")


# -- NEM dates and DST ----------------------------------------------------------------------------------


def test_nem_date_changes_at_fourteen_hundred_utc():
    assert nem_date(at("13:55:00")) == dt.date(2025, 1, 15)  # the interval ending 00:00 NEM
    assert nem_date(at("14:00:00")) == dt.date(2025, 1, 16)
    assert nem_midnight(dt.date(2025, 1, 16)) == at("14:00:00")


def test_daylight_saving_plays_no_part():
    sydney = ZoneInfo("Australia/Sydney")
    # 2025-04-06 03:00 AEDT -> 02:00 AEST: the wall-clock hour repeats, UTC does not.
    first = dt.datetime(2025, 4, 6, 2, 30, fold=0, tzinfo=sydney)
    second = dt.datetime(2025, 4, 6, 2, 30, fold=1, tzinfo=sydney)
    assert second.astimezone(UTC) - first.astimezone(UTC) == dt.timedelta(hours=1)
    for local in (first, second):
        assert last_slot(local, 5) == last_slot(local.astimezone(UTC), 5)
        assert next_slot(local, 30) == next_slot(local.astimezone(UTC), 30)
    assert next_slot(second, 5).at - next_slot(first, 5).at == dt.timedelta(hours=1)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        last_slot(dt.datetime(2025, 1, 15, 10, 0), 5)  # noqa: DTZ001  naive on purpose


def test_backoff_doubles_up_to_the_cap():
    assert [backoff(n).total_seconds() for n in range(0, 7)] == [0, 30, 60, 120, 240, 300, 300]
    assert backoff(3, base=5, cap=300) == dt.timedelta(seconds=20)
    assert backoff(1000, base=5, cap=300) == dt.timedelta(seconds=300)
