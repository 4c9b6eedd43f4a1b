"""NEM time and interval arithmetic.

The National Electricity Market runs on UTC+10 all year (no daylight saving). Internally an interval
is identified by its start as integer Unix seconds, on a 5- or 30-minute boundary. On the wire Amber
writes an interval as:

- `startTime`: the start plus one second, UTC (`...T02:00:01Z`);
- `endTime`: the end boundary, UTC (`...T02:05:00Z`);
- `nemTime`: the end boundary in NEM time (`...T12:05:00+10:00`);
- `date`: the NEM date of the interval's *start*, so the interval that ends at 00:00 NEM belongs to
  the day before the date in its `nemTime`.
"""

from __future__ import annotations

import datetime as dt
import time

NEM_OFFSET_S = 10 * 3600
DAY_S = 86400
NEM_TZ = dt.timezone(dt.timedelta(seconds=NEM_OFFSET_S))
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def to_epoch(when: dt.datetime) -> float:
    """Unix seconds of an aware datetime (naive datetimes are refused, not guessed)."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware: {when!r}")
    return when.timestamp()


def from_epoch(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def floor(seconds: float, step: int) -> int:
    """The boundary at or before `seconds` on a grid of `step` seconds (NEM and UTC grids coincide)."""
    whole = int(seconds // 1)
    return whole - whole % step


def nem_date(start: int) -> dt.date:
    """NEM trading date of the interval starting at `start`."""
    return dt.date.fromordinal(_EPOCH_ORDINAL + (start + NEM_OFFSET_S) // DAY_S)


def nem_midnight(day: dt.date) -> int:
    """Unix seconds of 00:00 NEM on `day`: the start of that day's first interval."""
    return (day.toordinal() - _EPOCH_ORDINAL) * DAY_S - NEM_OFFSET_S


def nem_hour(seconds: float) -> float:
    """Hour of the NEM day, 0 <= h < 24."""
    return ((seconds + NEM_OFFSET_S) % DAY_S) / 3600.0


def iso_utc(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def iso_nem(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+10:00", time.gmtime(seconds + NEM_OFFSET_S))
