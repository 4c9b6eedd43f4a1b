"""Backfill planning, pure: which date windows of which site and stream to fetch, and which of them
are final once fetched. No I/O; `loader.backfill` runs the plan.

    stream_span(site, stream, *, start_date, today) -> (first, last) | None
    missing_runs(first, last, done) -> [(first, last), ...]      days not covered by completed windows
    chunk(first, last, days) -> [(start, end), ...]               consecutive windows of at most `days`,
                                                                  cut from `last` backwards, newest first
    plan_backfill(sites, *, start_date, today, done, days) -> Plan
    window_is_final(window, *, today, estimated_rows, empty_days) -> bool
    site_days(plan, fetched) -> {site_id: (done_days, remaining_days)}   progress for backfill_status

Requests
    Amber's /prices and /usage take `startDate`..`endDate` as NEM dates (amber.nemtime: UTC+10, no DST),
    both inclusive, and answer with whole NEM days. One request covers at most `amber.client.
    MAX_RANGE_DAYS` days (7: the client refuses longer ranges before sending), so a stream of N days
    needs ceil(N / 7) requests — 53 per site-year for prices and 53 for usage. Windows are consecutive
    and never overlap, so every day is fetched exactly once.

Order: newest first
    A first start may have years to load (about 11 minutes per site-year at the rate limit); the days
    a user looks at first — today, yesterday, this month — must not wait for 2021. So each run of
    missing days is cut from its newest day backwards, and the plan fetches the newest windows of every
    site first, then older ones (prices and usage of the same week side by side). The order changes
    nothing else: resuming works on days, whatever the order the windows committed in.

What is fetched
    prices  from the start date (HISTORICAL_START_DATE / --from, else the site's activeFrom) to today
            (NEM), or to closedOn for a closed site. Market prices exist before activeFrom, so an
            explicit earlier start date is honoured.
    usage   from max(start date, activeFrom) to yesterday (NEM; today is always empty), or to
            closedOn: there is no usage outside the supply period, so no request is spent on it.
    A site without activeFrom and without a start date is skipped with a reason.

Resuming
    `done` holds the windows recorded as complete in backfill_progress. Planning works on days, not on
    window keys: the days still missing are grouped into maximal runs and each run is cut into
    windows from its last day backwards. A restarted backfill (even after kill -9) therefore fetches exactly the
    days whose window never committed, with no gap and no overlap, and a changed start date only adds
    the newly wanted days.

Which windows are final (completed_at set)
    A window is marked complete only when nothing in it can still change:
    - its last day is on or before the day before yesterday (NEM). Today holds current and forecast
      prices, yesterday's usage is partly 'estimated' and its last actual prices may still be revised;
      the newest window(s), which touch yesterday or today, are written but left open (completed_at
      NULL), so the next run fetches them again — meanwhile the follow loop keeps those days current;
    - for usage, no row in it is still 'estimated' and every day of it returned rows (Amber can deliver
      meter data late; such a window stays open and is fetched again next run).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from amber.client import MAX_RANGE_DAYS
from amber.models import Site
from amber.nemtime import DAY

__all__ = [
    "PRICES",
    "STREAMS",
    "USAGE",
    "Plan",
    "SkippedSite",
    "Window",
    "chunk",
    "minimum_requests",
    "missing_runs",
    "plan_backfill",
    "settled_through",
    "site_days",
    "stream_span",
    "window_is_final",
]

PRICES = "prices"
USAGE = "usage"
STREAMS = (PRICES, USAGE)

DateRange = tuple[dt.date, dt.date]  # inclusive
SiteDays = dict[str, tuple[int, int]]  # site id -> (days done, days remaining), both streams counted


@dataclass(frozen=True, slots=True)
class Window:
    """One request: NEM dates `start`..`end` inclusive of one stream of one site."""

    site_id: str
    stream: str
    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __str__(self) -> str:
        return f"site {self.site_id} {self.stream} {self.start}..{self.end}"


@dataclass(frozen=True, slots=True)
class SkippedSite:
    site_id: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """Windows to fetch, newest first over all sites (prices and usage of the same week side by side)."""

    today: dt.date
    days_per_request: int
    windows: tuple[Window, ...]
    # Days each (site, stream) wants in total and how many of them are already complete.
    spans: Mapping[tuple[str, str], DateRange] = field(default_factory=dict)
    done_days: Mapping[tuple[str, str], int] = field(default_factory=dict)
    skipped: tuple[SkippedSite, ...] = ()

    @property
    def requests(self) -> int:
        """API requests the plan needs (one per window; /sites not included)."""
        return len(self.windows)

    @property
    def days(self) -> int:
        return sum(w.days for w in self.windows)

    def windows_of(self, site_id: str, stream: str) -> list[Window]:
        return [w for w in self.windows if w.site_id == site_id and w.stream == stream]


def settled_through(today: dt.date) -> dt.date:
    """The last NEM day whose prices and usage can no longer change: the day before yesterday."""
    return today - 2 * DAY


def stream_span(site: Site, stream: str, *, start_date: dt.date | None, today: dt.date) -> DateRange | None:
    """The NEM days of `stream` to backfill for `site` (inclusive), or None when there are none."""
    first = start_date if start_date is not None else site.active_from
    if first is None:
        return None
    if stream == PRICES:
        last = today
    elif stream == USAGE:
        last = today - DAY  # usage for today is empty by design
        if site.active_from is not None:
            first = max(first, site.active_from)
    else:
        raise ValueError(f"unknown stream {stream!r}")
    if site.closed_on is not None:
        last = min(last, site.closed_on)
    return (first, last) if first <= last else None


def missing_runs(first: dt.date, last: dt.date, done: Iterable[DateRange]) -> list[DateRange]:
    """Maximal runs of days in first..last not covered by any of the `done` ranges (inclusive)."""
    runs: list[DateRange] = []
    cursor = first
    for start, end in sorted(done):
        if end < cursor:
            continue
        if start > last:
            break
        if start > cursor:
            runs.append((cursor, start - DAY))
        cursor = max(cursor, end + DAY)
        if cursor > last:
            return runs
    if cursor <= last:
        runs.append((cursor, last))
    return runs


def chunk(first: dt.date, last: dt.date, days: int = MAX_RANGE_DAYS) -> list[DateRange]:
    """first..last cut into consecutive windows of `days` days from `last` backwards, newest first (the
    oldest window may be shorter)."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    windows = []
    end = last
    while end >= first:
        start = max(end - (days - 1) * DAY, first)
        windows.append((start, end))
        end = start - DAY
    return windows


def minimum_requests(days: int, days_per_request: int = MAX_RANGE_DAYS) -> int:
    """Fewest whole-day requests that can cover `days` consecutive days."""
    return math.ceil(days / days_per_request) if days > 0 else 0


def plan_backfill(
    sites: Sequence[Site],
    *,
    start_date: dt.date | None,
    today: dt.date,
    done: Mapping[tuple[str, str], Iterable[DateRange]] | None = None,
    days: int = MAX_RANGE_DAYS,
) -> Plan:
    """Windows still to fetch for `sites`, given the completed windows `done[(site_id, stream)]`."""
    done = done or {}
    windows: list[Window] = []
    spans: dict[tuple[str, str], DateRange] = {}
    done_days: dict[tuple[str, str], int] = {}
    skipped: list[SkippedSite] = []
    for site in sites:
        if start_date is None and site.active_from is None:
            skipped.append(
                SkippedSite(site.id, "Amber reports no activeFrom date; set HISTORICAL_START_DATE or use --from")
            )
            continue
        for stream in STREAMS:
            span = stream_span(site, stream, start_date=start_date, today=today)
            if span is None:
                continue
            spans[(site.id, stream)] = span
            runs = missing_runs(*span, done.get((site.id, stream), ()))
            wanted = (span[1] - span[0]).days + 1
            done_days[(site.id, stream)] = wanted - sum((b - a).days + 1 for a, b in runs)
            for run in runs:
                windows += [Window(site.id, stream, a, b) for a, b in chunk(*run, days)]
    # Newest first over all sites (module doc, "Order"); for the same end, sites in their order and
    # prices before usage.
    site_order = {site.id: order for order, site in enumerate(sites)}
    windows.sort(key=lambda w: (-w.end.toordinal(), site_order[w.site_id], STREAMS.index(w.stream)))
    return Plan(today, days, tuple(windows), spans, done_days, tuple(skipped))


def window_is_final(window: Window, *, today: dt.date, estimated_rows: int = 0, empty_days: int = 0) -> bool:
    """Whether `window`, just fetched on NEM date `today`, can be recorded as complete (see module doc)."""
    if window.end > settled_through(today):
        return False
    return not (window.stream == USAGE and (estimated_rows > 0 or empty_days > 0))


def site_days(plan: Plan, fetched: Iterable[Window]) -> SiteDays:
    """Per site of `plan`: days of history stored (complete before the run, plus the `fetched` windows
    of this run) and days still to fetch, prices and usage counted separately."""
    wanted: dict[str, int] = {}
    done: dict[str, int] = {}
    for (site_id, _stream), (first, last) in plan.spans.items():
        wanted[site_id] = wanted.get(site_id, 0) + (last - first).days + 1
    for (site_id, _stream), days in plan.done_days.items():
        done[site_id] = done.get(site_id, 0) + days
    for window in fetched:
        done[window.site_id] = done.get(window.site_id, 0) + window.days
    return {site_id: (done.get(site_id, 0), max(0, total - done.get(site_id, 0))) for site_id, total in wanted.items()}
