"""Gap healing: find the intervals missing (or not yet final) in a recent window and fetch them again.

    expected_series(sites, *, now, days, ...) -> [Series, ...]      pure: what should be stored
    find_gaps(conn, series, *, usage_settled_before) -> [Gap, ...]   SQL: what is missing or unsettled
    nem_windows(starts) -> [(first, last), ...]                      pure: fewest NEM-date windows <= 7 days
    heal(client, conn, sites, *, now, days, ...) -> HealReport        detect, fetch, detect again

What counts as a gap (within the last GAP_HEAL_DAYS NEM days)
    prices  per site x channel type (the site's channels), at the site's interval length: every interval
            that ended at least HEAL_GRACE (15 min) ago must be stored as an ActualInterval. A missing row
            or one still CurrentInterval (an estimate, or a final current price whose actual never came)
            is a gap. Younger intervals are the follow loop's business.
    usage   per site x channel identifier, at USAGE_RESOLUTION (30 min, the API's default), from the
            site's activeFrom to yesterday (NEM; today is empty by design) or its closedOn: every interval
            must be stored. An 'estimated' row is a gap too when its day is before `usage_settled_before`
            (older than the hourly usage re-fetch reaches, so nothing else would revise it).
    Days outside the site's supply (before activeFrom, after closedOn) are never expected.

The SQL builds the expected interval starts with generate_series per series and anti-joins the stored
rows (the hypertable is only read in the window's chunks). The missing starts are turned into the
fewest whole-NEM-date windows of at most 7 days (one request each: Amber answers whole NEM days), per
site and stream, and fetched through `loader.sync` (the shared write path, so healing can never
duplicate or downgrade a row). Intervals Amber does not serve (a channel added later, a day the meter
never reported) stay missing after their fetch: `HealReport.unserved` names their days so the caller
can stop asking for a while instead of fetching them every hour.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import psycopg

from amber.client import MAX_RANGE_DAYS, AmberClient
from amber.models import DEFAULT_INTERVAL_MINUTES, Site
from amber.nemtime import DAY, day_range, nem_date, nem_midnight, nem_today
from loader.windows import PRICES, USAGE

__all__ = [
    "HEAL_GRACE",
    "PRICES",
    "USAGE",
    "USAGE_RESOLUTION",
    "Gap",
    "HealReport",
    "Series",
    "expected_series",
    "find_gaps",
    "heal",
    "nem_windows",
]

logger = logging.getLogger(__name__)

USAGE_RESOLUTION = DEFAULT_INTERVAL_MINUTES  # what /usage answers without `resolution`
HEAL_GRACE = dt.timedelta(minutes=15)  # intervals younger than this are left to the follow loop

DateWindow = tuple[dt.date, dt.date]  # NEM dates, inclusive


@dataclass(frozen=True)
class Series:
    """Intervals that should be stored: `step_minutes` apart from `first` (inclusive) to `stop`
    (every expected interval ends at or before it), for one site and channel type (prices) or
    channel identifier (usage)."""

    site_id: str
    stream: str
    key: str
    step_minutes: int
    first: dt.datetime
    stop: dt.datetime


@dataclass(frozen=True)
class Gap:
    site_id: str
    stream: str
    key: str
    interval_start: dt.datetime
    stored: str | None  # None: missing; else the stored interval_type / quality that is not final


@dataclass
class HealReport:
    windows: list[tuple[str, str, dt.date, dt.date]] = field(default_factory=list)  # (site, stream, first, last)
    requests: int = 0
    gaps_before: int = 0
    gaps_after: int = 0
    written: int = 0  # rows written to prices and usage (forecasts not counted)
    usage_written: int = 0
    unserved: dict[tuple[str, str], set[dt.date]] = field(default_factory=dict)  # still missing after a fetch
    spans: list[tuple[dt.datetime, dt.datetime]] = field(default_factory=list)  # of the rows written (WriteResult.span)


def expected_series(
    sites: Iterable[Site],
    *,
    now: dt.datetime,
    days: int,
    streams: Collection[str] = (PRICES, USAGE),
    usage_resolution: int = USAGE_RESOLUTION,
    grace: dt.timedelta = HEAL_GRACE,
    since: dt.date | None = None,
) -> list[Series]:
    """The series whose last `days` NEM days (today included for prices) should be complete at `now`;
    never before NEM date `since` (HISTORICAL_START_DATE: the user wants nothing older)."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    today = nem_today(now)
    first_day = today - dt.timedelta(days=days)
    if since is not None:
        first_day = max(first_day, since)
    out: list[Series] = []
    for site in sites:
        span = site.supplied(first_day, today)
        if span is None:
            continue
        first, supply_end = nem_midnight(span[0]), nem_midnight(span[1]) + DAY
        if PRICES in streams:
            minutes = site.interval_minutes
            stop = min(now - grace, supply_end)
            if stop > first:
                for channel_type in dict.fromkeys(c.type for c in site.channels):
                    out.append(Series(site.id, PRICES, channel_type, minutes, first, stop))
        if USAGE in streams:
            stop = min(nem_midnight(today), supply_end)  # usage for today is empty by design
            if stop > first:
                for channel in site.channels:
                    out.append(Series(site.id, USAGE, channel.identifier, usage_resolution, first, stop))
    return out


# Every interval start each Series expects (one CTE for both streams); the queries add what is stored.
_EXPECTED = """
WITH series AS (
    SELECT * FROM unnest(%(site)s::text[], %(key)s::text[], %(step)s::int[],
                         %(first)s::timestamptz[], %(stop)s::timestamptz[])
        AS s(site_id, key, step, first, stop)
), expected AS (
    SELECT s.site_id, s.key, g.interval_start
    FROM series AS s,
         generate_series(s.first, s.stop - make_interval(mins => s.step), make_interval(mins => s.step))
             AS g(interval_start)
)
"""

def _find_gaps_sql(table: str, key: str, stored: str, gap: str) -> str:
    """The expected starts of one stream's series whose stored row (`stored`: its interval_type or
    quality, NULL when missing) makes them a gap by the condition `gap` on `s.<stored>`."""
    return _EXPECTED + f""", stored AS (
    SELECT site_id, {key}, interval_start, {stored}
    FROM {table}
    WHERE site_id = ANY(%(site)s) AND interval_start >= %(low)s AND interval_start < %(high)s
)
SELECT e.site_id, e.key, e.interval_start, s.{stored}
FROM expected AS e
LEFT JOIN stored AS s
       ON s.site_id = e.site_id AND s.{key} = e.key AND s.interval_start = e.interval_start
WHERE {gap}
ORDER BY 1, 2, 3
"""


# prices: anything but an ActualInterval; usage: missing, or estimated and no longer re-fetched hourly.
_FIND_PRICE_GAPS = _find_gaps_sql("prices", "channel_type", "interval_type", "s.interval_type IS DISTINCT FROM 'ActualInterval'")
_FIND_USAGE_GAPS = _find_gaps_sql(
    "usage", "channel_identifier", "quality",
    "s.quality IS NULL OR (s.quality = 'estimated' AND e.interval_start < %(settled_before)s)",
)  # fmt: skip


def find_gaps(
    conn: psycopg.Connection, series: Sequence[Series], *, usage_settled_before: dt.datetime | None = None
) -> list[Gap]:
    """Expected intervals of `series` that are not stored final: missing prices rows or rows that are not
    ActualInterval; missing usage rows, or 'estimated' ones starting before `usage_settled_before`."""
    gaps: list[Gap] = []
    for stream, query in ((PRICES, _FIND_PRICE_GAPS), (USAGE, _FIND_USAGE_GAPS)):
        chosen = [s for s in series if s.stream == stream]
        if not chosen:
            continue
        params = {
            "site": [s.site_id for s in chosen],
            "key": [s.key for s in chosen],
            "step": [s.step_minutes for s in chosen],
            "first": [s.first for s in chosen],
            "stop": [s.stop for s in chosen],
            "low": min(s.first for s in chosen),
            "high": max(s.stop for s in chosen),
            "settled_before": usage_settled_before or dt.datetime.min.replace(tzinfo=dt.UTC),
        }
        for site_id, key, start, stored in conn.execute(query, params).fetchall():
            gaps.append(Gap(site_id, stream, key, start, stored))
    return gaps


def nem_windows(starts: Iterable[dt.datetime], *, max_days: int = MAX_RANGE_DAYS) -> list[DateWindow]:
    """The fewest NEM-date windows (first..last inclusive, at most `max_days` dates each) that cover the
    NEM dates of the interval starts, oldest first. Greedy from the oldest date is optimal; each window
    ends on its last needed date, so no day is fetched without need."""
    return date_windows((nem_date(s) for s in starts), max_days=max_days)


def date_windows(days: Iterable[dt.date], *, max_days: int = MAX_RANGE_DAYS) -> list[DateWindow]:
    """The fewest windows of at most `max_days` consecutive dates covering `days` (see nem_windows)."""
    if max_days < 1:
        raise ValueError(f"max_days must be at least 1, got {max_days}")
    windows: list[DateWindow] = []
    for day in sorted(set(days)):
        if windows and (day - windows[-1][0]).days < max_days:
            windows[-1] = (windows[-1][0], day)
        else:
            windows.append((day, day))
    return windows


def _days_by_site(gaps: Iterable[Gap]) -> dict[tuple[str, str], set[dt.date]]:
    days: dict[tuple[str, str], set[dt.date]] = defaultdict(set)
    for gap in gaps:
        days[(gap.site_id, gap.stream)].add(nem_date(gap.interval_start))
    return days


def heal(
    client: AmberClient,
    conn: psycopg.Connection,
    sites: Sequence[Site],
    *,
    now: dt.datetime,
    days: int,
    usage_settled_before: dt.date | None = None,
    skip: Mapping[tuple[str, str], Collection[dt.date]] | None = None,
    streams: Collection[str] = (PRICES, USAGE),
    since: dt.date | None = None,
) -> HealReport:
    """Find the gaps of the last `days` NEM days and fetch their windows; return what was done.

    `skip[(site_id, stream)]` lists NEM dates not to fetch (days Amber recently did not serve).
    API and database errors propagate: every window written before stays written (each is atomic),
    and the next heal finds what is still missing."""
    from loader.sync import load_window

    skip = skip or {}
    settled = nem_midnight(usage_settled_before) if usage_settled_before is not None else None
    series = expected_series(sites, now=now, days=days, streams=streams, since=since)
    gaps = find_gaps(conn, series, usage_settled_before=settled)
    report = HealReport(gaps_before=len(gaps))
    if not gaps:
        return report
    by_id = {site.id: site for site in sites}
    wanted = _days_by_site(gaps)
    for (site_id, stream), dates in sorted(wanted.items()):
        dates = dates - set(skip.get((site_id, stream), ()))
        for first, last in date_windows(dates):
            result = load_window(client, conn, by_id[site_id], stream, first, last, now=now)
            outcome = result.of(stream)
            written = outcome.written if outcome is not None else 0
            if stream == USAGE:
                report.usage_written += written
            if outcome is not None and outcome.span is not None:
                report.spans.append(outcome.span)
            report.requests += result.requests
            report.written += written
            report.windows.append((site_id, stream, first, last))
            logger.debug("healed %s %s %s..%s: %d rows written", site_id, stream, first, last, written)
    remaining = find_gaps(conn, series, usage_settled_before=settled)
    report.gaps_after = len(remaining)
    fetched: dict[tuple[str, str], set[dt.date]] = defaultdict(set)
    for site_id, stream, first, last in report.windows:
        fetched[(site_id, stream)].update(day_range(first, last))
    for key, dates in _days_by_site(remaining).items():
        unserved = dates & fetched.get(key, set())
        if unserved:
            report.unserved[key] = unserved
    return report
