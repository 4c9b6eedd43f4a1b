"""When to ask Amber for a site's current price: the two price-poll timings, declared side by side.

    RECORD    the loader's: first poll FINAL_PRICE_DELAY (50 s) after a 5-minute dispatch boundary,
              re-polls every 30 s, at most 4
    DISPLAY   the exporter's: first poll 5 s after the boundary, re-polls every 45 s, at most 3
    can_settle(interval_end, at) -> bool      whether the interval's price can become final at `at`

Every price boundary lies on the 5-minute dispatch grid (`amber.nemtime.DISPATCH`). At a boundary Amber
publishes the new interval within a few seconds, as an estimate ("estimate": true); the final dispatch
price follows within about 45 s (FINAL_PRICE_DELAY allows 50). A 30-minute price is the mean of its six
dispatch prices, so it can become final only once its last dispatch interval has started (`can_settle`);
both services re-poll an estimate only then.

Why two timings (one rule would serve one of the purposes badly)
    RECORD    The loader keeps history: what it wants from a poll is the *final* price, written once.
              Waiting until FINAL_PRICE_DELAY means the first poll usually gets it, so a 5-minute site
              costs one request and one write per interval; the 4 re-polls 30 s apart (+80 .. +170 s)
              are for the rare late price and stay inside the interval. Polling at +5 s would write an
              estimate first and spend a re-poll on almost every interval of the loader's budget.
    DISPLAY   The exporter shows the price *now* (metrics, alerts, Home Assistant automations): a new
              interval's price, even an estimate, is wanted seconds after it starts, not 50 s later.
              Its first re-poll then lands when the final price is out (5 + 45 = FINAL_PRICE_DELAY);
              3 re-polls keep it within its request share (EXPORTER_REQUEST_SHARE).
Both are measured from the same boundary, and `can_settle` is the same rule for both.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from amber.nemtime import DISPATCH

__all__ = ["DISPLAY", "FINAL_PRICE_DELAY", "RECORD", "PollTiming", "can_settle"]

FINAL_PRICE_DELAY = dt.timedelta(seconds=50)  # after a boundary: Amber's final price is out within ~45 s


@dataclass(frozen=True)
class PollTiming:
    """Price polls of one purpose: `delay` after each dispatch boundary, then while the current price is
    an estimate, re-polls `repoll_every` apart, at most `max_repolls` per interval."""

    delay: dt.timedelta
    repoll_every: dt.timedelta
    max_repolls: int


RECORD = PollTiming(delay=FINAL_PRICE_DELAY, repoll_every=dt.timedelta(seconds=30), max_repolls=4)
DISPLAY = PollTiming(
    delay=dt.timedelta(seconds=5),
    repoll_every=FINAL_PRICE_DELAY - dt.timedelta(seconds=5),  # the first re-poll finds the final price
    max_repolls=3,
)


def can_settle(interval_end: dt.datetime | float, at: dt.datetime | float) -> bool:
    """Whether an interval ending at `interval_end` can have its final price at `at`: its last dispatch
    interval has started (always true for a 5-minute interval). Datetimes, or Unix seconds for both."""
    if isinstance(interval_end, dt.datetime) and isinstance(at, dt.datetime):
        return interval_end - at <= DISPATCH
    if isinstance(interval_end, dt.datetime) or isinstance(at, dt.datetime):
        raise TypeError("interval_end and at must both be datetimes or both Unix seconds")
    return interval_end - at <= DISPATCH.total_seconds()
