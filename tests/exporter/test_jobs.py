"""exporter.jobs: the rule (pure), and reading amber_job_health() (sql/013) on both tiers: the Apache build's
real scheduler running a job that really fails, and, on the TSL tier (its jobs never run: PGlite has no
background workers), job statistics written where TimescaleDB writes them, so the views report exactly
what a real scheduler's runs would leave."""

from __future__ import annotations

import datetime as dt
import json
import time

import psycopg

from exporter.db_metrics import read_job_statuses
from exporter.jobs import STALE_SCHEDULES, Job, judge, read_jobs
from loader.migrate import migrate
from maintenance.doctor import check_jobs

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
PORTAL = 'cannot drop portal "" while it is being set up'


def job(**changes) -> Job:
    values = dict(
        job_id=1001, policy="refresh", relation="price_hourly", schedule_interval=HOUR, scheduled=True,
        last_run_status="Success", last_work_done=NOW - HOUR, next_start=NOW + HOUR / 2, total_failures=0,
        last_error=None, last_run_failure=None,
    )  # fmt: skip
    values.update(changes)
    return Job(**values)


# -- the rule ------------------------------------------------------------------------------------------


def test_a_job_doing_its_work_is_ok():
    verdict = judge(job(), NOW)
    assert verdict.level == "ok" and verdict.ok and "1.0 h ago" in verdict.detail


def test_a_real_error_fails_with_its_message():
    verdict = judge(job(last_run_status="Failed", last_run_failure="other", last_error="out of memory\nDETAIL"), NOW)
    assert verdict.level == "fail" and "out of memory" in verdict.detail and "\n" not in verdict.detail


def test_the_portal_error_is_a_warning_that_says_the_work_is_done():
    verdict = judge(job(last_run_status="Failed", last_run_failure="portal", last_error=PORTAL), NOW)
    assert verdict.level == "warn" and verdict.ok and "does its work" in verdict.detail


def test_a_tsl_job_on_the_apache_build_is_harmless():
    verdict = judge(job(policy="job_history", relation="", last_run_failure="apache_license"), NOW)
    assert verdict.level == "ok" and "Apache build" in verdict.detail


def test_a_watched_policy_without_work_for_six_schedules_fails_even_with_only_portal_errors():
    stale = NOW - STALE_SCHEDULES * HOUR - dt.timedelta(minutes=1)
    assert judge(job(last_work_done=NOW - STALE_SCHEDULES * HOUR), NOW).ok
    verdict = judge(job(last_work_done=stale, last_run_failure="portal"), NOW)
    assert verdict.level == "fail" and "last did its work 6.0 h ago" in verdict.detail
    # TimescaleDB's own jobs are not watched for staleness.
    assert judge(job(policy="job_history", relation="", last_work_done=stale), NOW).ok


def test_an_overdue_job_fails_and_names_the_worker_settings():
    verdict = judge(job(next_start=NOW - HOUR - dt.timedelta(minutes=16)), NOW)
    assert verdict.level == "fail" and "max_background_workers" in verdict.detail
    assert judge(job(next_start=NOW - HOUR - dt.timedelta(minutes=14)), NOW).ok


def test_a_paused_job_is_a_warning_with_the_fix():
    verdict = judge(job(scheduled=False), NOW)
    assert verdict.level == "warn" and "alter_job(1001, scheduled => true)" in verdict.detail


# -- the Apache tier: a real scheduler, a real failing job -------------------------------------------------


def test_apache_job_history_job_really_fails_and_is_read_as_harmless(apache_db):
    migrate(apache_db, timezone="Australia/Sydney", reader_password="reader-pw", writer_password="writer-pw")
    reader_url = apache_db.replace("postgres@", "amber_reader:reader-pw@")
    with psycopg.connect(apache_db.replace("postgres@", "amber_writer:writer-pw@"), autocommit=True) as conn:
        assert read_jobs(conn)  # doctor in the loader's container runs as amber_writer
    deadline = time.monotonic() + 60
    with psycopg.connect(reader_url, autocommit=True) as conn:  # the exporter's and Grafana's role
        while True:
            jobs = {j.policy: j for j in read_jobs(conn)}
            if jobs["job_history"].last_run_status is not None or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        history = jobs["job_history"]
        assert (history.last_run_status, history.last_run_failure) == ("Failed", "apache_license")
        assert "apache" in history.last_error and history.total_failures >= 1
        assert judge(history, dt.datetime.now(dt.UTC)).ok
        statuses = read_job_statuses(conn, time.time())
        assert [(s.policy, s.ok, s.known_failure) for s in statuses] == [("job_history", True, True)]
        assert [(c.status, c.detail.split(":")[0]) for c in check_jobs(conn)] == [("ok", "1 job(s) doing their work")]


def test_before_migration_013_there_are_no_jobs_to_read(apache_db):
    with psycopg.connect(apache_db, autocommit=True) as conn:
        assert read_jobs(conn) == () and check_jobs(conn) == []


# -- the TSL tier: the states real runs leave, written where TimescaleDB writes them ---------------------


def record_run(conn, relation: str, *, finished: dt.datetime, error: tuple[str, str] | None, succeeded_at=None) -> None:
    """What TimescaleDB's scheduler writes after a run of the job working on `relation`: its statistics
    (bgw_job_stat) and, for a failure, the job history row that job_errors reads."""
    job_id = conn.execute("SELECT job_id FROM amber_job_health() WHERE relation = %s", (relation,)).fetchone()[0]
    started = finished - dt.timedelta(seconds=2)
    failed = error is not None
    conn.execute(
        """INSERT INTO _timescaledb_internal.bgw_job_stat (job_id, last_start, last_finish, next_start,
               last_successful_finish, last_run_success, total_runs, total_duration, total_duration_failures,
               total_successes, total_failures, total_crashes, consecutive_failures, consecutive_crashes, flags)
           VALUES (%s, %s, %s, %s, %s, %s, 5, '10 s', '0 s', %s, %s, 0, %s, 0, 0)""",
        (job_id, started, finished, finished + HOUR, succeeded_at or ("-infinity" if failed else finished), not failed,
         4 if failed else 5, 1 if failed else 0, 1 if failed else 0),
    )  # fmt: skip
    if failed:
        code, message = error
        data = {"job": {"proc_schema": "_timescaledb_functions", "proc_name": "policy_job"},
                "error_data": {"sqlerrcode": code, "message": message}}  # fmt: skip
        conn.execute(
            "INSERT INTO _timescaledb_internal.bgw_job_stat_history (job_id, pid, execution_start, execution_finish,"
            " succeeded, data) VALUES (%s, 4242, %s, %s, false, %s)",
            (job_id, started, finished, json.dumps(data)),
        )


def test_tsl_jobs_failing_stale_and_with_the_known_error_are_each_shown_for_what_they_are(tsl_db):
    now = dt.datetime.now(dt.UTC)
    with psycopg.connect(tsl_db, autocommit=True) as conn:
        migrate(conn, timezone="Australia/Sydney")
        record_run(conn, "price_hourly", finished=now - dt.timedelta(minutes=10), error=("24000", PORTAL))
        record_run(conn, "cost_daily", finished=now - dt.timedelta(minutes=20), error=("53200", "out of memory"),
                   succeeded_at=now - 2 * HOUR)  # fmt: skip
        record_run(conn, "usage_hourly", finished=now - dt.timedelta(minutes=5), error=None)
        record_run(conn, "prices", finished=now - 4 * dt.timedelta(days=1), error=None)  # compression, every 12 h
        jobs = {j.relation: j for j in read_jobs(conn)}
        # The aggregates' names on a version whose job views name materialization hypertables in job_stats.
        assert {r for r, j in jobs.items() if j.policy == "refresh"} == {"price_hourly", "usage_hourly", "cost_daily", "cost_monthly"}
        assert jobs["price_hourly"].last_run_failure == "portal"
        assert jobs["price_hourly"].last_work_done == now - dt.timedelta(minutes=10)  # the portal run did its work
        assert jobs["cost_daily"].last_work_done == now - 2 * HOUR
        levels = {relation: judge(j, now).level for relation, j in jobs.items()}
        assert levels == {"price_hourly": "warn", "cost_daily": "fail", "usage_hourly": "ok", "prices": "fail",
                          "cost_monthly": "ok", "usage": "ok", "forecasts": "ok", "": "ok"}  # fmt: skip
        statuses = {s.relation: s for s in read_job_statuses(conn, now.timestamp())}
        assert sorted(r for r, s in statuses.items() if not s.ok) == ["cost_daily", "prices"]
        assert statuses["price_hourly"].known_failure and statuses["price_hourly"].ok
        assert statuses["cost_daily"].failures == 1
        rows = check_jobs(conn)
        assert sorted(c.status for c in rows) == ["fail", "fail", "warn"]
        assert any("out of memory" in c.detail for c in rows)
        assert any("compression prices" in c.detail and "4.0 days ago" in c.detail for c in rows)
