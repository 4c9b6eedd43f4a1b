"""loader.gaps: expected series and NEM-date windows (pure), gap detection SQL and healing against the
real TimescaleDB and the simulator."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import random

import pytest

from amber.models import CONTROLLED_LOAD
from loader.gaps import (
    HEAL_GRACE,
    PRICES,
    USAGE,
    Gap,
    date_windows,
    expected_series,
    find_gaps,
    heal,
    nem_windows,
)
from tests.loader.test_follow import (  # noqa: F401  (make_world is a fixture)
    World,
    make_site,
    make_world,
    stored_prices,
    stored_usage,
    truth_prices,
    truth_usage,
)

UTC = dt.UTC
D = dt.date


# -- nem_windows / date_windows (pure) -------------------------------------------------------------------


def test_no_missing_intervals_no_windows():
    assert nem_windows([]) == []


def test_missing_intervals_of_one_day_make_one_one_day_window():
    starts = [dt.datetime(2025, 1, 15, h, 0, tzinfo=UTC) for h in (0, 1, 2)]  # 10:00-12:00 NEM
    assert nem_windows(starts) == [(D(2025, 1, 15), D(2025, 1, 15))]


def test_the_nem_midnight_interval_belongs_to_the_next_nem_date():
    before = dt.datetime(2025, 1, 15, 13, 55, tzinfo=UTC)  # 23:55-00:00 NEM: date 15th
    after = dt.datetime(2025, 1, 15, 14, 0, tzinfo=UTC)  # 00:00-00:05 NEM: date 16th
    assert nem_windows([before]) == [(D(2025, 1, 15), D(2025, 1, 15))]
    assert nem_windows([after]) == [(D(2025, 1, 16), D(2025, 1, 16))]
    assert nem_windows([before, after]) == [(D(2025, 1, 15), D(2025, 1, 16))]


def test_windows_are_at_most_seven_days_and_end_on_a_needed_date():
    days = [D(2025, 1, 1) + dt.timedelta(days=k) for k in range(10)]
    assert date_windows(days) == [(D(2025, 1, 1), D(2025, 1, 7)), (D(2025, 1, 8), D(2025, 1, 10))]
    assert date_windows([D(2025, 1, 1), D(2025, 1, 3)]) == [(D(2025, 1, 1), D(2025, 1, 3))]
    assert date_windows([D(2025, 1, 1), D(2025, 1, 8)]) == [(D(2025, 1, 1), D(2025, 1, 1)), (D(2025, 1, 8), D(2025, 1, 8))]


def _fewest(days: list[dt.date], size: int) -> int:
    """Brute force: the fewest windows of `size` consecutive dates covering `days`."""
    ordered = sorted(set(days))
    best = {len(ordered): 0}
    for i in range(len(ordered) - 1, -1, -1):
        j = i
        while j < len(ordered) and (ordered[j] - ordered[i]).days < size:
            j += 1
        best[i] = 1 + best[j]
    return best[0] if ordered else 0


@pytest.mark.parametrize("seed", range(20))
def test_windows_cover_every_date_with_the_fewest_requests(seed):
    rng = random.Random(seed)
    days = [D(2025, 1, 1) + dt.timedelta(days=rng.randrange(40)) for _ in range(rng.randrange(1, 25))]
    windows = date_windows(days)
    assert len(windows) == _fewest(days, 7)
    for first, last in windows:
        assert (last - first).days < 7 and first in days and last in days
    for day in days:
        assert sum(first <= day <= last for first, last in windows) == 1
    assert windows == sorted(windows)


def test_date_windows_rejects_a_zero_size():
    with pytest.raises(ValueError):
        date_windows([D(2025, 1, 1)], max_days=0)


# -- expected_series (pure) ------------------------------------------------------------------------------

NOW = dt.datetime(2025, 1, 15, 3, 7, 12, tzinfo=UTC)  # 13:07 NEM on the 15th


def test_expected_prices_per_channel_type_and_usage_per_channel():
    site = make_site(channels=(("E1", "general"), ("E3", "general"), ("B1", "feedIn")))
    series = expected_series([site], now=NOW, days=7)
    prices = [s for s in series if s.stream == PRICES]
    usage = [s for s in series if s.stream == USAGE]
    assert [s.key for s in prices] == ["general", "feedIn"]  # one per channel type
    assert [s.key for s in usage] == ["E1", "E3", "B1"]  # one per meter channel
    first = dt.datetime(2025, 1, 7, 14, tzinfo=UTC)  # 00:00 NEM on the 8th: 7 days before today (15th)
    assert all(s.first == first for s in series)
    assert all(s.stop == NOW - HEAL_GRACE and s.step_minutes == 5 for s in prices)
    assert all(s.stop == dt.datetime(2025, 1, 14, 14, tzinfo=UTC) and s.step_minutes == 30 for s in usage)


def test_expected_series_respect_the_supply_period():
    young = make_site("YOUNG", active_from=D(2025, 1, 12))
    closed = make_site("CLOSED", active_from=D(2024, 1, 1), closed_on=D(2025, 1, 10), status="closed")
    long_closed = make_site("GONE", active_from=D(2024, 1, 1), closed_on=D(2024, 6, 1), status="closed")
    pending = make_site("PENDING", active_from=None, status="pending")
    series = expected_series([young, closed, long_closed, pending], now=NOW, days=7)
    by_site = {k: list(g) for k, g in itertools.groupby(series, key=lambda s: s.site_id)}
    assert set(by_site) == {"YOUNG", "CLOSED"}
    assert all(s.first == dt.datetime(2025, 1, 11, 14, tzinfo=UTC) for s in by_site["YOUNG"])
    # closedOn is the last supplied day: everything up to the next NEM midnight is expected.
    assert all(s.stop == dt.datetime(2025, 1, 10, 14, tzinfo=UTC) for s in by_site["CLOSED"])


def test_expected_series_never_start_before_the_historical_start_date():
    site = make_site(active_from=D(2024, 1, 1))
    series = expected_series([site], now=NOW, days=7, since=D(2025, 1, 13))
    assert series and all(s.first == dt.datetime(2025, 1, 12, 14, tzinfo=UTC) for s in series)  # 00:00 NEM 13th
    # An older start date changes nothing: the window is still the last 7 days.
    older = expected_series([site], now=NOW, days=7, since=D(2020, 1, 1))
    assert older == expected_series([site], now=NOW, days=7)


def test_thirty_minute_sites_and_unknown_lengths_expect_thirty_minute_prices():
    for minutes in (30, None):
        series = expected_series([make_site(minutes=minutes)], now=NOW, days=1, streams=(PRICES,))
        assert {s.step_minutes for s in series} == {30}


# == against TimescaleDB and the simulator =================================================================

WEEK_START = dt.datetime(2025, 1, 7, 14, tzinfo=UTC)  # 00:00 NEM on the 8th: the 7-day window of the 15th
TODAY_NEM = dt.datetime(2025, 1, 14, 14, tzinfo=UTC)  # 00:00 NEM on the 15th


def series_and_sites(world: World):
    sites = world.follower._client.sites()
    return sites, expected_series(sites, now=world.now, days=7)


def punch_holes(world: World) -> set[tuple]:
    """Delete and downgrade rows; return the gaps find_gaps must report as (stream, key, start, stored)."""
    site = world.site_id
    t = lambda day, hh, mm: dt.datetime(2025, 1, day, hh, mm, tzinfo=UTC)  # noqa: E731
    five = dt.timedelta(minutes=5)
    holes: set[tuple] = set()
    statements = []
    # An hour of general prices on the 12th.
    statements.append((("DELETE FROM prices WHERE site_id = %s AND channel_type = 'general'"
                       " AND interval_start >= %s AND interval_start < %s"), (site, t(12, 3, 0), t(12, 4, 0))))  # fmt: skip
    holes |= {(PRICES, "general", t(12, 3, 0) + k * five, None) for k in range(12)}
    # Every channel around NEM midnight between the 13th and the 14th.
    statements.append(("DELETE FROM prices WHERE site_id = %s AND interval_start >= %s AND interval_start < %s",
                       (site, t(13, 13, 50), t(13, 14, 10))))  # fmt: skip
    holes |= {(PRICES, c, t(13, 13, 50) + k * five, None) for c in ("general", "controlledLoad", "feedIn") for k in range(4)}
    # An interval left as CurrentInterval: an estimate whose actual never arrived.
    statements.append((("UPDATE prices SET interval_type = 'CurrentInterval', estimate = true WHERE site_id = %s"
                       " AND channel_type = 'feedIn' AND interval_start = %s"), (site, t(14, 5, 0))))  # fmt: skip
    holes.add((PRICES, "feedIn", t(14, 5, 0), "CurrentInterval"))
    # A whole day of E1 usage.
    statements.append(("DELETE FROM usage WHERE site_id = %s AND channel_identifier = 'E1' AND nem_date = '2025-01-10'",
                       (site,)))  # fmt: skip
    holes |= {(USAGE, "E1", t(9, 14, 0) + k * dt.timedelta(minutes=30), None) for k in range(48)}
    # An estimated row older than the usage re-fetch reaches, and one inside it (not a gap: re-fetched hourly).
    statements.append((("UPDATE usage SET quality = 'estimated' WHERE site_id = %s AND channel_identifier = 'B1'"
                       " AND interval_start = %s"), (site, t(9, 10, 0))))  # fmt: skip
    holes.add((USAGE, "B1", t(9, 10, 0), "estimated"))
    statements.append((("UPDATE usage SET quality = 'estimated' WHERE site_id = %s AND channel_identifier = 'B1'"
                       " AND interval_start = %s"), (site, t(13, 10, 0))))  # fmt: skip
    for sql, params in statements:
        world.query(sql + " RETURNING 1", params)
    return holes


def test_gap_detection_finds_exactly_the_seeded_holes_and_healing_restores_the_truth(make_world):
    world = make_world()
    assert world.follower.run_cycle().ok  # the first cycle heals the whole week
    sites, series = series_and_sites(world)
    settled = dt.datetime(2025, 1, 11, 14, tzinfo=UTC)  # 00:00 NEM on the 12th: today - 3 re-fetch days
    with world.follower._connect() as conn:
        assert find_gaps(conn, series, usage_settled_before=settled) == []
        holes = punch_holes(world)
        gaps = find_gaps(conn, series, usage_settled_before=settled)
        assert {(g.stream, g.key, g.interval_start, g.stored) for g in gaps} == holes
        assert all(isinstance(g, Gap) and g.site_id == world.site_id for g in gaps)

        before = world.sim.stats.requests
        report = heal(world.follower._client, conn, sites, now=world.now, days=7, usage_settled_before=D(2025, 1, 12))
        assert report.windows == [
            (world.site_id, PRICES, D(2025, 1, 12), D(2025, 1, 14)),  # 12th, and 13th..14th around NEM midnight
            (world.site_id, USAGE, D(2025, 1, 9), D(2025, 1, 10)),
        ]
        assert report.requests == 2 and report.gaps_before == len(holes) and report.gaps_after == 0
        assert world.sim.stats.requests["prices"] == before["prices"] + 1
        assert world.sim.stats.requests["usage"] == before["usage"] + 1
        assert report.unserved == {}
        assert find_gaps(conn, series, usage_settled_before=settled) == []

    end = world.now - HEAL_GRACE
    end -= dt.timedelta(minutes=end.minute % 5, seconds=end.second)
    assert stored_prices(world, WEEK_START, end) == truth_prices(world, WEEK_START, end)
    usage = stored_usage(world, WEEK_START, TODAY_NEM)
    truth = truth_usage(world, WEEK_START, TODAY_NEM)
    # The B1 row on the 13th stays 'estimated' here (heal leaves it to the hourly re-fetch); all else is truth.
    b1 = ("B1", dt.datetime(2025, 1, 13, 10, 0, tzinfo=UTC))
    assert usage.pop(b1)[2] == "estimated" and truth.pop(b1)[2] == "billable"
    assert usage == truth
    duplicates = world.scalar(
        "SELECT count(*) - count(DISTINCT (channel_type, interval_start)) FROM prices WHERE site_id = %s", (world.site_id,)
    )
    assert duplicates == 0


def test_nothing_missing_means_no_request(make_world):
    world = make_world()
    world.follower.run_cycle()
    sites, _ = series_and_sites(world)
    before = world.sim.stats.total
    with world.follower._connect() as conn:
        report = heal(world.follower._client, conn, sites, now=world.now, days=7)
    assert (report.requests, report.windows, world.sim.stats.total) == (0, [], before)


def test_days_amber_does_not_serve_are_reported_and_can_be_skipped(make_world):
    # Site 1 has no controlled load; a channel for it appears from the 12th, and /sites lists it.
    world = make_world(sites=2)
    site_id = world.sim.site_ids[1]
    world.sim.add_channel(site_id, "E2", CONTROLLED_LOAD, D(2025, 1, 12))
    sites = [s for s in world.follower._client.sites() if s.id == site_id]
    assert "E2" in {c.identifier for c in sites[0].channels}
    with world.follower._connect() as conn:
        report = heal(world.follower._client, conn, sites, now=world.now, days=7)
        not_served = {D(2025, 1, 8) + dt.timedelta(days=k) for k in range(4)}  # 8th..11th: before the channel
        assert report.unserved == {(site_id, PRICES): not_served, (site_id, USAGE): not_served}
        again = heal(world.follower._client, conn, sites, now=world.now, days=7, skip=report.unserved)
        assert again.requests == 0 and again.gaps_before == report.gaps_after


def test_the_follower_stops_asking_for_unserved_days_for_a_day(make_world, caplog):
    caplog.set_level(logging.INFO, logger="loader.follow")
    world = make_world(sites=2)
    site_id = world.sim.site_ids[1]
    world.sim.add_channel(site_id, "E2", CONTROLLED_LOAD, D(2025, 1, 12))
    world.follower.run_cycle()
    assert "Amber served no prices" in caplog.text
    requests = world.sim.stats.requests
    world.run_for(dt.timedelta(hours=1, minutes=1))  # the hourly heal finds those gaps again, asks nothing
    after = world.sim.stats.requests
    assert after.get("prices", 0) == requests.get("prices", 0)
