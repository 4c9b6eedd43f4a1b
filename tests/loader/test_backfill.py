"""Backfill against the real simulator and a real TimescaleDB: the database must equal the simulator's
truth (every interval, once, final values), with the fewest requests and no 429."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from decimal import Decimal

import psycopg
import pytest

from amber.client import AmberClient
from amber.nemtime import nem_today
from amber.ratelimit import RateBudget
from loader.backfill import BackfillError, RetryPolicy, prepare_backfill, run_backfill
from loader.migrate import migrate
from loader.progress import LogProgress
from loader.windows import PRICES, USAGE, minimum_requests, stream_span
from simulator import SimulatorConfig, SimulatorServer

UTC = dt.UTC
NEM = dt.timezone(dt.timedelta(hours=10))
DAY = dt.timedelta(days=1)
# 12:07:30 NEM on Sunday 20 April 2025, two weeks after daylight saving ended in Sydney (6 April).
START = dt.datetime(2025, 4, 20, 12, 7, 30, tzinfo=NEM)
KEY = "psk_backfilltestkey0123456789abcdef"  # distinctive, so a leak into logs is caught


# -- helpers shared with test_backfill_faults.py ------------------------------------------------------


def sim_config(**overrides) -> SimulatorConfig:
    values = {
        "seed": 11,
        "sites": 2,
        "resolution": 30,
        "speed": 0.0,
        "start": START,
        "history_days": 20,
        "api_key": KEY,
        "rate_limit": 100_000,
    }
    values.update(overrides)
    return SimulatorConfig(**values)


def make_client(sim: SimulatorServer, **options) -> AmberClient:
    """A client for the simulator whose own retries pause for milliseconds, not seconds."""
    options.setdefault("backoff_base", 0.005)
    options.setdefault("backoff_cap", 0.02)
    options.setdefault("budget", RateBudget())
    return AmberClient(sim.api_key, sim.base_url, **options)


FAST_RETRY = RetryPolicy(retry_delay=0.01, db_retry_delay=0.05, db_retry_max_delay=0.5, db_retry_seconds=60)


def backfill(sim: SimulatorServer, url: str, client: AmberClient | None = None, **kwargs):
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("clock", sim.clock.now)
    own = client is None
    client = client or make_client(sim)
    try:
        return run_backfill(client, url, **kwargs)
    finally:
        if own:
            client.close()


@pytest.fixture
def db_url(apache_db):
    migrate(apache_db, timezone="Australia/Sydney")
    return apache_db


def nem_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), NEM).astimezone(UTC)


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)  # Python 3.11 reads the Z


def _num(value) -> Decimal:
    return Decimal(str(value))


def truth_prices(sim, site_id: str, first: dt.date, last: dt.date) -> list[tuple]:
    """Final prices of every interval on NEM days first..last that has ended by simulated now."""
    records = sim.truth.prices(site_id, nem_midnight(first), nem_midnight(last + DAY))
    return sorted(
        (
            r["channelType"],
            _utc(r["startTime"]) - dt.timedelta(seconds=1),
            _utc(r["endTime"]),
            dt.date.fromisoformat(r["date"]),
            _num(r["perKwh"]),
            _num(r["spotPerKwh"]),
            r["type"],
        )
        for r in records
    )


def db_prices(url: str, site_id: str, until: dt.datetime) -> list[tuple]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT channel_type, interval_start, interval_end, nem_date, per_kwh, spot_per_kwh, interval_type"
            " FROM prices WHERE site_id = %s AND interval_end <= %s ORDER BY 1, 2",
            (site_id, until),
        ).fetchall()
    return [(c, s, e, d, _num(p), _num(sp), t) for c, s, e, d, p, sp, t in rows]


def truth_usage(sim, site_id: str, first: dt.date, last: dt.date) -> list[tuple]:
    records = sim.truth.usage(site_id, nem_midnight(first), nem_midnight(last + DAY))
    return sorted(
        (
            r["channelIdentifier"],
            _utc(r["startTime"]) - dt.timedelta(seconds=1),
            dt.date.fromisoformat(r["date"]),
            _num(r["kwh"]),
            _num(r["cost"]),
            r["quality"],
            _num(r["perKwh"]),
        )
        for r in records
    )


def db_usage(url: str, site_id: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT channel_identifier, interval_start, nem_date, kwh, cost, quality, per_kwh"
            " FROM usage WHERE site_id = %s ORDER BY 1, 2",
            (site_id,),
        ).fetchall()
    return [(c, s, d, _num(k), _num(co), q, _num(p)) for c, s, d, k, co, q, p in rows]


def sim_site(sim, site_id: str):
    """The site as the API shows it now (amber.models.Site)."""
    with make_client(sim) as client:
        return next(s for s in client.sites() if s.id == site_id)


def assert_equals_truth(
    sim, url: str, site_ids=None, *, start_date: dt.date | None = None, through: dt.date | None = None
) -> None:
    """Every interval the simulator has for the backfilled days (up to NEM day `through`, if given) is
    in the database exactly once, with its final values, and nothing else is."""
    now = sim.clock.now()
    today = nem_today(now)
    until = now if through is None else min(now, nem_midnight(through + DAY))
    for site_id in site_ids or sim.site_ids:
        site = sim_site(sim, site_id)
        first, last = stream_span(site, PRICES, start_date=start_date, today=today)
        expected = truth_prices(sim, site_id, first, last if through is None else min(last, through))
        got = db_prices(url, site_id, until)
        assert got == expected, f"prices of {site_id} differ from the truth"
        assert len({(r[0], r[1]) for r in got}) == len(got)
        span = stream_span(site, USAGE, start_date=start_date, today=today)
        assert span, "the test should cover some usage"
        first, last = span
        expected = truth_usage(sim, site_id, first, last if through is None else min(last, through))
        got = [r for r in db_usage(url, site_id) if through is None or r[2] <= through]
        assert got == expected, f"usage of {site_id} differs from the truth"
        assert expected, "the test should cover some usage"


def expected_requests(sim, *, start_date=None, site_ids=None) -> int:
    today = nem_today(sim.clock.now())
    total = 0
    for site_id in site_ids or sim.site_ids:
        site = sim_site(sim, site_id)
        for stream in (PRICES, USAGE):
            span = stream_span(site, stream, start_date=start_date, today=today)
            if span:
                total += minimum_requests((span[1] - span[0]).days + 1)
    return total


def progress_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT site_id, stream, window_start, window_end, completed_at IS NOT NULL, rows"
            " FROM backfill_progress ORDER BY 1, 2, 3"
        ).fetchall()


def window_requests(sim) -> int:
    stats = sim.stats.requests
    return stats.get("prices", 0) + stats.get("usage", 0)


# -- tests --------------------------------------------------------------------------------------------


def test_backfill_of_two_sites_equals_truth_with_the_fewest_requests(db_url, caplog):
    caplog.set_level(logging.INFO)
    with SimulatorServer(sim_config()) as sim:
        # Three weeks of history (site 1 starts a few days later) for a site with E1/E2/B1 and one with E1/B1.
        result = backfill(sim, db_url)
        served = sim.stats.requests
        assert_equals_truth(sim, db_url)
        minimum = expected_requests(sim)
        assert result.requests == result.plan.requests == minimum == served["prices"] + served["usage"]
        assert served["sites"] == 1
        assert sim.stats.rate_limited == 0
        assert result.ok and result.windows_done == minimum
        assert result.refreshes == 1  # once at the end

        today = nem_today(sim.clock.now())
        rows = progress_rows(db_url)
        assert len(rows) == minimum
        for _site_id, stream, start, end, complete, count in rows:
            # Only windows that end before yesterday are final; the newest stay open for the next run.
            assert complete == (end <= today - 2 * DAY), (stream, start, end)
            assert count > 0
        assert sum(1 for r in rows if not r[4]) == result.windows_open >= 2 * len(sim.site_ids) - 1

        with psycopg.connect(db_url) as conn:
            sites = conn.execute("SELECT site_id FROM sites ORDER BY 1").fetchall()
            channels = conn.execute("SELECT site_id, identifier FROM channels ORDER BY 1, 2").fetchall()
            cost_days = conn.execute("SELECT count(*) FROM cost_daily").fetchone()[0]
            status = conn.execute(
                "SELECT site_id, done_days > 0, remaining_days, eta_seconds, finished_at IS NOT NULL"
                " FROM backfill_status ORDER BY 1"
            ).fetchall()
        # The monitoring row of each site (sql/012): everything loaded, finished.
        assert status == [(site_id, True, 0, 0.0, True) for site_id in sorted(sim.site_ids)]
        assert [s for (s,) in sites] == sorted(sim.site_ids)
        assert len(channels) == 5  # E1, E2, B1 + E1, B1
        assert cost_days > 0  # the aggregates were refreshed
    assert KEY not in caplog.text


def test_backfill_of_a_five_minute_site_equals_truth(db_url):
    with SimulatorServer(sim_config(sites=1, resolution=5, history_days=10)) as sim:
        result = backfill(sim, db_url)
        assert_equals_truth(sim, db_url)
        assert result.requests == expected_requests(sim) == window_requests(sim)
        with psycopg.connect(db_url) as conn:
            durations = conn.execute("SELECT DISTINCT duration_minutes FROM prices").fetchall()
            per_day = conn.execute(
                "SELECT count(*) FROM prices WHERE channel_type = 'general' AND nem_date = %s",
                (START.date() - 3 * DAY,),
            ).fetchone()[0]
        assert durations == [(5,)]
        assert per_day == 288


def test_rerun_fetches_only_open_windows_and_changes_nothing(db_url):
    with SimulatorServer(sim_config(sites=1)) as sim:
        first = backfill(sim, db_url)
        before = (db_prices(db_url, sim.site_ids[0], sim.clock.now()), db_usage(db_url, sim.site_ids[0]))
        fetched = window_requests(sim)

        again = backfill(sim, db_url)
        # Only the windows left open are fetched again; the completed ones are skipped.
        assert again.requests == first.windows_open == window_requests(sim) - fetched
        assert again.windows_done == first.windows_open
        assert (db_prices(db_url, sim.site_ids[0], sim.clock.now()), db_usage(db_url, sim.site_ids[0])) == before

        # Three days later the next run continues from the first open window, on the same grid.
        sim.clock.advance(3 * DAY)
        fetched = window_requests(sim)
        later = backfill(sim, db_url)
        assert window_requests(sim) - fetched == later.requests <= 4
        assert_equals_truth(sim, db_url)
        starts = [(stream, start) for _, stream, start, *_ in progress_rows(db_url)]
        assert len(starts) == len(set(starts))
        windows = [(r[1], r[2], r[3]) for r in progress_rows(db_url)]
        for stream in (PRICES, USAGE):
            mine = sorted((a, b) for s, a, b in windows if s == stream)
            assert all(b + DAY == c for (_, b), (c, _) in itertools.pairwise(mine))  # no gap or overlap


def test_dst_change_day_and_nem_midnight_intervals_land_correctly(db_url):
    # History from 31 March: covers Sunday 6 April 2025, when Sydney's day had 25 hours.
    with SimulatorServer(sim_config(sites=1, resolution=5, history_days=20)) as sim:
        backfill(sim, db_url)
        assert_equals_truth(sim, db_url)
        site_id = sim.site_ids[0]
        with psycopg.connect(db_url) as conn:
            # Each window boundary: the interval ending 00:00 NEM belongs to the previous NEM date, once.
            boundaries = conn.execute(
                "SELECT window_start FROM backfill_progress WHERE stream = 'prices' AND window_start > %s",
                (sim_site(sim, site_id).active_from,),
            ).fetchall()
            assert boundaries
            for (day,) in boundaries:
                rows = conn.execute(
                    "SELECT nem_date, interval_end FROM prices"
                    " WHERE site_id = %s AND channel_type = 'general' AND interval_start = %s",
                    (site_id, nem_midnight(day) - dt.timedelta(minutes=5)),
                ).fetchall()
                assert rows == [(day - DAY, nem_midnight(day))]
            # Local (Sydney) days from the refreshed aggregates: 25 hours on 6 April, 24 otherwise.
            intervals = dict(
                conn.execute(
                    "SELECT day, intervals FROM cost_daily WHERE site_id = %s AND channel_identifier = 'E1'"
                    " AND day BETWEEN '2025-04-05' AND '2025-04-07' ORDER BY day",
                    (site_id,),
                ).fetchall()
            )
            hours = dict(
                conn.execute(
                    "SELECT (hour_start AT TIME ZONE 'Australia/Sydney')::date, count(*) FROM price_hourly"
                    " WHERE site_id = %s AND channel_type = 'general'"
                    " AND hour_start >= '2025-04-05 00:00+11' AND hour_start < '2025-04-08 00:00+10' GROUP BY 1",
                    (site_id,),
                ).fetchall()
            )
        assert intervals == {dt.date(2025, 4, 5): 48, dt.date(2025, 4, 6): 50, dt.date(2025, 4, 7): 48}
        assert hours == {dt.date(2025, 4, 5): 24, dt.date(2025, 4, 6): 25, dt.date(2025, 4, 7): 24}


def test_closed_site_is_loaded_up_to_its_closing_day(db_url):
    with SimulatorServer(sim_config(sites=2, closed_sites=1, history_days=30)) as sim:
        closed = sim_site(sim, sim.site_ids[1])
        assert closed.status == "closed" and closed.closed_on is not None
        result = backfill(sim, db_url)
        assert_equals_truth(sim, db_url)
        assert result.requests == expected_requests(sim)
        with psycopg.connect(db_url) as conn:
            last = conn.execute(
                "SELECT max(nem_date) FROM prices WHERE site_id = %s UNION ALL"
                " SELECT max(nem_date) FROM usage WHERE site_id = %s",
                (closed.id, closed.id),
            ).fetchall()
            open_windows = conn.execute(
                "SELECT count(*) FROM backfill_progress WHERE site_id = %s AND completed_at IS NULL", (closed.id,)
            ).fetchone()[0]
        assert last == [(closed.closed_on,), (closed.closed_on,)]
        if closed.closed_on <= nem_today(sim.clock.now()) - 2 * DAY:
            assert open_windows == 0  # nothing left to do for it on later runs


def test_channel_added_mid_history(db_url):
    with SimulatorServer(sim_config(sites=2)) as sim:
        site_id = sim.site_ids[1]  # E1 and B1 only
        added = START.date() - 8 * DAY
        sim.add_channel(site_id, "E2", "controlledLoad", added)
        backfill(sim, db_url)
        assert_equals_truth(sim, db_url)
        with psycopg.connect(db_url) as conn:
            first = conn.execute(
                "SELECT min(nem_date) FROM usage WHERE site_id = %s AND channel_identifier = 'E2'"
                " UNION ALL SELECT min(nem_date) FROM prices WHERE site_id = %s AND channel_type = 'controlledLoad'",
                (site_id, site_id),
            ).fetchall()
            channel = conn.execute(
                "SELECT type FROM channels WHERE site_id = %s AND identifier = 'E2'", (site_id,)
            ).fetchone()
        assert first == [(added,), (added,)]
        assert channel == ("controlledLoad",)


def test_start_date_and_site_selection(db_url):
    with SimulatorServer(sim_config(sites=2)) as sim:
        site_id = sim.site_ids[1]
        start = START.date() - 9 * DAY
        result = backfill(sim, db_url, start_date=start, site_ids=[site_id])
        assert result.requests == expected_requests(sim, start_date=start, site_ids=[site_id])
        assert_equals_truth(sim, db_url, [site_id], start_date=start)
        with psycopg.connect(db_url) as conn:
            assert conn.execute("SELECT DISTINCT site_id FROM prices").fetchall() == [(site_id,)]

        with pytest.raises(BackfillError, match=r"not on this Amber account.*AMBER_SITE_ID or --site"):
            backfill(sim, db_url, site_ids=["01NOSUCHSITE"])


def test_dry_run_plan_reads_progress_and_calls_only_sites(db_url):
    with SimulatorServer(sim_config(sites=1)) as sim:
        with make_client(sim) as client:
            plan = prepare_backfill(client, db_url, clock=sim.clock.now)
        assert sim.stats.requests == {"sites": 1}
        assert plan.requests == expected_requests(sim)
        result = backfill(sim, db_url)
        with make_client(sim) as client:
            again = prepare_backfill(client, db_url, clock=sim.clock.now)
        assert again.requests == result.windows_open
        # An unreachable database plans as if nothing was loaded.
        with make_client(sim) as client:
            cold = prepare_backfill(client, "postgresql://nobody@127.0.0.1:1/none", clock=sim.clock.now)
        assert cold.requests == plan.requests


def test_log_progress_writes_one_line_per_window_and_a_summary(db_url, caplog):
    caplog.set_level(logging.INFO, logger="loader.backfill")
    with SimulatorServer(sim_config(sites=1, history_days=10)) as sim:
        result = backfill(sim, db_url, progress=LogProgress())
    lines = [r.getMessage() for r in caplog.records if r.name == "loader.backfill"]
    assert lines[0].startswith(f"backfill plan: {result.plan.requests} requests")
    window_lines = [line for line in lines if line.startswith("backfill ") and "/" in line.split(":")[0]]
    assert len(window_lines) == result.plan.requests
    assert window_lines[-1].startswith(f"backfill {result.plan.requests}/{result.plan.requests}: site ")
    assert lines[-1].startswith(f"backfill finished: {result.requests} requests")


class _Count:
    """Progress reporter counting committed windows."""

    def __init__(self):
        self.windows = 0

    def start(self, plan):
        pass

    def window_done(self, event):
        self.windows += 1

    def finish(self, result):
        pass

    def close(self):
        pass


@pytest.mark.parametrize("rate_limit", [100_000, 4], ids=["unlimited", "paced"])
def test_aggregates_are_refreshed_every_n_windows_over_the_written_range(db_url, monkeypatch, rate_limit):
    import loader.backfill as backfill_module

    calls = []
    count = _Count()
    real = backfill_module.refresh_written

    def refresh(conn, spans):
        calls.append((count.windows, min(s for s, _ in spans), max(e for _, e in spans)))
        return real(conn, spans)

    monkeypatch.setattr(backfill_module, "refresh_written", refresh)
    # A window long enough that /sites + 3 windows always finish inside it, even on a loaded machine.
    config = sim_config(sites=1, history_days=40, rate_limit=rate_limit, rate_window_seconds=5)
    with SimulatorServer(config) as sim, make_client(sim, budget=RateBudget(reserve=0)) as client:
        result = backfill(sim, db_url, client, refresh_every=3, progress=count)
    windows = result.plan.windows
    assert result.refreshes == len(calls) and calls[-1][0] == len(windows)
    # Each refresh covers exactly the rows written since the previous one (TSL refreshes their buckets): from
    # the first interval of the first NEM day to the last interval of the last, after 3 to 6 windows:
    # early while the rate limit makes the backfill wait anyway, else after 6.
    done = 0
    sizes = []
    for upto, start, end in calls:
        batch = windows[done:upto]
        assert start == nem_midnight(min(w.start for w in batch))
        last_day = max(w.end for w in batch)  # whole, or up to now when it is today
        assert nem_midnight(last_day) < end <= nem_midnight(last_day + DAY) - dt.timedelta(minutes=5, microseconds=-1)
        sizes.append(len(batch))
        done = upto
    assert all(3 <= n <= 6 for n in sizes[:-1]) and sizes[-1] <= 6
    if rate_limit == 4:
        assert sizes[0] == 3  # /sites + 3 windows use up the budget: refresh while waiting
    else:
        assert set(sizes[:-1]) == {6}  # never waiting: refresh after twice the interval


# -- the command line ---------------------------------------------------------------------------------


def run_cli(args: list[str], environ: dict, capsys) -> tuple[int, str, str]:
    from amber_home.cli import main

    code = main(["backfill", *args], environ)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_errors_are_one_line_naming_the_fix(capsys):
    from runtime.client import NO_KEY

    environ = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "AMBER_API_KEY": KEY}
    code, out, err = run_cli(["--from", "2025-13-01"], environ, capsys)
    assert (code, out, err) == (2, "", "error: --from '2025-13-01' is not a date: use YYYY-MM-DD, e.g. 2024-07-01\n")
    code, _, err = run_cli(["--from", "2999-01-01"], environ, capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: --from 2999-01-01 is in the future")
    code, _, err = run_cli(["--site", "no such site"], environ, capsys)
    assert code == 2 and err.startswith("error: --site no such site: not a site ID")
    code, _, err = run_cli([], {"DATABASE_URL": environ["DATABASE_URL"]}, capsys)
    assert code == 2 and err.startswith(f"error: {NO_KEY}") and err.count("\n") == 1, err
    for _, _, text in (run_cli(["--from", "x"], environ, capsys),):
        assert KEY not in text


def test_cli_dry_run_prints_the_plan_and_calls_only_sites(apache_db, capsys):
    with SimulatorServer(sim_config(sites=2, start=None, speed=1.0, rate_limit=50)) as sim:
        environ = {"DATABASE_URL": apache_db, "AMBER_API_KEY": sim.api_key, "AMBER_API_BASE_URL": sim.base_url}
        code, out, err = run_cli(["--dry-run", "--site", sim.site_ids[0]], environ, capsys)
        assert code == 0, err
        assert sim.stats.requests == {"sites": 1}
        total = expected_requests(sim, site_ids=[sim.site_ids[0]])
    lines = out.splitlines()
    assert lines[0].startswith("Backfill plan on ")
    assert lines[1] == f"  site {sim.site_ids[0]}"
    assert lines[-1].startswith(f"Total: {total} requests; at 38 requests per 300 s (12 kept for the exporter)")
    assert sum(1 for line in lines if line.startswith("      ")) == total  # one line per window
    with psycopg.connect(apache_db) as conn:  # nothing written, not even migrated
        assert conn.execute("SELECT to_regclass('backfill_progress')").fetchone() == (None,)
    assert KEY not in out + err


def test_cli_unknown_site_is_one_line(apache_db, capsys):
    with SimulatorServer(sim_config(sites=1, start=None, speed=1.0)) as sim:
        environ = {"DATABASE_URL": apache_db, "AMBER_API_KEY": sim.api_key, "AMBER_API_BASE_URL": sim.base_url}
        code, _, err = run_cli(["--site", "01NOSUCHSITE"], environ, capsys)
    assert code == 1
    assert err.endswith("check AMBER_SITE_ID or --site\n") and err.startswith("error: site 01NOSUCHSITE is not on")


# -- the progress display (pure) ----------------------------------------------------------------------


def test_eta_counts_the_rate_limit_not_just_the_speed():
    from loader.progress import RateState, eta_seconds, format_duration

    amber = RateState(limit=50, window=300, reserve=12, remaining=20, reset_in=100)
    # 8 requests fit in what the window still allows (20 - 12), then 38 per 300 s.
    assert eta_seconds(8, amber, 0.5) == 4.0
    assert eta_seconds(100, amber, 0.5) == 100 + 2 * 300 + 16 * 0.5  # 92 more: 38 + 38 + 16
    assert eta_seconds(0, amber, 0.5) == 0.0
    # Slow work dominates a generous limit.
    assert eta_seconds(100, RateState(limit=10_000, window=1, reserve=0, remaining=10_000, reset_in=1), 2.0) == 200
    # While a 429 blocks, nothing is available until it ends.
    blocked = RateState(limit=50, window=300, reserve=0, remaining=40, reset_in=30, blocked_for=120)
    assert eta_seconds(10, blocked, 0.1) == 120 + 10 * 0.1
    assert [format_duration(s) for s in (0, 59.4, 61, 3600 * 2 + 60 * 5)] == ["0 s", "59 s", "1 min 01 s", "2 h 05 min"]


def test_progress_is_a_bar_on_a_terminal_and_log_lines_elsewhere(monkeypatch):
    import io
    import re

    from loader.progress import LogProgress, RateState, RichProgress, WindowEvent, make_progress
    from loader.windows import Plan, Window

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert isinstance(make_progress(io.StringIO()), LogProgress)
    monkeypatch.setenv("COLUMNS", "200")
    stream = Terminal()
    progress = make_progress(stream)
    assert isinstance(progress, RichProgress)
    window = Window("S1", PRICES, dt.date(2025, 1, 1), dt.date(2025, 1, 7))
    plan = Plan(dt.date(2025, 1, 20), 7, (window,) * 4)
    rate = RateState(limit=50, window=300, reserve=12, remaining=0, reset_in=200)
    progress.start(plan)
    progress.window_done(WindowEvent(window, 1008, 1000, True, 1, 4, 1000, 1.0, 0.5, rate))
    progress._progress.refresh()
    progress.close()
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())
    assert "backfill plan: 4 requests" in text
    assert "1/4 requests" in text and "1,000 rows" in text
    assert "ETA 3 min 21 s" in text  # 3 requests after the reset in 200 s, not 1.5 s of work
