"""Backfill planning (loader.windows): pure, no database, no API."""

from __future__ import annotations

import datetime as dt
import itertools
import math

import pytest

from amber.client import MAX_RANGE_DAYS
from amber.models import Channel, Site
from amber.nemtime import nem_today
from loader.windows import (
    PRICES,
    USAGE,
    Window,
    chunk,
    minimum_requests,
    missing_runs,
    plan_backfill,
    settled_through,
    site_days,
    stream_span,
    window_is_final,
)

D = dt.date
DAY = dt.timedelta(days=1)
UTC = dt.UTC
TODAY = D(2025, 6, 15)


A_YEAR_AGO = D(2024, 6, 15)


def site(site_id="S1", *, active_from=A_YEAR_AGO, closed_on=None, interval_length=30) -> Site:
    return Site(
        id=site_id,
        nmi="4100000000",
        channels=(Channel("E1", "general", "EA116"), Channel("B1", "feedIn", "EA116")),
        network="Ausgrid",
        status="closed" if closed_on else "active",
        active_from=active_from,
        closed_on=closed_on,
        interval_length=interval_length,
        raw={},
    )


def days_of(windows) -> list[dt.date]:
    return [w[0] + k * DAY for w in windows for k in range((w[1] - w[0]).days + 1)]


def test_requests_cover_seven_days_the_most_the_client_sends():
    assert MAX_RANGE_DAYS == 7


@pytest.mark.parametrize("n", [*range(1, 30), 364, 365, 366, 730, 731])
def test_chunk_covers_every_day_exactly_once_with_the_fewest_windows(n):
    first = D(2024, 2, 20)
    last = first + (n - 1) * DAY
    windows = chunk(first, last)
    assert days_of(windows[::-1]) == [first + k * DAY for k in range(n)]  # every day once
    assert len(windows) == math.ceil(n / 7) == minimum_requests(n)
    assert all(1 <= (b - a).days + 1 <= 7 for a, b in windows)
    assert windows[0][1] == last and all((b - a).days == 6 for a, b in windows[:-1])  # full weeks from the newest
    assert all(a == d + DAY for (a, _), (_, d) in itertools.pairwise(windows))  # newest first, no gap, no overlap


def test_chunk_rejects_nonsense():
    assert chunk(D(2025, 1, 2), D(2025, 1, 1)) == []
    with pytest.raises(ValueError):
        chunk(D(2025, 1, 1), D(2025, 1, 9), days=0)


def test_missing_runs_are_the_days_not_covered():
    first, last = D(2025, 1, 1), D(2025, 1, 31)
    done = [(D(2025, 1, 8), D(2025, 1, 14)), (D(2025, 1, 1), D(2025, 1, 7)), (D(2025, 1, 20), D(2025, 1, 22))]
    assert missing_runs(first, last, done) == [(D(2025, 1, 15), D(2025, 1, 19)), (D(2025, 1, 23), D(2025, 1, 31))]
    assert missing_runs(first, last, []) == [(first, last)]
    assert missing_runs(first, last, [(D(2024, 12, 1), D(2025, 2, 1))]) == []
    # Overlapping or out-of-range records (e.g. written under another start date) are harmless.
    assert missing_runs(first, last, [(D(2024, 12, 25), D(2025, 1, 3)), (D(2025, 1, 2), D(2025, 1, 9))]) == [
        (D(2025, 1, 10), last)
    ]
    assert missing_runs(first, last, [(D(2025, 2, 1), D(2025, 2, 7))]) == [(first, last)]


def test_missing_runs_property_against_brute_force():
    first, last = D(2025, 3, 1), D(2025, 3, 20)
    ranges = [(first + a * DAY, first + b * DAY) for a in range(-2, 22, 3) for b in (a, a + 2, a + 6)]
    for done in itertools.combinations(ranges, 3):
        covered = {d for a, b in done for d in days_of([(a, b)])}
        expected = [d for d in days_of([(first, last)]) if d not in covered]
        runs = missing_runs(first, last, done)
        assert days_of(runs) == expected
        assert all(b + DAY < c for (_, b), (c, _) in itertools.pairwise(runs))  # maximal runs


def test_nem_today_is_utc_plus_ten_all_year():
    assert nem_today(dt.datetime(2025, 6, 14, 13, 59, 59, tzinfo=UTC)) == D(2025, 6, 14)
    assert nem_today(dt.datetime(2025, 6, 14, 14, 0, tzinfo=UTC)) == D(2025, 6, 15)
    sydney_summer = dt.datetime(2025, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=11)))
    assert nem_today(sydney_summer) == D(2024, 12, 31)  # 23:30 NEM
    with pytest.raises(ValueError):
        nem_today(dt.datetime(2025, 1, 1))  # noqa: DTZ001  naive on purpose


def test_stream_spans():
    s = site(active_from=D(2025, 1, 10))
    assert stream_span(s, PRICES, start_date=None, today=TODAY) == (D(2025, 1, 10), TODAY)
    assert stream_span(s, USAGE, start_date=None, today=TODAY) == (D(2025, 1, 10), TODAY - DAY)
    # An explicit earlier start: market prices exist before activeFrom, usage does not.
    assert stream_span(s, PRICES, start_date=D(2025, 1, 1), today=TODAY) == (D(2025, 1, 1), TODAY)
    assert stream_span(s, USAGE, start_date=D(2025, 1, 1), today=TODAY) == (D(2025, 1, 10), TODAY - DAY)
    assert stream_span(s, USAGE, start_date=D(2025, 3, 1), today=TODAY) == (D(2025, 3, 1), TODAY - DAY)
    # Closed: nothing after closedOn (its last day of supply).
    c = site(active_from=D(2025, 1, 10), closed_on=D(2025, 4, 1))
    assert stream_span(c, PRICES, start_date=None, today=TODAY) == (D(2025, 1, 10), D(2025, 4, 1))
    assert stream_span(c, USAGE, start_date=None, today=TODAY) == (D(2025, 1, 10), D(2025, 4, 1))
    # Became active today: prices for today, no usage yet.
    new = site(active_from=TODAY)
    assert stream_span(new, PRICES, start_date=None, today=TODAY) == (TODAY, TODAY)
    assert stream_span(new, USAGE, start_date=None, today=TODAY) is None
    assert stream_span(site(active_from=None), PRICES, start_date=None, today=TODAY) is None
    with pytest.raises(ValueError):
        stream_span(s, "renewables", start_date=None, today=TODAY)


def test_one_site_year_takes_106_requests():
    plan = plan_backfill([site(active_from=TODAY - 365 * DAY)], start_date=None, today=TODAY)
    prices, usage = plan.windows_of("S1", PRICES), plan.windows_of("S1", USAGE)
    assert (len(prices), len(usage)) == (53, 53)  # 366 and 365 days
    assert plan.requests == 106 == minimum_requests(366) + minimum_requests(365)
    assert sorted(days_of([(w.start, w.end) for w in prices])) == [TODAY - (365 - k) * DAY for k in range(366)]
    assert sorted(days_of([(w.start, w.end) for w in usage])) == [TODAY - (365 - k) * DAY for k in range(365)]
    # Newest first (today, yesterday and this month arrive in the first minutes), each week's prices next
    # to its usage; the oldest window is the short one.
    assert plan.windows[:2] == (
        Window("S1", PRICES, TODAY - 6 * DAY, TODAY),
        Window("S1", USAGE, TODAY - 7 * DAY, TODAY - DAY),
    )
    assert all(a.end >= b.end for a, b in itertools.pairwise(plan.windows))
    assert plan.windows[-2:] == (
        Window("S1", PRICES, TODAY - 365 * DAY, TODAY - 364 * DAY),
        Window("S1", USAGE, TODAY - 365 * DAY, TODAY - 365 * DAY),
    )


def test_plan_for_several_sites_and_a_skipped_one():
    sites = [site("A", active_from=D(2025, 6, 1)), site("B", active_from=None), site("C", active_from=D(2025, 6, 10))]
    plan = plan_backfill(sites, start_date=None, today=TODAY)
    assert [s.site_id for s in plan.skipped] == ["B"]
    assert "HISTORICAL_START_DATE" in plan.skipped[0].reason
    assert plan.spans[("A", PRICES)] == (D(2025, 6, 1), TODAY)
    # Newest first over both sites: each site's current week before anyone's older history.
    assert [(w.site_id, w.stream, w.start, w.end) for w in plan.windows] == [
        ("A", PRICES, D(2025, 6, 9), D(2025, 6, 15)),
        ("C", PRICES, D(2025, 6, 10), D(2025, 6, 15)),
        ("A", USAGE, D(2025, 6, 8), D(2025, 6, 14)),
        ("C", USAGE, D(2025, 6, 10), D(2025, 6, 14)),
        ("A", PRICES, D(2025, 6, 2), D(2025, 6, 8)),
        ("A", USAGE, D(2025, 6, 1), D(2025, 6, 7)),
        ("A", PRICES, D(2025, 6, 1), D(2025, 6, 1)),
    ]
    # With a start date the site without activeFrom is planned too.
    plan = plan_backfill(sites, start_date=D(2025, 6, 12), today=TODAY)
    assert plan.skipped == () and plan.requests == 6


def test_resumed_plan_fetches_only_missing_days_and_never_overlaps():
    s = site(active_from=TODAY - 100 * DAY)
    full = plan_backfill([s], start_date=None, today=TODAY)
    # Pretend the first 9 windows committed as complete (any subset works the same).
    committed = full.windows[:9]
    done = {(w.site_id, w.stream): [] for w in full.windows}
    for w in committed:
        done[(w.site_id, w.stream)].append((w.start, w.end))
    rest = plan_backfill([s], start_date=None, today=TODAY, done=done)
    assert rest.windows == full.windows[9:]
    assert rest.done_days[("S1", PRICES)] == sum(w.days for w in committed if w.stream == PRICES)
    # A later run (today moved on a week) fetches exactly the days after the last settled window.
    later = TODAY + 7 * DAY
    settled = [w for w in full.windows if window_is_final(w, today=TODAY)]
    done = {}
    for w in settled:
        done.setdefault((w.site_id, w.stream), []).append((w.start, w.end))
    nxt = plan_backfill([s], start_date=None, today=later, done=done)
    for stream in (PRICES, USAGE):
        first_open = max(w.end for w in settled if w.stream == stream) + DAY
        windows = nxt.windows_of("S1", stream)
        assert windows[-1].start == first_open
        assert sorted(days_of([(w.start, w.end) for w in windows])) == days_of(
            [(first_open, later if stream == PRICES else later - DAY)]
        )
    # A start date moved earlier adds only the new days in front.
    earlier = plan_backfill([s], start_date=TODAY - 110 * DAY, today=TODAY, done=done)
    new = [w for w in earlier.windows_of("S1", PRICES) if w.end < TODAY - 99 * DAY]
    assert sorted(days_of([(w.start, w.end) for w in new])) == [TODAY - (110 - k) * DAY for k in range(10)]


def test_only_settled_windows_are_final():
    assert settled_through(TODAY) == TODAY - 2 * DAY
    old = Window("S", PRICES, TODAY - 8 * DAY, TODAY - 2 * DAY)
    touching_yesterday = Window("S", PRICES, TODAY - 7 * DAY, TODAY - DAY)
    assert window_is_final(old, today=TODAY)
    assert not window_is_final(touching_yesterday, today=TODAY)
    assert not window_is_final(Window("S", PRICES, TODAY, TODAY), today=TODAY)
    usage = Window("S", USAGE, TODAY - 8 * DAY, TODAY - 2 * DAY)
    assert window_is_final(usage, today=TODAY)
    assert not window_is_final(usage, today=TODAY, estimated_rows=3)
    assert not window_is_final(usage, today=TODAY, empty_days=1)
    assert window_is_final(old, today=TODAY, empty_days=1)  # prices: empty days are not a reason


def test_site_days_counts_both_streams_done_before_and_during_the_run():
    sites = [site("A", active_from=TODAY - 20 * DAY), site("B", active_from=TODAY - 6 * DAY)]
    done = {("A", PRICES): [(TODAY - 20 * DAY, TODAY - 14 * DAY)]}
    plan = plan_backfill(sites, start_date=None, today=TODAY, done=done)
    # A: prices 21 days (7 done), usage 20 days; B: prices 7, usage 6.
    assert site_days(plan, []) == {"A": (7, 34), "B": (0, 13)}
    fetched = [w for w in plan.windows if w.site_id == "B"]
    assert site_days(plan, fetched) == {"A": (7, 34), "B": (13, 0)}
    assert site_days(plan, plan.windows) == {"A": (41, 0), "B": (13, 0)}
