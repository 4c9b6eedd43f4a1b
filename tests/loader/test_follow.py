"""loader.follow: the pure plan (plan_cycle, next_wake, usage_windows) and the follow loop against the
real simulator (settable clock) and the real TimescaleDB (Apache build)."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal

import psycopg
import pytest

from amber.client import AmberClient
from amber.ratelimit import RateBudget
from loader.aggregates import CONTINUOUS, MATERIALIZED_VIEW
from loader.backfill import run_backfill
from loader.follow import (
    Follower,
    FollowOptions,
    FollowState,
    HealGaps,
    PollPrices,
    PruneForecasts,
    RefetchUsage,
    RefreshAggregates,
    RefreshSites,
    SitePolls,
    SkipRepoll,
    next_wake,
    plan_cycle,
    usage_windows,
)
from loader.migrate import migrate
from loader.schedule import last_slot
from runtime.database import connect
from simulator import SimulatorConfig, SimulatorServer
from tests.amber.test_models import make_site
from tests.support.recount import mismatched

UTC = dt.UTC
D = dt.date
NOW = dt.datetime(2025, 1, 15, 3, 5, 50, tzinfo=UTC)  # a 5-minute slot (13:05:50 NEM)
LATER = dt.timedelta(hours=1)


def settled_state(*sites, now=NOW, kind=MATERIALIZED_VIEW, **options) -> FollowState:
    """A state after a first cycle at `now - 5 min`: sites known, background work not due."""
    state = FollowState(FollowOptions(**options))
    state.sites = {s.id: s for s in sites}
    state.sites_due = state.usage_due = state.heal_due = state.prune_due = now + LATER
    state.aggregate_kind = kind
    return state


def polled(state: FollowState, site_id: str, when: dt.datetime, *, estimate: bool, minutes: int = 5) -> None:
    state.polls[site_id] = SitePolls(done=last_slot(when, minutes), last_poll_at=when, estimate=estimate)


# -- plan_cycle (pure) -------------------------------------------------------------------------------------


def test_a_fresh_state_asks_for_the_sites_first():
    assert plan_cycle(NOW, FollowState()) == [RefreshSites()]


def test_the_first_cycle_polls_open_sites_refetches_usage_heals_and_prunes():
    open_site = make_site("OPEN")
    closed = make_site("CLOSED", closed_on=D(2025, 1, 13), status="closed")
    state = FollowState(FollowOptions(usage_refetch_days=3))
    state.sites = {s.id: s for s in (open_site, closed)}
    state.sites_due = NOW + LATER
    state.aggregate_kind = MATERIALIZED_VIEW
    actions = plan_cycle(NOW, state)
    assert actions == [
        PollPrices("OPEN", last_slot(NOW, 5)),  # the closed site is not polled live
        RefetchUsage((("OPEN", D(2025, 1, 12), D(2025, 1, 14)), ("CLOSED", D(2025, 1, 12), D(2025, 1, 13)))),
        HealGaps(),
        PruneForecasts(),
    ]


def test_nothing_is_due_right_after_a_poll_and_the_next_wake_is_the_next_slot():
    state = settled_state(make_site("A"))
    polled(state, "A", NOW, estimate=False)
    assert plan_cycle(NOW, state) == []
    assert next_wake(NOW, state) == NOW + dt.timedelta(minutes=5)


def test_an_estimate_is_repolled_thirty_seconds_later():
    state = settled_state(make_site("A"))
    polled(state, "A", NOW, estimate=True)
    assert plan_cycle(NOW + dt.timedelta(seconds=29), state) == []
    assert next_wake(NOW, state) == NOW + dt.timedelta(seconds=30)
    assert plan_cycle(NOW + dt.timedelta(seconds=30), state) == [PollPrices("A", last_slot(NOW, 5), repoll=True)]


def test_a_repoll_is_skipped_not_delayed_when_the_budget_is_low():
    state = settled_state(make_site("A"), reserve=12)
    polled(state, "A", NOW, estimate=True)
    state.budget_remaining = 15  # reserve 12 + headroom 3: nothing to spare
    assert plan_cycle(NOW + dt.timedelta(seconds=30), state) == [SkipRepoll("A")]
    state.budget_remaining = 16
    assert plan_cycle(NOW + dt.timedelta(seconds=30), state) == [PollPrices("A", last_slot(NOW, 5), repoll=True)]


def test_repolls_stop_after_four():
    state = settled_state(make_site("A"))
    polled(state, "A", NOW, estimate=True)
    state.polls["A"].repolls = 4
    state.polls["A"].last_poll_at = NOW + dt.timedelta(seconds=120)
    assert plan_cycle(NOW + dt.timedelta(seconds=150), state) == []


def test_a_thirty_minute_estimate_is_not_repolled_before_its_last_five_minutes():
    opening = dt.datetime(2025, 1, 15, 3, 0, 50, tzinfo=UTC)
    state = settled_state(make_site("H", minutes=30), now=opening)
    polled(state, "H", opening, estimate=True, minutes=30)
    assert plan_cycle(opening + dt.timedelta(seconds=30), state) == []
    assert next_wake(opening, state) == opening + dt.timedelta(minutes=25)
    settle = opening + dt.timedelta(minutes=25)
    assert plan_cycle(settle, state) == [PollPrices("H", last_slot(settle, 30))]


def test_a_missed_slot_is_polled_once_at_the_latest_slot():
    state = settled_state(make_site("A"), now=NOW + dt.timedelta(minutes=30))
    polled(state, "A", NOW, estimate=False)
    late = NOW + dt.timedelta(minutes=17)
    assert plan_cycle(late, state) == [PollPrices("A", last_slot(late, 5))]


TODAY_SPAN = (NOW - dt.timedelta(minutes=5), NOW)


def test_no_api_work_while_backing_off_and_no_work_at_all_while_the_database_is_down():
    state = settled_state(make_site("A"))
    state.api_retry_at = NOW + dt.timedelta(minutes=2)
    state.note_written(TODAY_SPAN)
    assert plan_cycle(NOW, state) == [RefreshAggregates((TODAY_SPAN,))]  # the database still works
    state.written = []
    assert next_wake(NOW, state) == NOW + dt.timedelta(minutes=2)
    state.db_retry_at = NOW + dt.timedelta(seconds=20)
    assert plan_cycle(NOW, state) == []
    assert next_wake(NOW, state) == NOW + dt.timedelta(seconds=20)


def test_materialized_views_are_refreshed_at_most_every_five_minutes_unless_usage_or_healing_wrote():
    state = settled_state(make_site("A"))
    polled(state, "A", NOW, estimate=False)
    state.note_written(TODAY_SPAN)
    assert plan_cycle(NOW, state) == [RefreshAggregates((TODAY_SPAN,))]  # never refreshed yet
    state.refreshed_at = NOW - dt.timedelta(minutes=2)
    assert plan_cycle(NOW, state) == []
    assert next_wake(NOW, state) == NOW + dt.timedelta(minutes=3)
    state.note_written(TODAY_SPAN, urgent=True)
    assert plan_cycle(NOW, state) == [RefreshAggregates((TODAY_SPAN,))]


def test_continuous_aggregates_are_refreshed_for_every_written_span_in_the_same_cycle():
    state = settled_state(make_site("A"), kind=CONTINUOUS)
    polled(state, "A", NOW, estimate=False)
    state.prune_due = None
    assert plan_cycle(NOW, state) == []  # nothing written; retention prunes forecasts
    # The current interval (recent: the policies would leave its bucket stale) and two older, touching
    # windows of a heal: joined into one span.
    old = (dt.datetime(2025, 1, 1, 14, tzinfo=UTC), dt.datetime(2025, 1, 3, 14, tzinfo=UTC))
    older = (dt.datetime(2024, 12, 30, 14, tzinfo=UTC), dt.datetime(2025, 1, 1, 14, tzinfo=UTC))
    for span in (TODAY_SPAN, old, older):
        state.note_written(span)
    assert plan_cycle(NOW, state) == [RefreshAggregates(((older[0], old[1]), TODAY_SPAN))]
    state.refreshed_at = NOW  # unlike materialized views, no waiting between narrow refreshes
    assert plan_cycle(NOW, state) == [RefreshAggregates(((older[0], old[1]), TODAY_SPAN))]


def test_a_failed_refresh_keeps_its_spans_and_is_retried_a_minute_later():
    state = settled_state(make_site("A"), kind=CONTINUOUS)
    polled(state, "A", NOW, estimate=False)
    state.prune_due = None
    state.note_written(TODAY_SPAN)
    state.refresh_retry_at = NOW + dt.timedelta(minutes=1)
    assert plan_cycle(NOW, state) == []
    assert next_wake(NOW, state) == NOW + dt.timedelta(minutes=1)
    assert plan_cycle(NOW + dt.timedelta(minutes=1), state) == [RefreshAggregates((TODAY_SPAN,))]


def test_background_work_falls_due_on_its_cadence():
    state = settled_state(make_site("A"))
    polled(state, "A", NOW, estimate=False)
    state.heal_due = NOW + dt.timedelta(minutes=3)
    assert next_wake(NOW, state) == NOW + dt.timedelta(minutes=3)
    assert plan_cycle(NOW + dt.timedelta(minutes=3), state) == [HealGaps()]


# -- usage_windows (pure) ----------------------------------------------------------------------------------


def test_usage_windows_end_yesterday_within_the_supply_period():
    today = D(2025, 1, 15)
    assert usage_windows([make_site("A")], today=today, days=3) == [("A", D(2025, 1, 12), D(2025, 1, 14))]
    assert usage_windows([make_site("A")], today=today, days=10) == [
        ("A", D(2025, 1, 5), D(2025, 1, 11)),
        ("A", D(2025, 1, 12), D(2025, 1, 14)),
    ]
    young = make_site("Y", active_from=D(2025, 1, 14))
    gone = make_site("G", closed_on=D(2025, 1, 1), status="closed")
    brand_new = make_site("N", active_from=D(2025, 1, 15))
    assert usage_windows([young, gone, brand_new], today=today, days=3) == [("Y", D(2025, 1, 14), D(2025, 1, 14))]


def test_a_site_backing_off_after_a_refusal_wakes_the_loop_at_its_retry_time():
    state = settled_state(make_site("A"))
    state.polls["A"] = SitePolls(failures=1, retry_at=NOW + dt.timedelta(seconds=90))
    assert plan_cycle(NOW, state) == []
    assert next_wake(NOW, state) == NOW + dt.timedelta(seconds=90)


# == against the simulator and TimescaleDB ================================================================

START = dt.datetime(2025, 1, 15, 2, 58, tzinfo=UTC)  # 12:58 NEM on Wednesday 15 January
API_KEY = "psk_sim_FAKEKEY_w8Rt51"  # distinctive, so "never logged" checks cannot pass by accident
EXPORTER_SHARE = 12


@dataclass
class World:
    """A simulator with a frozen clock, a migrated database and a follower whose clock is the simulator's
    and whose sleeper advances it (so hours pass in seconds)."""

    sim: SimulatorServer
    url: str
    client: AmberClient
    follower: Follower
    samples: list[tuple[dt.datetime, int]] = field(default_factory=list)  # (sim time, requests so far) per sleep

    @property
    def now(self) -> dt.datetime:
        return self.sim.clock.now()

    @property
    def site_id(self) -> str:
        return self.sim.site_ids[0]

    def run_for(self, delta: dt.timedelta) -> None:
        self.follower.run(until=self.now + delta)

    def query(self, sql: str, params: tuple | dict = ()) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, params: tuple | dict = ()):
        return self.query(sql, params)[0][0]


@pytest.fixture
def make_world(apache_db):
    stack = contextlib.ExitStack()

    def make(*, follow: dict | None = None, **sim_options) -> World:
        migrate(apache_db, timezone="Australia/Sydney")
        config = {"seed": 7, "sites": 1, "resolution": 5, "speed": 0, "start": START, "history_days": 30,
                  "api_key": API_KEY, "rate_limit": 100_000}  # fmt: skip
        config.update(sim_options)
        sim = stack.enter_context(SimulatorServer(SimulatorConfig(**config)))
        samples: list[tuple[dt.datetime, int]] = []

        def sleep(seconds: float) -> None:
            samples.append((sim.clock.now(), sim.stats.total))
            sim.clock.advance(seconds)

        budget = RateBudget(reserve=EXPORTER_SHARE, clock=sim.clock.timestamp, sleeper=sleep)
        client = AmberClient(
            sim.api_key, sim.base_url, budget=budget, sleeper=sleep, max_retries=0, max_rate_limit_waits=0, timeout=10
        )
        stack.callback(client.close)
        options = FollowOptions(reserve=EXPORTER_SHARE, **(follow or {}))
        follower = Follower(
            client,
            lambda: connect(apache_db, application_name="amber-home collect (test)", autocommit=True),
            options=options,
            clock=sim.clock.now,
            sleeper=sleep,
        )
        stack.callback(follower.close)
        return World(sim, apache_db, client, follower, samples)

    with stack:
        yield make


def at_utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def truth_prices(world: World, start: dt.datetime, end: dt.datetime, site_id: str | None = None) -> dict:
    records = world.sim.truth.prices(site_id or world.site_id, start, end)
    return {
        (r["channelType"], at_utc(r["startTime"]) - dt.timedelta(seconds=1)): Decimal(str(r["perKwh"])) for r in records
    }


def stored_prices(world: World, start: dt.datetime, end: dt.datetime, site_id: str | None = None) -> dict:
    rows = world.query(
        "SELECT channel_type, interval_start, per_kwh, interval_type FROM prices"
        " WHERE site_id = %s AND interval_start >= %s AND interval_start < %s",
        (site_id or world.site_id, start, end),
    )
    assert {r[3] for r in rows} <= {"ActualInterval"}, "an interval in the past is not an ActualInterval"
    return {(r[0], r[1]): r[2] for r in rows}


def truth_usage(world: World, start: dt.datetime, end: dt.datetime) -> dict:
    records = world.sim.truth.usage(world.site_id, start, end)
    return {
        (r["channelIdentifier"], at_utc(r["startTime"]) - dt.timedelta(seconds=1)):
            (Decimal(str(r["kwh"])), Decimal(str(r["cost"])), r["quality"])
        for r in records
    }  # fmt: skip


def stored_usage(world: World, start: dt.datetime, end: dt.datetime) -> dict:
    rows = world.query(
        "SELECT channel_identifier, interval_start, kwh, cost, quality FROM usage"
        " WHERE site_id = %s AND interval_start >= %s AND interval_start < %s",
        (world.site_id, start, end),
    )
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}


def current_row(world: World, start: dt.datetime, channel: str = "general") -> tuple | None:
    rows = world.query(
        "SELECT interval_type, estimate, per_kwh FROM prices WHERE site_id = %s AND channel_type = %s"
        " AND interval_start = %s",
        (world.site_id, channel, start),
    )
    return rows[0] if rows else None


# -- one cycle ---------------------------------------------------------------------------------------------


def test_one_cycle_writes_the_current_interval_recent_actuals_forecasts_and_usage(make_world):
    world = make_world()
    report = world.follower.run_cycle()
    assert report.ok, report.problems
    now = world.now
    current_start = dt.datetime(2025, 1, 15, 2, 55, tzinfo=UTC)
    for channel in ("general", "controlledLoad", "feedIn"):
        interval_type, estimate, _ = current_row(world, current_start, channel)
        assert interval_type == "CurrentInterval" and estimate is False  # 3 min in: final since +45 s
    # The last hour is actual and equals the simulator's truth.
    hour_ago = current_start - dt.timedelta(hours=1)
    assert stored_prices(world, hour_ago, current_start) == truth_prices(world, hour_ago, current_start)
    # Forecasts: the horizon ahead, issued now, one row per interval (first poll).
    ahead = world.query(
        "SELECT count(DISTINCT interval_start), min(interval_start), max(issued_at), max(rows) FROM"
        " (SELECT interval_start, issued_at, count(*) OVER (PARTITION BY site_id, channel_type, interval_start)"
        "  AS rows FROM forecasts) f"
    )[0]
    assert ahead[0] >= 36 * 12 - 1 and ahead[1] == current_start + dt.timedelta(minutes=5)
    assert ahead[2] == now and ahead[3] == 1
    # Usage up to yesterday, none for today; yesterday's last part still estimated.
    today_nem = dt.datetime(2025, 1, 14, 14, tzinfo=UTC)
    usage_days = world.query(
        "SELECT nem_date, count(*), count(*) FILTER (WHERE quality = 'estimated') FROM usage GROUP BY 1 ORDER BY 1"
    )
    assert usage_days[-1][0] == dt.date(2025, 1, 14)
    assert usage_days[-1][2] > 0
    assert world.scalar("SELECT count(*) FROM usage WHERE interval_start >= %s", (today_nem,)) == 0
    # Gap healing filled the last 7 days; the aggregates were refreshed (Apache build: materialized views).
    week = today_nem - dt.timedelta(days=7)
    assert stored_prices(world, week, hour_ago) == truth_prices(world, week, hour_ago)
    assert stored_usage(world, week, today_nem) == truth_usage(world, week, today_nem)
    assert report.aggregates_refreshed
    assert world.scalar("SELECT count(*) FROM cost_daily WHERE day = '2025-01-13'") == 3
    assert report.requests == world.sim.stats.total


def test_the_interval_settles_estimate_then_final_then_actual(make_world):
    # Final prices come 70 s into an interval here, so the 50 s poll still sees an estimate.
    world = make_world(estimate_seconds=70)
    world.sim.clock.set(dt.datetime(2025, 1, 15, 3, 0, 55, tzinfo=UTC))
    world.follower.run_cycle()  # polls the 03:00:50 slot
    interval = dt.datetime(2025, 1, 15, 3, 0, tzinfo=UTC)
    assert current_row(world, interval)[:2] == ("CurrentInterval", True)
    estimate_price = current_row(world, interval)[2]
    before = world.sim.stats.requests.get("prices_current", 0)
    world.run_for(dt.timedelta(seconds=35))  # the re-poll at 03:01:25 sees the final price
    assert world.sim.stats.requests["prices_current"] == before + 1
    interval_type, estimate, final_price = current_row(world, interval)
    assert (interval_type, estimate) == ("CurrentInterval", False)
    world.run_for(dt.timedelta(minutes=5))
    assert current_row(world, interval)[:2] == ("ActualInterval", None)
    truth = truth_prices(world, interval, interval + dt.timedelta(minutes=5))
    assert current_row(world, interval)[2] == truth[("general", interval)] == final_price
    assert estimate_price != final_price  # the simulator's estimates wobble around the final price
    # No more re-polls once final: the next slot took one poll and one re-poll.
    assert world.sim.stats.requests["prices_current"] == before + 1 + 2


def test_forecasts_stay_bounded_by_the_horizon_ladder_after_many_polls(make_world):
    world = make_world()
    world.run_for(dt.timedelta(hours=2))
    per_interval = world.query(
        "SELECT max(n), max(distinct_buckets - n) FROM (SELECT count(*) AS n, count(DISTINCT horizon_minutes)"
        " AS distinct_buckets FROM forecasts GROUP BY site_id, channel_type, interval_start) AS f"
    )[0]
    assert 3 <= per_interval[0] <= 11 and per_interval[1] == 0
    # The bucket keeps the forecast issued closest to its nominal lead: lead - bucket < the poll period.
    worst = world.scalar(
        "SELECT max((interval_start - issued_at) - make_interval(mins => horizon_minutes)) FROM forecasts"
        " WHERE horizon_minutes BETWEEN 5 AND 60 AND interval_start < %s",
        (world.now,),
    )
    assert worst < dt.timedelta(minutes=5)
    # forecast_accuracy joins forecasts to the actuals that replaced them.
    assert world.scalar("SELECT count(*) FROM forecast_accuracy WHERE horizon_minutes = 0") > 0


def test_late_usage_arrives_and_estimated_becomes_billable(make_world):
    world = make_world()
    world.follower.run_cycle()
    yesterday = dt.date(2025, 1, 14)
    estimated = "SELECT count(*) FROM usage WHERE nem_date = %s AND quality = 'estimated'"
    assert world.scalar(estimated, (yesterday,)) > 0
    assert world.scalar("SELECT count(*) FROM usage WHERE nem_date = '2025-01-15'") == 0
    # A day later (the loop asleep meanwhile): the hourly re-fetch brings the new day and the revisions.
    world.sim.clock.advance(dt.timedelta(days=1))
    report = world.follower.run_cycle()
    assert report.ok, report.problems
    assert world.scalar(estimated, (yesterday,)) == 0
    assert world.scalar("SELECT count(*) FROM usage WHERE nem_date = '2025-01-15'") > 0
    assert world.scalar(estimated, (dt.date(2025, 1, 15),)) > 0
    start, end = dt.datetime(2025, 1, 7, 14, tzinfo=UTC), dt.datetime(2025, 1, 15, 14, tzinfo=UTC)
    assert stored_usage(world, start, end) == truth_usage(world, start, end)
    assert world.scalar("SELECT sum(estimated_intervals) FROM cost_daily WHERE day = '2025-01-14'") == 0


def test_the_nem_midnight_interval_is_stored_under_its_nem_date(make_world):
    world = make_world(start=dt.datetime(2025, 1, 15, 13, 50, tzinfo=UTC))  # 23:50 NEM
    world.run_for(dt.timedelta(minutes=30))
    last_of_day = dt.datetime(2025, 1, 15, 13, 55, tzinfo=UTC)
    first_of_day = dt.datetime(2025, 1, 15, 14, 0, tzinfo=UTC)
    rows = world.query(
        "SELECT interval_start, nem_date, interval_type FROM prices WHERE site_id = %s AND channel_type = 'general'"
        " AND interval_start IN (%s, %s) ORDER BY 1",
        (world.site_id, last_of_day, first_of_day),
    )
    assert rows == [
        (last_of_day, dt.date(2025, 1, 15), "ActualInterval"),
        (first_of_day, dt.date(2025, 1, 16), "ActualInterval"),
    ]
    span = (last_of_day - dt.timedelta(hours=1), first_of_day + dt.timedelta(minutes=10))
    assert stored_prices(world, *span) == truth_prices(world, *span)


def test_a_closed_site_is_followed_without_errors(make_world):
    world = make_world(sites=2)
    _open_id, closing_id = world.sim.site_ids
    world.sim.close_site(closing_id, dt.date(2025, 1, 13))
    report = world.follower.run_cycle()
    assert report.ok, report.problems
    assert report.polls == 1  # only the open site is polled live
    closed_usage = world.query("SELECT max(nem_date) FROM usage WHERE site_id = %s", (closing_id,))[0][0]
    assert closed_usage == dt.date(2025, 1, 13)  # its usage ends on closedOn
    assert world.scalar("SELECT status FROM sites WHERE site_id = %s", (closing_id,)) == "closed"
    # An hour later: healing finds nothing missing for the closed site and asks for nothing.
    before = world.sim.stats.requests
    world.run_for(dt.timedelta(hours=1, minutes=1))
    after = world.sim.stats.requests
    assert after.get("prices", 0) == before.get("prices", 0)
    assert after["usage"] - before["usage"] == 2  # the hourly usage re-fetch, one per site


def test_a_site_that_closes_while_followed_stops_being_polled(make_world):
    world = make_world()
    world.follower.run_cycle()
    world.sim.close_site(world.site_id, dt.date(2025, 1, 15))
    world.follower.state.sites_due = world.now  # /sites is read every 6 h; don't wait for it here
    world.run_for(dt.timedelta(minutes=1))
    polls_after_closing = world.sim.stats.requests["prices_current"]
    world.run_for(dt.timedelta(hours=1))
    assert world.sim.stats.requests["prices_current"] == polls_after_closing
    assert world.scalar("SELECT status FROM sites") == "closed"


# -- the request budget ------------------------------------------------------------------------------------


def requests_per_window(samples: list[tuple[dt.datetime, int]], window=dt.timedelta(minutes=5)) -> list[int]:
    """Requests in each sliding window of simulated time, from (time, total so far) at each sleep."""
    counts = []
    for i, (start, total_before) in enumerate(samples):
        # Requests made in the cycle at `start` are counted at the next sample.
        end_total = total_before
        for t, total in samples[i + 1 :]:
            if t >= start + window:
                break
            end_total = total
        previous = samples[i - 1][1] if i else 0
        counts.append(end_total - previous)
    return counts


def test_the_follow_loop_stays_within_its_share_of_the_account(make_world):
    # Two 5-minute sites whose current price is final only 100 s in: every slot needs re-polls.
    world = make_world(sites=2, estimate_seconds=100)
    world.run_for(dt.timedelta(hours=1, minutes=15))
    counts = requests_per_window(world.samples)
    share = 50 - EXPORTER_SHARE
    assert max(counts) <= share
    steady = counts[len(counts) // 2 :]  # after start-up healing
    # Per site and 5 minutes: 1 poll + 2 re-polls (at +80 s still estimate, +110 s final), plus hourly usage.
    assert max(steady) <= 2 * (1 + 2) + 2
    assert world.sim.stats.rate_limited == 0
    assert world.client.stats()["requests"]["current_prices"]["ok"] == world.sim.stats.requests["prices_current"]


def test_logs_name_no_secret_and_each_problem_is_one_line(make_world, caplog):
    caplog.set_level(logging.DEBUG)
    world = make_world()
    world.sim.faults.fail_next(1, status=503, endpoint="prices_current")
    world.run_for(dt.timedelta(minutes=20))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert API_KEY not in text
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1 and "\n" not in problems[0].getMessage()
    assert "HTTP 503" in problems[0].getMessage() and problems[0].exc_info is None


def test_aggregates_equal_the_recount_after_backfill_collect_a_usage_revision_and_a_heal(make_world):
    world = make_world(history_days=40)
    with psycopg.connect(world.url, autocommit=True) as conn:
        result = run_backfill(world.client, world.url, start_date=D(2024, 12, 20), clock=world.sim.clock.now)
        assert result.ok
        assert mismatched(conn) == []
        world.run_for(dt.timedelta(minutes=40))  # collect: eight polls into the current hour and day
        assert world.scalar("SELECT count(*) FROM prices WHERE interval_start > %s", (START,)) > 0
        assert mismatched(conn) == []
        # A day later: yesterday's estimates become billable (the usage re-fetch) in an existing day.
        world.sim.clock.advance(dt.timedelta(days=1))
        world.follower.run_cycle()
        assert world.scalar("SELECT count(*) FROM usage WHERE nem_date = '2025-01-14' AND quality = 'estimated'") == 0
        assert mismatched(conn) == []
        # An outage's hole in last week's data: the next heal fills it, and the buckets follow.
        hole = (dt.datetime(2025, 1, 12, 1, tzinfo=UTC), dt.datetime(2025, 1, 12, 5, tzinfo=UTC))
        conn.execute("DELETE FROM prices WHERE interval_start >= %s AND interval_start < %s", hole)
        conn.execute("DELETE FROM usage WHERE interval_start >= %s AND interval_start < %s", hole)
        world.follower.state.heal_due = world.now
        report = world.follower.run_cycle()
        assert report.healed_windows >= 2 and report.aggregates_refreshed
        assert mismatched(conn) == []
