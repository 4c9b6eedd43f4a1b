"""TimescaleDB's background jobs (refresh policies, compression, retention): are they doing their work?

    jobs = read_jobs(conn)              # tuple[Job, ...] from amber_job_health() (sql/013); () before 013
    verdict = judge(job, now)           # Verdict(level 'ok' | 'warn' | 'fail', detail): the one rule
                                        # behind doctor's rows and the exporter's amber_timescaledb_job_ok

The rule (judge): a job fails when its last run failed with a real error, when a policy the stack relies
on (refresh, compression, retention) has done no work for STALE_SCHEDULES of its schedules (TimescaleDB
pushes a failing job back up to 5 schedules, so fewer would flap), or when it is overdue by more than a
schedule (the scheduler is not running it: out of background workers, or stopped). Two failures are
known and harmless, shown as such, never as a fault: 'portal' (PostgreSQL 17 + some TimescaleDB builds:
the run commits its work, then reports `cannot drop portal`; runs come later) and 'apache_license' (a
TSL-only job on the Apache build). A paused job is a warning.

It lives with the exporter, which turns the verdicts into amber_timescaledb_job_* metrics; the loader never
reads job health (the doctor, a tool, imports it too).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from runtime.database import scalar

__all__ = ["OVERDUE_GRACE", "STALE_SCHEDULES", "WATCHED_POLICIES", "Job", "Verdict", "judge", "read_jobs"]

WATCHED_POLICIES = ("refresh", "compression", "retention")
STALE_SCHEDULES = 6
OVERDUE_GRACE = dt.timedelta(minutes=15)
OK, WARN, FAIL = "ok", "warn", "fail"

_COLUMNS = (
    "job_id, policy, relation, schedule_interval, scheduled, last_run_status, last_work_done, next_start,"
    " total_failures, last_error, last_run_failure"
)


@dataclass(frozen=True)
class Job:
    job_id: int
    policy: str  # refresh, compression, retention, job_history, telemetry, or TimescaleDB's proc name
    relation: str  # '' for TimescaleDB's own jobs
    schedule_interval: dt.timedelta
    scheduled: bool
    last_run_status: str | None  # Success | Failed | None (never ran)
    last_work_done: dt.datetime | None
    next_start: dt.datetime | None
    total_failures: int
    last_error: str | None
    last_run_failure: str | None  # None | portal | apache_license | other

    @property
    def known_failure(self) -> bool:
        """The last run ended with an error known to be harmless (see the module docstring)."""
        return self.last_run_failure in ("portal", "apache_license")

    @property
    def name(self) -> str:
        return f"job {self.job_id} ({self.policy}{' ' + self.relation if self.relation else ''})"


@dataclass(frozen=True)
class Verdict:
    level: str  # ok | warn | fail
    detail: str

    @property
    def ok(self) -> bool:
        return self.level != FAIL


def read_jobs(conn) -> tuple[Job, ...]:
    """Every job of the connected database; () while migration 013 has not run."""
    if scalar(conn, "SELECT to_regprocedure('amber_job_health()')") is None:
        return ()
    rows = conn.execute(f"SELECT {_COLUMNS} FROM amber_job_health()").fetchall()
    return tuple(_job(row) for row in rows)


def _job(row) -> Job:
    """A Job from one row of _COLUMNS; total_failures is NULL for a job that never ran."""
    job_id, policy, relation, schedule, scheduled, status, work_done, next_start, failures, error, failure = row
    return Job(job_id, policy, relation, schedule, scheduled, status, work_done, next_start, failures or 0, error,
               failure)


def _ago(now: dt.datetime, when: dt.datetime) -> str:
    hours = (now - when).total_seconds() / 3600
    return f"{hours:.1f} h ago" if hours < 48 else f"{hours / 24:.1f} days ago"


def judge(job: Job, now: dt.datetime) -> Verdict:
    """Whether `job` is doing its work at `now`, and what to do about it (one line)."""
    error = (job.last_error or "").splitlines()[0] if job.last_error else ""
    if job.last_run_failure == "other":
        return Verdict(FAIL, f"{job.name}: its last run failed: {error}; see the TimescaleDB server log")
    if not job.scheduled:
        return Verdict(WARN, f"{job.name} is paused: SELECT alter_job({job.job_id}, scheduled => true) resumes it")
    schedule = job.schedule_interval
    done = job.last_work_done
    if job.policy in WATCHED_POLICIES and done is not None and now - done > STALE_SCHEDULES * schedule:
        return Verdict(FAIL, f"{job.name} last did its work {_ago(now, done)} (every {schedule})")
    if job.next_start is not None and now - job.next_start > schedule + OVERDUE_GRACE:
        return Verdict(
            FAIL,
            f"{job.name} is overdue since {_ago(now, job.next_start)}: the scheduler is not running it; "
            "raise timescaledb.max_background_workers (and max_worker_processes) and restart TimescaleDB",
        )
    if job.last_run_failure == "portal":
        return Verdict(
            WARN,
            f"{job.name} does its work but then reports 'cannot drop portal' (a known TimescaleDB/PostgreSQL 17 "
            "incompatibility): runs come later; the loader keeps the aggregates exact",
        )
    if job.last_run_failure == "apache_license":
        return Verdict(OK, f"{job.name}: not available in the Apache build of TimescaleDB (harmless)")
    if job.last_run_status is None:
        return Verdict(OK, f"{job.name}: not run yet, every {schedule}")
    return Verdict(OK, f"{job.name}: last work done {_ago(now, job.last_work_done) if job.last_work_done else 'never'}")
