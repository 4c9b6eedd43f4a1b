"""When `amber-home collect` wakes: pure timing arithmetic on aware UTC datetimes, no I/O, no clock.

NEM time and the interval grid come from `amber.nemtime` (UTC+10 all year: every boundary is computed in
UTC and daylight saving plays no part); the poll timing is `amber.polling.RECORD` (why the loader's
differs from the exporter's is said there).

Price polls (one `/sites/{id}/prices/current` request each)
    A *slot* is a moment FINAL_DELAY (50 s) after a 5-minute dispatch boundary at which a site is polled.
    Amber publishes the final dispatch price within about 45 s, so at a slot the interval that just
    ended is an ActualInterval and the new current interval is usually final already.
    5-minute site   one slot per interval, 50 s after its start. Every slot *settles*: its current
                    interval can become final, so while it is still an estimate it is re-polled.
    30-minute site  two slots per interval: 50 s after its start (the interval that just ended becomes
                    actual; the new one is an estimate with fresh forecasts) and 50 s after the start
                    of its last 5 minutes (the slot that settles it: a 30-minute price is the mean of
                    its six dispatch prices and cannot be final before the last one). Polling in between
                    would buy nothing but forecast refreshes.
    Re-polls        after a settling slot whose current interval is still an estimate: REPOLL_EVERY
                    (30 s) after the previous poll, at most MAX_REPOLLS (4) per slot, and only while the
                    interval has not ended (at +80, +110, +140, +170 s for a 5-minute site).
    A missed slot (the process was busy, asleep or the API down) is not made up one by one: the next
    wake polls the latest slot once, and `previous` actuals plus gap healing fill the rest.

Background cadences (constants below): /sites every 6 h; usage re-fetch hourly; gap healing at start
and hourly; forecasts pruned daily (Apache build); aggregates refreshed at most every 10 min after price
writes, at once after usage or healing writes (Apache build). Failures back off exponentially.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from amber.nemtime import DISPATCH, aware, floor_time, interval_bounds, interval_minutes
from amber.polling import RECORD, can_settle

__all__ = [
    "AGGREGATES_EVERY",
    "FINAL_DELAY",
    "HEAL_EVERY",
    "MAX_REPOLLS",
    "PRUNE_EVERY",
    "REPOLL_EVERY",
    "SITES_EVERY",
    "USAGE_EVERY",
    "Slot",
    "backoff",
    "last_slot",
    "next_repoll",
    "next_slot",
]

FINAL_DELAY = RECORD.delay
REPOLL_EVERY = RECORD.repoll_every
MAX_REPOLLS = RECORD.max_repolls

SITES_EVERY = dt.timedelta(hours=6)  # closures, new channels
USAGE_EVERY = dt.timedelta(hours=1)  # usage arrives a day late; hourly is plenty
HEAL_EVERY = dt.timedelta(hours=1)
AGGREGATES_EVERY = dt.timedelta(minutes=5)  # Apache build: whole REFRESH MATERIALIZED VIEW at most once a poll
PRUNE_EVERY = dt.timedelta(days=1)  # Apache build: amber_prune_forecasts()

@dataclass(frozen=True, order=True)
class Slot:
    """One poll moment of a site: `at` = a dispatch boundary + FINAL_DELAY, in the interval
    [interval_start, interval_end) of the site's length. `settles`: the interval's current price can be
    final at this slot (its last dispatch interval has started), so an estimate is worth re-polling."""

    at: dt.datetime
    interval_start: dt.datetime
    interval_end: dt.datetime
    settles: bool

    @property
    def boundary(self) -> dt.datetime:
        return self.at - FINAL_DELAY


def _slot_for(boundary: dt.datetime, minutes: int) -> Slot | None:
    """The slot at this dispatch boundary, or None when the site is not polled there."""
    start, end = interval_bounds(boundary, minutes)
    opens = boundary == start
    settles = can_settle(end, boundary)  # the interval's last dispatch interval starts here
    if not (opens or settles):
        return None
    return Slot(boundary + FINAL_DELAY, start, end, settles)


def last_slot(now: dt.datetime, length: int | None) -> Slot:
    """The latest slot at or before `now` of a site whose interval is `length` minutes (Site.interval_minutes;
    None means Amber's default, see amber.nemtime.interval_minutes)."""
    minutes = interval_minutes(length)
    boundary = floor_time(aware(now) - FINAL_DELAY, DISPATCH)
    while (slot := _slot_for(boundary, minutes)) is None:
        boundary -= DISPATCH
    return slot


def next_slot(now: dt.datetime, length: int | None) -> Slot:
    """The first slot strictly after `now`."""
    minutes = interval_minutes(length)
    boundary = floor_time(aware(now) - FINAL_DELAY, DISPATCH) + DISPATCH
    while (slot := _slot_for(boundary, minutes)) is None:
        boundary += DISPATCH
    return slot


def next_repoll(slot: Slot, repolls_done: int, last_poll_at: dt.datetime) -> dt.datetime | None:
    """When to re-poll a site whose current interval was still an estimate at its last poll
    (`last_poll_at`, the slot's poll or a re-poll), or None when no re-poll is left for this slot."""
    if not slot.settles or repolls_done >= MAX_REPOLLS:
        return None
    when = aware(last_poll_at) + REPOLL_EVERY
    return when if when < slot.interval_end else None


def backoff(failures: int, *, base: float = 30.0, cap: float = 300.0) -> dt.timedelta:
    """Delay before the next attempt after `failures` consecutive failures (1, 2, ...): base, 2 x base,
    4 x base ... up to cap seconds."""
    if failures < 1:
        return dt.timedelta(0)
    return dt.timedelta(seconds=min(cap, base * 2 ** min(failures - 1, 30)))
