"""`amber-home query compare`: Amber's true bill beside the comparison plan (sql/015_compare.sql).

    compare(conn, n, zone=, until=, site=, by="month")  -> Result
        by="month"   the last n local months (compare_monthly), savings to date in the footer
        by="period"  the last n billing periods (compare_periods)
        by="hour"    per local hour of day over the last n days (compare_hourly): where Amber won or lost

saved = plan - Amber, in exact cents: positive when Amber was cheaper than the plan.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import psycopg

from loader.query import QueryError, Result, _check_site, _site_column, _total, last_days
from loader.table_format import Column, Table

__all__ = ["BY", "compare"]

BY = ("month", "period", "hour")

_SQL = {
    "month": """
        SELECT month, site_id, days_compared, days_missing, amber_cents, plan_cents, saved_cents
        FROM compare_monthly
        WHERE month <= %(until)s AND (%(site)s::text IS NULL OR site_id = %(site)s)
        ORDER BY site_id, month DESC LIMIT %(n)s""",
    "period": """
        SELECT period_start, site_id, days_compared, days_missing, amber_cents, plan_cents, saved_cents
        FROM compare_periods
        WHERE period_start <= %(until)s AND (%(site)s::text IS NULL OR site_id = %(site)s)
        ORDER BY site_id, period_start DESC LIMIT %(n)s""",
    # Energy only (fixed charges are per day); hours_won counts the hours where Amber was cheaper.
    "hour": """
        SELECT hour, site_id, count(saved_cents) AS hours, count(*) FILTER (WHERE saved_cents > 0) AS hours_won,
               sum(amber_cents) FILTER (WHERE saved_cents IS NOT NULL), sum(plan_cents), sum(saved_cents)
        FROM compare_hourly
        WHERE day >= %(first)s AND day <= %(until)s AND (%(site)s::text IS NULL OR site_id = %(site)s)
        GROUP BY site_id, hour ORDER BY site_id, hour""",
}


def compare(
    conn: psycopg.Connection, n: int, *, zone: ZoneInfo, until: dt.date, site: str | None = None, by: str = "month"
) -> Result:
    if conn.execute("SELECT to_regclass('compare_daily')").fetchone()[0] is None:
        raise QueryError("the database has no comparison views yet (sql/015) — run amber-home migrate")
    _check_site(conn, site)
    plan = conn.execute("SELECT value FROM amber_settings WHERE key = 'compare_plan'").fetchone()
    if plan is None:
        raise QueryError("no comparison plan: set AMBER_COMPARE_PLAN to a plan file (docs/compare.md), then run "
                         "amber-home migrate")
    first = last_days(n, until, zone).first
    rows = conn.execute(_SQL[by], {"until": until, "first": first, "site": site, "n": n}).fetchall()
    money = (
        Column("amber_cents", "Amber", "money"),
        Column("plan_cents", "Plan", "money"),
        Column("saved_cents", "Saved", "money"),
    )
    if by == "hour":
        counts = (Column("hours", "Hours", "int"), Column("hours_won", "Amber cheaper", "int"))
        key, title = Column("hour", "Hour", "hour"), f"Energy cost by local hour, {first} to {until}"
    else:
        counts = (Column("days_compared", "Days", "int"), Column("days_missing", "Not compared", "int"))
        key = Column("month" if by == "month" else "period_start", "Month" if by == "month" else "From", "date")
        title = f"Bill by {by}, newest first"
    columns = (key, _site_column(rows, 1), *counts, *money)
    footer = None
    if rows and not columns[1].in_table and by != "hour":  # the hour column cannot say Total
        footer = ("Total", None) + tuple(_total(row[i] for row in rows) for i in range(2, 7))
    note = f"vs {plan[0]!r} ({zone.key}); saved = plan - Amber: positive when Amber was cheaper"
    table = Table(f"compare_{by}", title, columns, tuple(rows), footer=footer, note=note)
    return Result((table,), None if rows else "no usage stored yet — run amber-home backfill")
