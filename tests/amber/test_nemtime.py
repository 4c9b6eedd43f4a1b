"""amber.nemtime: NEM time and the interval grid (pure, UTC+10 all year)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from amber.nemtime import (
    DISPATCH,
    NEM_TZ,
    aligned_start,
    aware,
    day_range,
    floor_time,
    interval_bounds,
    interval_minutes,
    nem_date,
    nem_midnight,
    nem_today,
    next_boundary,
)

UTC = dt.UTC


def test_nem_is_utc_plus_ten_without_daylight_saving():
    sydney = ZoneInfo("Australia/Sydney")
    summer = dt.datetime(2025, 1, 15, 12, 0, tzinfo=sydney)  # AEDT, UTC+11
    winter = dt.datetime(2025, 6, 15, 12, 0, tzinfo=sydney)  # AEST, UTC+10
    assert summer.astimezone(NEM_TZ).hour == 11
    assert winter.astimezone(NEM_TZ).hour == 12


def test_the_nem_date_turns_at_fourteen_hundred_utc():
    assert nem_date(dt.datetime(2025, 1, 15, 13, 55, tzinfo=UTC)) == dt.date(2025, 1, 15)
    assert nem_today(dt.datetime(2025, 1, 15, 14, 0, tzinfo=UTC)) == dt.date(2025, 1, 16)
    assert nem_midnight(dt.date(2025, 1, 16)) == dt.datetime(2025, 1, 15, 14, 0, tzinfo=UTC)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        aware(dt.datetime(2025, 1, 15))  # noqa: DTZ001  naive on purpose
    with pytest.raises(ValueError):
        nem_today(dt.datetime(2025, 1, 15))  # noqa: DTZ001  naive on purpose


def test_intervals_lie_on_the_utc_grid():
    when = dt.datetime(2025, 1, 15, 2, 7, 13, tzinfo=NEM_TZ)
    assert floor_time(when, DISPATCH) == dt.datetime(2025, 1, 14, 16, 5, tzinfo=UTC)
    start, end = interval_bounds(when, 30)
    assert (start, end) == (dt.datetime(2025, 1, 14, 16, 0, tzinfo=UTC), dt.datetime(2025, 1, 14, 16, 30, tzinfo=UTC))
    assert interval_bounds(when, None) == (start, end)  # Amber's default length


def test_interval_minutes_must_be_on_the_dispatch_grid():
    assert interval_minutes(None) == 30
    assert interval_minutes(5) == 5
    for bad in (0, -5, 7):
        with pytest.raises(ValueError):
            interval_minutes(bad)


def test_next_boundary_in_unix_seconds_agrees_with_floor_time():
    now = dt.datetime(2025, 1, 15, 2, 7, 13, tzinfo=UTC)
    expected = floor_time(now, DISPATCH) + DISPATCH + dt.timedelta(seconds=5)
    assert next_boundary(now.timestamp(), offset=5.0) == expected.timestamp()
    assert next_boundary(expected.timestamp(), offset=5.0) == (expected + DISPATCH).timestamp()  # strictly after


def test_day_range_is_inclusive():
    assert day_range(dt.date(2025, 1, 30), dt.date(2025, 2, 2)) == [
        dt.date(2025, 1, 30), dt.date(2025, 1, 31), dt.date(2025, 2, 1), dt.date(2025, 2, 2)
    ]  # fmt: skip
    assert day_range(dt.date(2025, 1, 2), dt.date(2025, 1, 1)) == []


GRID = dt.datetime(2025, 1, 15, 0, 0, tzinfo=dt.UTC)  # an interval boundary


def test_aligned_start_moves_only_the_amber_plus_one_second():
    assert aligned_start(GRID + dt.timedelta(seconds=1)) == GRID
    # Already on the boundary: kept (some API rows and hand-written fixtures start at :00).
    assert aligned_start(GRID) == GRID
    for odd in (dt.timedelta(seconds=2), dt.timedelta(seconds=59), dt.timedelta(seconds=1, microseconds=5)):
        assert aligned_start(GRID + odd) == GRID + odd
