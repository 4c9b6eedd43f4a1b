"""What the loader stored, for the exporter's metrics: freshness per site, recent cost, and whether
TimescaleDB's background jobs do their work (exporter.jobs decides).

    reader = DatabaseMetricsReader(database_url, ZoneInfo("Australia/Sydney"))
    facts = reader.read(now)          # DatabaseFacts; raises on any database error

The poll loop calls `read` about once a minute (never a scrape) and keeps the last facts when it fails.
Each read opens a short read-only connection with a statement timeout, so a stuck database delays the
poll loop by seconds at most and a restarted one needs no reconnect logic.

Queries read the schema in sql/ (003 prices, 004 usage, 007 cost_daily, 012 backfill_status) and keep its units: timestamps,
cents. "Newest" walks each site's channels backwards on the tables' primary keys, so it touches a few
rows, not the whole (possibly compressed) history. Local days come from AMBER_TIMEZONE, the zone the
aggregates were built with (amber_settings).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Protocol
from zoneinfo import ZoneInfo

from amber.secret import Revealable
from exporter.jobs import judge, read_jobs
from exporter.snapshot import BackfillStatus, DatabaseFacts, JobStatus, frozen_map

APPLICATION_NAME = "amber-home exporter"
STATEMENT_TIMEOUT_MS = 5000
CONNECT_TIMEOUT_S = 5

# End of the newest ActualInterval per site (the newest over its channel types).
NEWEST_ACTUAL_PRICE_SQL = """
SELECT c.site_id, max(newest.interval_end) AS interval_end
FROM (SELECT DISTINCT site_id, type FROM channels) AS c
CROSS JOIN LATERAL (
    SELECT p.interval_end
    FROM prices AS p
    WHERE p.site_id = c.site_id AND p.channel_type = c.type AND p.interval_type = 'ActualInterval'
    ORDER BY p.interval_start DESC
    LIMIT 1
) AS newest
GROUP BY c.site_id
"""

# End of the newest usage interval per site (over its meter channels).
NEWEST_USAGE_SQL = """
SELECT c.site_id, max(newest.interval_end) AS interval_end
FROM channels AS c
CROSS JOIN LATERAL (
    SELECT u.interval_end
    FROM usage AS u
    WHERE u.site_id = c.site_id AND u.channel_identifier = c.identifier
    ORDER BY u.interval_start DESC
    LIMIT 1
) AS newest
GROUP BY c.site_id
"""

# Net cost (imports minus feed-in credits; cents) per site for yesterday and this month so far.
# day_start bounds the scan (an index and chunk bound); day picks the local dates.
COST_SQL = """
SELECT site_id,
       sum(cost) FILTER (WHERE day = %(yesterday)s) AS yesterday_cents,
       sum(cost) FILTER (WHERE day >= %(month_start)s AND day <= %(today)s) AS month_to_date_cents
FROM cost_daily
WHERE day_start >= %(since)s
GROUP BY site_id
"""


# Backfill progress per site (sql/012, written by loader/backfill.py); absent before that migration.
BACKFILL_SQL = """
SELECT site_id, done_days, remaining_days, eta_seconds, updated_at
FROM backfill_status
WHERE to_regclass('backfill_status') IS NOT NULL
"""


class _Connection(Protocol):
    def execute(self, query: str, params: Mapping[str, object] | None = None): ...


def local_days(now: float, zone: ZoneInfo) -> dict[str, object]:
    """Query parameters for COST_SQL: today, yesterday and the month's first day in `zone`, and `since`,
    the local midnight starting the earlier of yesterday and the month's first day (aware)."""
    today = dt.datetime.fromtimestamp(now, zone).date()
    yesterday = today - dt.timedelta(days=1)
    month_start = today.replace(day=1)
    first = min(yesterday, month_start)
    since = dt.datetime.combine(first, dt.time(), tzinfo=zone)
    return {"today": today, "yesterday": yesterday, "month_start": month_start, "since": since}


def _seconds(rows) -> dict[str, float]:
    return {site_id: when.timestamp() for site_id, when in rows if when is not None}


def read_facts(conn: _Connection, now: float, zone: ZoneInfo) -> DatabaseFacts:
    """Run the queries on an open connection (pure apart from the connection)."""
    prices = _seconds(conn.execute(NEWEST_ACTUAL_PRICE_SQL).fetchall())
    usage = _seconds(conn.execute(NEWEST_USAGE_SQL).fetchall())
    yesterday: dict[str, float] = {}
    month: dict[str, float] = {}
    for site_id, yesterday_cents, month_cents in conn.execute(COST_SQL, local_days(now, zone)).fetchall():
        if yesterday_cents is not None:
            yesterday[site_id] = float(yesterday_cents)
        if month_cents is not None:
            month[site_id] = float(month_cents)
    backfill = {
        site_id: BackfillStatus(done, remaining, eta, updated.timestamp())
        for site_id, done, remaining, eta, updated in conn.execute(BACKFILL_SQL).fetchall()
    }
    return DatabaseFacts(
        frozen_map(prices), frozen_map(usage), frozen_map(yesterday), frozen_map(month), now,
        jobs=read_job_statuses(conn, now), backfill=frozen_map(backfill),
    )


def read_job_statuses(conn: _Connection, now: float) -> tuple[JobStatus, ...]:
    at = dt.datetime.fromtimestamp(now, dt.UTC)
    return tuple(
        JobStatus(
            policy=job.policy,
            relation=job.relation,
            ok=judge(job, at).ok,
            last_work_done=job.last_work_done.timestamp() if job.last_work_done else None,
            failures=job.total_failures,
            known_failure=job.known_failure,
        )
        for job in read_jobs(conn)
    )


class DatabaseMetricsReader:
    """Reads DatabaseFacts through a fresh read-only connection per call."""

    def __init__(self, url: str | Revealable, zone: ZoneInfo) -> None:
        self._url = url  # str or Secret; revealed only inside runtime.database.connect
        self._zone = zone

    def read(self, now: float) -> DatabaseFacts:
        from runtime.database import (
            connect,  # psycopg is imported only when a database is configured
        )

        options = f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c default_transaction_read_only=on"
        with connect(
            self._url,
            application_name=APPLICATION_NAME,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_S,
            options=options,
        ) as conn:
            return read_facts(conn, now, self._zone)
