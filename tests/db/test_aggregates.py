"""The aggregates equal the same aggregation computed from the raw rows, on both tiers, across Sydney's
daylight-saving changes (2025-04-06 has 25 local hours, 2025-10-05 has 23); refresh_aggregates picks
up corrections; the forecast horizon ladder and keep-closest rule hold."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest

from amber.models import Site
from loader.aggregates import CONTINUOUS, AggregateError, aggregate_kind, refresh_aggregates, refresh_written
from loader.follow import FollowState, RefreshAggregates, SitePolls, plan_cycle
from loader.migrate import migrate
from loader.schedule import last_slot
from tests.support.recount import COMPARED, mismatched

TZ = "Australia/Sydney"
SYDNEY = ZoneInfo(TZ)
# Local date ranges [start, end): month ends and both DST changes of 2025.
WINDOWS = [("2025-03-30", "2025-04-08"), ("2025-09-29", "2025-10-07")]
# 5-minute site with three channels; 30-minute site with one.
CHANNELS = [("s5", "E1", "general", 5), ("s5", "E2", "controlledLoad", 5), ("s5", "B1", "feedIn", 5), ("s30", "E1", "general", 30)]


def seed(conn) -> None:
    """Deterministic prices and usage with 4-5 decimal values (INSERT ... generate_series: PGlite has no COPY)."""
    for site, identifier, channel_type, minutes in CHANNELS:
        for first, last in WINDOWS:
            conn.execute(
                """
                INSERT INTO usage (site_id, channel_identifier, channel_type, interval_start, interval_end, nem_time,
                                   nem_date, duration_minutes, kwh, cost, quality, per_kwh, spot_per_kwh, renewables,
                                   descriptor, spike_status, raw)
                SELECT %(site)s, %(id)s, %(type)s, s, s + d, s + d, ((s + d) AT TIME ZONE 'Australia/Brisbane')::date,
                       %(minutes)s, kwh, round(kwh * price, 5), CASE WHEN n %% 7 = 0 THEN 'estimated' ELSE 'billable' END,
                       price, round(price / 3, 5), 20 + n %% 61, 'low', 'none', jsonb_build_object('n', n)
                FROM generate_series((%(first)s || ' 00:00 ' || %(tz)s)::timestamptz,
                                     (%(last)s || ' 00:00 ' || %(tz)s)::timestamptz - %(d)s::interval, %(d)s::interval) AS s,
                     LATERAL (SELECT %(d)s::interval AS d, (extract(epoch FROM s) / 300)::bigint AS n) AS k,
                     LATERAL (SELECT CASE %(type)s WHEN 'feedIn' THEN -round((n %% 13) * 0.0177, 4)
                                                   WHEN 'controlledLoad' THEN round((n %% 5) * 0.0311, 4)
                                                   ELSE round(0.05 + (n %% 17) * 0.0123, 4) END AS kwh,
                                     CASE %(type)s WHEN 'feedIn' THEN -round(3 + (n * 7919 %% 1009) / 1000.0, 4)
                                                   ELSE round(15 + (n * 7919 %% 4001) / 100.0, 4) END AS price) AS v
                """,
                {"site": site, "id": identifier, "type": channel_type, "minutes": minutes,
                 "d": f"{minutes} minutes", "first": first, "last": last, "tz": TZ},
            )
    for site, channel_type, minutes in [("s5", "general", 5), ("s5", "feedIn", 5), ("s30", "general", 30)]:
        for first, last in WINDOWS:
            # The last local day of each window is still "forecast", to exercise forecast_intervals.
            conn.execute(
                """
                INSERT INTO prices (site_id, channel_type, interval_start, interval_end, nem_time, nem_date,
                                    duration_minutes, per_kwh, spot_per_kwh, renewables, descriptor, spike_status,
                                    interval_type, raw)
                SELECT %(site)s, %(type)s, s, s + d, s + d, ((s + d) AT TIME ZONE 'Australia/Brisbane')::date, %(minutes)s,
                       CASE %(type)s WHEN 'feedIn' THEN -1 ELSE 1 END * round(10 + (n * 7919 %% 4001) / 97.0, 5),
                       round((n * 104729 %% 3001) / 61.0, 5), round(10 + (n %% 800) / 10.0, 1), 'neutral', 'none',
                       CASE WHEN s >= (%(last)s || ' 00:00 ' || %(tz)s)::timestamptz - interval '1 day'
                            THEN 'ForecastInterval' ELSE 'ActualInterval' END,
                       '{}'
                FROM generate_series((%(first)s || ' 00:00 ' || %(tz)s)::timestamptz,
                                     (%(last)s || ' 00:00 ' || %(tz)s)::timestamptz - %(d)s::interval, %(d)s::interval) AS s,
                     LATERAL (SELECT %(d)s::interval AS d, (extract(epoch FROM s) / 300)::bigint AS n) AS k
                """,
                {"site": site, "type": channel_type, "minutes": minutes, "d": f"{minutes} minutes",
                 "first": first, "last": last, "tz": TZ},
            )


def check_aggregates(conn, expected_kind: str) -> None:
    migrate(conn, timezone=TZ)
    assert aggregate_kind(conn) == expected_kind
    seed(conn)
    assert refresh_aggregates(conn) == ["price_hourly", "usage_hourly", "cost_daily", "cost_monthly"]
    assert mismatched(conn) == []
    assert conn.execute("SELECT count(*) FROM cost_daily").fetchone()[0] == 4 * 17

    # DST: the local day is 25 hours when daylight saving ends and 23 when it starts.
    daily = {
        (site, channel, day): (day_start, intervals)
        for site, channel, day, day_start, intervals in conn.execute(
            "SELECT site_id, channel_identifier, day, day_start, intervals FROM cost_daily"
        ).fetchall()
    }
    for day, hours in [(dt.date(2025, 4, 6), 25), (dt.date(2025, 10, 5), 23), (dt.date(2025, 4, 5), 24)]:
        start, intervals = daily[("s5", "B1", day)]
        assert intervals == hours * 12
        assert daily[("s30", "E1", day)][1] == hours * 2
        assert daily[("s5", "B1", day + dt.timedelta(days=1))][0] - start == dt.timedelta(hours=hours)
        assert start == dt.datetime.combine(day, dt.time(0), SYDNEY)

    # Costs: the exact Decimal sum of the raw values (4-5 decimals), per local day, computed in Python.
    expected: dict[tuple[str, str, dt.date], Decimal] = defaultdict(Decimal)
    exported: dict[dt.date, Decimal] = defaultdict(Decimal)
    for site, channel, start, kwh, cost in conn.execute(
        "SELECT site_id, channel_identifier, interval_start, kwh::text, cost::text FROM usage"
    ).fetchall():
        day = start.astimezone(SYDNEY).date()
        expected[(site, channel, day)] += Decimal(cost)
        if channel == "B1":
            exported[day] -= Decimal(kwh)
    rows = conn.execute("SELECT site_id, channel_identifier, day, cost, kwh_exported FROM cost_daily").fetchall()
    assert {(site, channel, day): cost for site, channel, day, cost, _ in rows} == expected
    assert all(cost.as_tuple().exponent <= -4 for cost in expected.values())
    assert {day: kwh for _, channel, day, _, kwh in rows if channel == "B1"} == exported
    assert all(kwh > 0 for kwh in exported.values())
    site_cost = conn.execute(
        "SELECT sum(cost) FROM cost_monthly WHERE site_id = 's5' AND month = '2025-04-01'"
    ).fetchone()[0]
    april = sum(cost for (site, _, day), cost in expected.items() if site == "s5" and day.month == 4)
    assert site_cost == april  # imports' cost + feed-in credits, exact

    # A correction below the refreshed range: stale until its window is refreshed. The window given is
    # one 5-minute interval; the refresh must widen it to the whole local day (and month).
    corrected = dt.datetime(2025, 4, 6, 2, 30, tzinfo=SYDNEY)  # inside the repeated hour
    with conn.transaction():
        conn.execute(
            "UPDATE usage SET cost = cost + 0.00007, kwh = kwh + 0.0001, quality = 'billable'"
            " WHERE site_id = 's5' AND channel_identifier = 'E1' AND interval_start = %s",
            (corrected,),
        )
        conn.execute(
            "UPDATE prices SET per_kwh = 999.12345, interval_type = 'ActualInterval'"
            " WHERE site_id = 's5' AND channel_type = 'general' AND interval_start = %s",
            (corrected,),
        )
    assert mismatched(conn) == list(COMPARED)
    refresh_aggregates(conn, corrected, corrected + dt.timedelta(minutes=5))
    assert mismatched(conn) == []


def test_apache_materialized_views_equal_raw_aggregation(apache_db):
    with psycopg.connect(apache_db, autocommit=True) as conn:
        check_aggregates(conn, "materialized view")


def test_tsl_continuous_aggregates_equal_raw_aggregation_and_are_real_time(tsl_db):
    with psycopg.connect(tsl_db, autocommit=True) as conn:
        check_aggregates(conn, "continuous")
        # Real-time: rows after the last refreshed bucket show up before any refresh.
        conn.execute(
            """
            INSERT INTO usage (site_id, channel_identifier, channel_type, interval_start, interval_end, nem_time,
                               nem_date, duration_minutes, kwh, cost, quality, per_kwh, spot_per_kwh, renewables,
                               descriptor, spike_status, raw)
            VALUES ('s5', 'E1', 'general', '2025-12-01 10:00 Australia/Sydney', '2025-12-01 10:05 Australia/Sydney',
                    '2025-12-01 10:05 Australia/Sydney', '2025-12-01', 5, 0.5, 12.34567, 'billable', 24.69134, 8, 50,
                    'low', 'none', '{}')
            """
        )
        assert conn.execute("SELECT cost FROM cost_daily WHERE day = '2025-12-01'").fetchone() == (Decimal("12.34567"),)
        assert conn.execute(
            "SELECT cost FROM cost_monthly WHERE month = '2025-12-01' AND site_id = 's5'"
        ).fetchone() == (Decimal("12.34567"),)
        assert mismatched(conn) == []


def test_refresh_needs_an_idle_connection_and_migrated_database(apache_db):
    with psycopg.connect(apache_db) as conn, pytest.raises(AggregateError, match="run migrate"):
        refresh_aggregates(conn)
    migrate(apache_db, timezone=TZ)
    with psycopg.connect(apache_db) as conn:
        conn.execute("SELECT 1")  # opens a transaction (autocommit off)
        with pytest.raises(AggregateError, match="inside a transaction"):
            refresh_aggregates(conn)
        conn.rollback()
        assert refresh_aggregates(conn)[-1] == "cost_monthly"
        assert conn.autocommit is False


# --- forecasts ------------------------------------------------------------------------------------

LADDER = [0, 5, 15, 30, 60, 120, 240, 480, 720, 1440, 2880]


def test_forecast_horizon_buckets_and_keep_closest_rule(apache_db):
    migrate(apache_db, timezone=TZ)
    with psycopg.connect(apache_db, autocommit=True) as conn:
        cases = {
            dt.timedelta(minutes=-3): 0,
            dt.timedelta(0): 0,
            dt.timedelta(minutes=4, seconds=59): 0,
            dt.timedelta(minutes=5): 5,
            dt.timedelta(minutes=29): 15,
            dt.timedelta(minutes=59, seconds=59): 30,
            dt.timedelta(hours=1): 60,
            dt.timedelta(hours=7): 240,
            dt.timedelta(hours=23): 720,
            dt.timedelta(hours=47): 1440,
            dt.timedelta(days=3): 2880,
        }
        for lead, bucket in cases.items():
            assert conn.execute("SELECT amber_forecast_horizon(%s)", (lead,)).fetchone()[0] == bucket, lead
        # The ladder itself, step by step.
        for step in LADDER:
            assert conn.execute("SELECT amber_forecast_horizon(make_interval(mins => %s))", (step,)).fetchone()[0] == step

        start = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)

        def upsert(lead_minutes: int, per_kwh: str, start: dt.datetime = start) -> None:
            # A naive upsert (no WHERE): the table itself must refuse to go back in issue time.
            conn.execute(
                """
                INSERT INTO forecasts (site_id, channel_type, interval_start, interval_end, issued_at, nem_time,
                                       nem_date, duration_minutes, per_kwh, spot_per_kwh, renewables, descriptor,
                                       spike_status, raw)
                VALUES ('s', 'general', %(start)s, %(end)s, %(issued)s, %(end)s, '2025-06-01', 5, %(price)s, 5, 30,
                        'low', 'none', '{}')
                ON CONFLICT (site_id, channel_type, interval_start, horizon_minutes)
                DO UPDATE SET issued_at = EXCLUDED.issued_at, per_kwh = EXCLUDED.per_kwh
                """,
                {"start": start, "end": start + dt.timedelta(minutes=5),
                 "issued": start - dt.timedelta(minutes=lead_minutes), "price": Decimal(per_kwh)},
            )

        # Polls every minute from 3 hours before the interval: 180 forecasts.
        for lead in range(180, 0, -1):
            upsert(lead, f"{lead}.5")
        upsert(150, "777.5")  # a late-arriving older forecast must not replace the 2-hour bucket's row
        rows = conn.execute(
            "SELECT horizon_minutes, interval_start - issued_at, per_kwh FROM forecasts ORDER BY 1"
        ).fetchall()
        # One row per bucket, each the forecast issued closest to (but not under) the bucket's lead.
        assert [(h, lead) for h, lead, _ in rows] == [
            (h, dt.timedelta(minutes=max(h, 1))) for h in [0, 5, 15, 30, 60, 120]
        ]
        assert rows[-1][2] == Decimal("120.5")
        latest = conn.execute("SELECT horizon_minutes, per_kwh FROM forecast_latest").fetchall()
        assert latest == [(0, Decimal("1.5"))]

        # Scoring against the actual price.
        conn.execute(
            """
            INSERT INTO prices (site_id, channel_type, interval_start, interval_end, nem_time, nem_date,
                                duration_minutes, per_kwh, spot_per_kwh, renewables, descriptor, spike_status,
                                interval_type, raw)
            VALUES ('s', 'general', %(start)s, %(end)s, %(end)s, '2025-06-01', 5, 10, 4, 30, 'low', 'none',
                    'ActualInterval', '{}')
            """,
            {"start": start, "end": start + dt.timedelta(minutes=5)},
        )
        errors = conn.execute("SELECT horizon_minutes, error_per_kwh FROM forecast_accuracy ORDER BY 1").fetchall()
        assert errors == [(h, Decimal(f"{max(h, 1)}.5") - 10) for h in [0, 5, 15, 30, 60, 120]]

        # Retention on Apache: the loader's prune function drops old chunks, keeps recent ones.
        recent = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(days=2)
        upsert(60, "42.5", start=recent)
        assert conn.execute("SELECT amber_prune_forecasts()").fetchone()[0] >= 1
        assert conn.execute("SELECT interval_start, per_kwh FROM forecasts").fetchall() == [(recent, Decimal("42.5"))]


# --- writes into materialized buckets (TSL: the watermark hides them until the loader refreshes) -------


def test_tsl_writes_into_materialized_hour_day_and_month_are_refreshed_by_the_follow_loop(tsl_db):
    """The loader's own path after a write: FollowState.note_written(span) -> plan_cycle -> the
    RefreshAggregates it plans -> refresh_written (what Follower runs). PGlite cannot COPY, so the rows
    go in with INSERT/UPDATE ... RETURNING and their span is taken as the write path takes it."""
    now = dt.datetime(2025, 10, 6, 10, 40, 50, tzinfo=SYDNEY)  # the current hour, day and month are open
    hour = dt.datetime(2025, 10, 6, 10, 0, tzinfo=SYDNEY)
    with psycopg.connect(tsl_db, autocommit=True) as conn:
        migrate(conn, timezone=TZ)
        seed(conn)
        # Not yet arrived when the backfill materialized everything: the rest of the current hour.
        conn.execute("DELETE FROM prices WHERE interval_start >= %s", (hour + dt.timedelta(minutes=30),))
        conn.execute("DELETE FROM usage WHERE interval_start >= %s", (hour,))
        refresh_aggregates(conn)  # what a backfill ends with: the current hour, day and month materialized
        assert mismatched(conn) == []

        state = FollowState(aggregate_kind=CONTINUOUS)
        site = Site("s5", "4100000000", (), "Ausgrid", "active", dt.date(2024, 1, 1), None, 5, {})
        state.sites = {"s5": site}
        state.polls = {"s5": SitePolls(done=last_slot(now.astimezone(dt.UTC), 5), last_poll_at=now)}
        state.sites_due = state.usage_due = state.heal_due = state.prune_due = now + dt.timedelta(hours=1)

        def written(statement: str, params: dict) -> None:
            starts = [row[0] for row in conn.execute(statement + " RETURNING interval_start", params).fetchall()]
            assert starts, statement
            state.note_written((min(starts), max(starts) + dt.timedelta(microseconds=1)))

        # collect: the 10:30 price lands in the materialized 10:00 hour.
        written(
            """INSERT INTO prices (site_id, channel_type, interval_start, interval_end, nem_time, nem_date,
                                   duration_minutes, per_kwh, spot_per_kwh, renewables, descriptor, spike_status,
                                   interval_type, raw)
               VALUES ('s5', 'general', %(t)s, %(t)s + interval '5 minutes', %(t)s + interval '5 minutes',
                       '2025-10-06', 5, 31.9603, 9.1, 55.5, 'neutral', 'none', 'CurrentInterval', '{}')""",
            {"t": hour + dt.timedelta(minutes=30)},
        )
        # usage re-fetch: yesterday's estimate becomes billable at another cost (a materialized day).
        written(
            """UPDATE usage SET quality = 'billable', cost = cost - 1.5, kwh = kwh + 0.01
               WHERE site_id = 's5' AND channel_identifier = 'E1' AND quality = 'estimated'
                 AND interval_start >= %(day)s AND interval_start < %(day)s + interval '1 day'""",
            {"day": dt.datetime(2025, 10, 5, 0, 0, tzinfo=SYDNEY)},
        )
        # heal: today's missing usage from 10:00 (materialized day and month).
        written(
            """INSERT INTO usage (site_id, channel_identifier, channel_type, interval_start, interval_end, nem_time,
                                 nem_date, duration_minutes, kwh, cost, quality, per_kwh, spot_per_kwh, renewables,
                                 descriptor, spike_status, raw)
               SELECT 's5', 'E1', 'general', s, s + interval '5 minutes', s + interval '5 minutes', '2025-10-06', 5,
                      0.25, 7.12345, 'estimated', 28.4938, 8, 50, 'low', 'none', '{}'
               FROM generate_series(%(t)s::timestamptz, %(t)s::timestamptz + interval '35 minutes',
                                    interval '5 minutes') AS s""",
            {"t": hour},
        )
        # Real-time aggregation cannot show any of it: every bucket touched is below the watermark.
        assert mismatched(conn) == list(COMPARED)

        actions = plan_cycle(now.astimezone(dt.UTC), state)
        assert [type(a) for a in actions] == [RefreshAggregates]
        assert refresh_written(conn, actions[0].spans) == list(COMPARED)
        assert mismatched(conn) == []
        hourly = conn.execute(
            "SELECT intervals, avg_per_kwh FROM price_hourly WHERE site_id = 's5' AND channel_type = 'general'"
            " AND hour_start = %s",
            (hour,),
        ).fetchone()
        assert hourly[0] == 7
