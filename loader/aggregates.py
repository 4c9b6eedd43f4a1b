"""Refresh the four aggregates (sql/007_aggregates.sql) after the loader writes prices or usage.

    refresh_aggregates(conn, start=None, end=None) -> names refreshed, in dependency order
    aggregate_kind(conn) -> 'continuous' | 'materialized view'

Timescale license: continuous aggregates. `CALL refresh_continuous_aggregate` recomputes only the
buckets that lie wholly inside the window, so the window is first widened to whole local days
(whole local months for cost_monthly) in the time zone recorded in amber_settings. Real-time
aggregation serves rows newer than the last refresh from the hypertables, but rows written BELOW
it (backfills, Amber's corrections) stay invisible until their window is refreshed: the loader
refreshes every window it writes; start=None/end=None means everything.

Apache build: plain materialized views, recomputed whole with REFRESH MATERIALIZED VIEW CONCURRENTLY
(readers are not blocked); start and end are ignored. A household's history is small enough for that.

cost_monthly is built on cost_daily (a hierarchical continuous aggregate, or a view on a view), so
cost_daily is always refreshed first. Refreshing cannot run inside a transaction: the connection
must be idle; it is switched to autocommit for the call and back.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

__all__ = ["AGGREGATES", "Aggregate", "AggregateError", "aggregate_kind", "aggregate_kind_or_none", "refresh_aggregates"]

logger = logging.getLogger(__name__)

CONTINUOUS = "continuous"
MATERIALIZED_VIEW = "materialized view"


class AggregateError(RuntimeError):
    """The aggregates are missing or cannot be refreshed on this connection."""


@dataclass(frozen=True)
class Aggregate:
    name: str
    # Refresh windows are widened to whole units of this (in the recorded time zone); hourly aggregates
    # use days, which always hold whole local hours.
    refresh_unit: str


# Dependency order: cost_monthly reads cost_daily.
AGGREGATES = (
    Aggregate("price_hourly", "1 day"),
    Aggregate("usage_hourly", "1 day"),
    Aggregate("cost_daily", "1 day"),
    Aggregate("cost_monthly", "1 month"),
)


def aggregate_kind_or_none(conn: psycopg.Connection) -> str | None:
    """'continuous', 'materialized view', or None when the aggregates do not exist (yet)."""
    name = AGGREGATES[0].name
    if conn.execute(
        "SELECT EXISTS (SELECT FROM pg_matviews WHERE matviewname = %s AND schemaname = current_schema())", (name,)
    ).fetchone()[0]:
        return MATERIALIZED_VIEW
    if conn.execute("SELECT to_regclass('timescaledb_information.continuous_aggregates')").fetchone()[0] is None:
        return None
    found = conn.execute(
        "SELECT EXISTS (SELECT FROM timescaledb_information.continuous_aggregates"
        " WHERE view_name = %s AND view_schema = current_schema())",
        (name,),
    ).fetchone()[0]
    return CONTINUOUS if found else None


def aggregate_kind(conn: psycopg.Connection) -> str:
    """'continuous' (timescale license) or 'materialized view' (Apache build)."""
    kind = aggregate_kind_or_none(conn)
    if kind is None:
        raise AggregateError("the aggregates do not exist in this database: run migrate first")
    return kind


def refresh_aggregates(
    conn: psycopg.Connection, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> list[str]:
    """Bring the aggregates up to date for [start, end) (None: unbounded); return the names refreshed."""
    with _autocommit(conn):
        if aggregate_kind(conn) == CONTINUOUS:
            timezone = _recorded_timezone(conn)
            for aggregate in AGGREGATES:
                window = _widen(conn, aggregate.refresh_unit, timezone, start, end)
                logger.debug("refreshing %s for %s .. %s", aggregate.name, *window)
                conn.execute(
                    sql.SQL("CALL refresh_continuous_aggregate({}, {}::timestamptz, {}::timestamptz)").format(
                        sql.Literal(aggregate.name), sql.Literal(window[0]), sql.Literal(window[1])
                    )
                )
        else:
            for aggregate in AGGREGATES:
                populated = conn.execute(
                    "SELECT ispopulated FROM pg_matviews WHERE matviewname = %s AND schemaname = current_schema()",
                    (aggregate.name,),
                ).fetchone()[0]
                # CONCURRENTLY needs a populated view (one created WITH NO DATA is not).
                template = "REFRESH MATERIALIZED VIEW CONCURRENTLY {}" if populated else "REFRESH MATERIALIZED VIEW {}"
                conn.execute(sql.SQL(template).format(sql.Identifier(aggregate.name)))
    return [aggregate.name for aggregate in AGGREGATES]


def _widen(
    conn: psycopg.Connection, unit: str, timezone: str, start: dt.datetime | None, end: dt.datetime | None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    # Same time_bucket as the aggregates; the end rounds UP to the next local boundary (local wall-clock
    # arithmetic, so a 25-hour day still ends at midnight).
    row = conn.execute(
        """
        SELECT time_bucket(%(unit)s::interval, %(start)s::timestamptz, %(tz)s),
               (time_bucket(%(unit)s::interval, %(end)s::timestamptz - INTERVAL '1 microsecond', %(tz)s)
                    AT TIME ZONE %(tz)s + %(unit)s::interval) AT TIME ZONE %(tz)s
        """,
        {"unit": unit, "start": start, "end": end, "tz": timezone},
    ).fetchone()
    return row[0], row[1]


def _recorded_timezone(conn: psycopg.Connection) -> str:
    row = conn.execute("SELECT value FROM amber_settings WHERE key = 'timezone'").fetchone()
    if row is None:
        raise AggregateError("amber_settings has no timezone: run migrate first")
    return row[0]


@contextmanager
def _autocommit(conn: psycopg.Connection) -> Iterator[None]:
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise AggregateError("refresh_aggregates cannot run inside a transaction: commit first")
    previous = conn.autocommit
    conn.autocommit = True
    try:
        yield
    finally:
        conn.autocommit = previous
