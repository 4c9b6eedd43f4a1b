"""NEM time and the interval grid: the one place that knows how Amber's times line up. Pure; no clock.

    aware(when) -> datetime                   `when` in UTC; a naive datetime is refused (ValueError)
    nem_date(when) / nem_today(now) -> date   the NEM date (UTC+10 calendar date) at an instant
    nem_midnight(day) -> datetime             00:00 NEM on `day`, in UTC: the start of its first interval
    floor_time(when, step) -> datetime        the `step` grid boundary at or before `when`
    next_boundary(now, *, offset, step) -> float
                                              Unix seconds: the first `offset` past a boundary after `now`
    interval_minutes(minutes) -> int          a grid step in minutes; None is Amber's default (30)
    interval_bounds(when, minutes) -> (start, end)   the interval of that length holding `when`
    aligned_start(start_time) -> datetime     the grid start of an interval from Amber's startTime
    day_range(first, last) -> [date, ...]     the dates first..last, inclusive

The NEM runs on AEST, UTC+10 all year: no daylight saving, so every boundary is computed in UTC and a
day has 288 dispatch intervals. Intervals lie on UTC's 5- and 30-minute grid counted from the Unix
epoch (UTC+10 is a whole number of hours). A NEM date is the UTC+10 calendar date of an interval's
start: the interval ending at 00:00 NEM belongs to the day before (Amber's `date`).

Amber's three times of one interval: `nemTime` and `endTime` are its end (the NEM convention names an
interval by its end); `startTime` is the previous interval's `endTime` plus one second (12:00:01 for the
12:00-12:05 interval). Amber-Home keys an interval by its grid start (12:00:00): `aligned_start`.
"""

from __future__ import annotations

import datetime as dt
import math

from amber.models import DEFAULT_INTERVAL_MINUTES

__all__ = [
    "DAY",
    "DISPATCH",
    "NEM_OFFSET",
    "NEM_TZ",
    "aligned_start",
    "aware",
    "day_range",
    "floor_time",
    "interval_bounds",
    "interval_minutes",
    "nem_date",
    "nem_midnight",
    "nem_today",
    "next_boundary",
]

NEM_OFFSET = dt.timedelta(hours=10)  # NEM time is UTC+10 all year
NEM_TZ = dt.timezone(NEM_OFFSET, "NEM")
DISPATCH = dt.timedelta(minutes=5)  # the NEM dispatch interval: every price boundary lies on this grid
DAY = dt.timedelta(days=1)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_SECOND = dt.timedelta(seconds=1)


def aware(when: dt.datetime) -> dt.datetime:
    """`when` converted to UTC; ValueError for a naive datetime (its instant is unknown)."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware, got {when!r}")
    return when.astimezone(dt.UTC)


def nem_date(when: dt.datetime) -> dt.date:
    """NEM date of the interval starting at `when` (the UTC+10 calendar date)."""
    return (aware(when) + NEM_OFFSET).date()


def nem_today(now: dt.datetime) -> dt.date:
    """The NEM date at the aware instant `now`."""
    return nem_date(now)


def nem_midnight(day: dt.date) -> dt.datetime:
    """00:00 NEM on `day` as a UTC datetime: the start of that NEM date's first interval."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) - NEM_OFFSET


def floor_time(when: dt.datetime, step: dt.timedelta) -> dt.datetime:
    """The boundary of a `step` grid (counted from the Unix epoch) at or before `when`, in UTC."""
    when = aware(when)
    return when - (when - _EPOCH) % step


def next_boundary(now: float, *, offset: float = 0.0, step: float = DISPATCH.total_seconds()) -> float:
    """Unix seconds: the first moment `offset` seconds past a `step` boundary strictly after `now` (the
    float twin of `floor_time` + step, for loops that run on time.time())."""
    return math.floor((now - offset) / step) * step + step + offset


def interval_minutes(minutes: int | None) -> int:
    """A site's interval length as a grid step; None (older API responses) is Amber's default, 30.
    ValueError unless a positive multiple of the 5-minute dispatch interval."""
    value = DEFAULT_INTERVAL_MINUTES if minutes is None else int(minutes)
    if value <= 0 or value % 5:
        raise ValueError(f"interval length must be a positive multiple of 5 minutes, got {minutes!r}")
    return value


def interval_bounds(when: dt.datetime, minutes: int | None) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in UTC of the interval of `minutes` (see interval_minutes) that holds `when`."""
    length = dt.timedelta(minutes=interval_minutes(minutes))
    start = floor_time(when, length)
    return start, start + length


def day_range(first: dt.date, last: dt.date) -> list[dt.date]:
    """The dates first..last, both included (empty when last is before first)."""
    return [first + k * DAY for k in range((last - first).days + 1)]


def aligned_start(start_time: dt.datetime) -> dt.datetime:
    """The grid start of the interval whose API startTime is `start_time`: one second earlier when it is at
    :01 (Amber's previous end + 1 s), else unchanged."""
    if start_time.second == 1 and start_time.microsecond == 0:
        return start_time - _ONE_SECOND
    return start_time
