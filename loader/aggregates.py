"""Refresh the four aggregates (sql/007_aggregates.sql) after the loader writes prices or usage.

    refresh_aggregates(conn, start=None, end=None) -> names refreshed, in dependency order
    refresh_written(conn, spans) -> names refreshed: exactly the buckets the written rows touch
    aggregate_kind(conn) -> 'continuous' | 'materialized view'
    recorded_timezone(conn) -> 'Australia/Sydney' | None   the zone of the local days, as migrate recorded it

Timescale license: continuous aggregates. `CALL refresh_continuous_aggregate` recomputes only the
buckets that lie wholly inside the window, so each window is first widened to whole local days
(whole local months for cost_monthly) in the time zone recorded in amber_settings. Real-time
aggregation serves rows from the hypertables only ABOVE the materialization watermark: a row written
into a bucket that is already materialized (the current hour after the last refresh, a revised day,
this month in cost_monthly) stays invisible until that bucket is refreshed, and the refresh policies
never reach some of them (cost_monthly's covers whole months only). So every writer refreshes the
buckets its rows touch, right after writing: refresh_written(conn, spans), a few narrow windows, cheap.
start=None/end=None means everything.

Apache build: plain materialized views, recomputed whole with REFRESH MATERIALIZED VIEW CONCURRENTLY
(readers are not blocked); windows are ignored. A household's history is small enough for that.

cost_monthly is built on cost_daily (a hierarchical continuous aggregate, or a view on a view), so
cost_daily is always refreshed first. Refreshing cannot run inside a transaction: the connection
must be idle; it is switched to autocommit for the call and back.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from runtime.database import one_row, scalar

__all__ = [
    "AGGREGATES",
    "Aggregate",
    "AggregateError",
    "Span",
    "aggregate_kind",
    "aggregate_kind_or_none",
    "merge_spans",
    "recorded_timezone",
    "refresh_aggregates",
    "refresh_written",
]

logger = logging.getLogger(__name__)

# [start, end) of the interval_start values some write touched (UTC, aware).
Span = tuple[dt.datetime, dt.datetime]

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
    if scalar(conn, 
        "SELECT EXISTS (SELECT FROM pg_matviews WHERE matviewname = %s AND schemaname = current_schema())", (name,)
    ):
        return MATERIALIZED_VIEW
    if scalar(conn, "SELECT to_regclass('timescaledb_information.continuous_aggregates')") is None:
        return None
    found = scalar(conn, 
        "SELECT EXISTS (SELECT FROM timescaledb_information.continuous_aggregates"
        " WHERE view_name = %s AND view_schema = current_schema())",
        (name,),
    )
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
    return _refresh(conn, [(start, end)])


def refresh_written(conn: psycopg.Connection, spans: Iterable[Span]) -> list[str]:
    """Refresh exactly the buckets that rows written in `spans` fall into (widened to whole local
    days, and months for cost_monthly); nothing when `spans` is empty."""
    spans = list(spans)
    return _refresh(conn, spans) if spans else []


def merge_spans(spans: Iterable[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Sorted, with overlapping or touching [start, end) spans joined (None: unbounded)."""
    ordered = sorted(spans, key=lambda span: (span[0] is not None, span[0] or dt.datetime.min.replace(tzinfo=dt.UTC)))
    merged: list[tuple[Any, Any]] = []
    for start, end in ordered:
        if merged:
            last_start, last_end = merged[-1]
            if last_end is None or (start is not None and start <= last_end):
                merged[-1] = (last_start, None if end is None or last_end is None else max(last_end, end))
                continue
        merged.append((start, end))
    return merged


def _refresh(conn: psycopg.Connection, spans: Sequence[tuple[dt.datetime | None, dt.datetime | None]]) -> list[str]:
    with _autocommit(conn):
        if aggregate_kind(conn) == CONTINUOUS:
            timezone = recorded_timezone(conn)
            if timezone is None:
                raise AggregateError("amber_settings has no timezone: run migrate first")
            # Three aggregates share the day unit: widen each span once per unit, not once per aggregate.
            by_unit = {
                unit: merge_spans(_widen(conn, unit, timezone, *span) for span in spans)
                for unit in dict.fromkeys(a.refresh_unit for a in AGGREGATES)
            }
            for aggregate in AGGREGATES:
                for window in by_unit[aggregate.refresh_unit]:
                    logger.debug("refreshing %s for %s .. %s", aggregate.name, *window)
                    conn.execute(
                        sql.SQL("CALL refresh_continuous_aggregate({}, {}::timestamptz, {}::timestamptz)").format(
                            sql.Literal(aggregate.name), sql.Literal(window[0]), sql.Literal(window[1])
                        )
                    )
        else:
            for aggregate in AGGREGATES:
                populated = scalar(conn, 
                    "SELECT ispopulated FROM pg_matviews WHERE matviewname = %s AND schemaname = current_schema()",
                    (aggregate.name,),
                )
                # CONCURRENTLY needs a populated view (one created WITH NO DATA is not).
                template = "REFRESH MATERIALIZED VIEW CONCURRENTLY {}" if populated else "REFRESH MATERIALIZED VIEW {}"
                conn.execute(sql.SQL(template).format(sql.Identifier(aggregate.name)))
    return [aggregate.name for aggregate in AGGREGATES]


def _widen(
    conn: psycopg.Connection, unit: str, timezone: str, start: dt.datetime | None, end: dt.datetime | None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    # Same time_bucket as the aggregates; the end rounds UP to the next local boundary (local wall-clock
    # arithmetic, so a 25-hour day still ends at midnight).
    start_bucket, end_bucket = one_row(
        conn,
        """
        SELECT time_bucket(%(unit)s::interval, %(start)s::timestamptz, %(tz)s),
               (time_bucket(%(unit)s::interval, %(end)s::timestamptz - INTERVAL '1 microsecond', %(tz)s)
                    AT TIME ZONE %(tz)s + %(unit)s::interval) AT TIME ZONE %(tz)s
        """,
        {"unit": unit, "start": start, "end": end, "tz": timezone},
    )
    return start_bucket, end_bucket


def recorded_timezone(conn: psycopg.Connection) -> str | None:
    """The IANA zone of the aggregates' local days, as migrate recorded it in amber_settings (AMBER_TIMEZONE
    when the aggregates were created); None before migrate created amber_settings or recorded a zone.
    The one reader of that setting: migrate warns when AMBER_TIMEZONE differs, doctor and `amber-home query`
    report it, the refresh widens its windows to these days (Grafana's dashboards read it in their SQL)."""
    if scalar(conn, "SELECT to_regclass('amber_settings')") is None:
        return None
    row = conn.execute("SELECT value FROM amber_settings WHERE key = 'timezone'").fetchone()
    return row[0] if row else None


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
