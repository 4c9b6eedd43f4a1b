"""`amber-home query compare`: Amber's true bill beside the comparison plan (sql/015_compare.sql).

    compare(conn, n, zone=, until=, site=, by="month")  -> Result
        by="month"   the last n local months (compare_monthly), savings to date in the footer
        by="period"  the last n billing periods (compare_periods)
        by="hour"    per local hour of day over the last n days (compare_hourly): where Amber won or lost

saved = plan - Amber, in exact cents: positive when Amber was cheaper than the plan.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from zoneinfo import ZoneInfo

import psycopg

from loader.query import QueryError, Result, check_site, last_days, read_table, with_totals
from loader.table_format import Column
from runtime.database import scalar

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


_MONEY = (
    Column("amber_cents", "Amber", "money"),
    Column("plan_cents", "Plan", "money"),
    Column("saved_cents", "Saved", "money"),
)
_DAY_COUNTS = (Column("days_compared", "Days", "int"), Column("days_missing", "Not compared", "int"))
_COLUMNS = {
    "month": (Column("month", "Month", "date"), Column("site_id", "Site", "text"), *_DAY_COUNTS, *_MONEY),
    "period": (Column("period_start", "From", "date"), Column("site_id", "Site", "text"), *_DAY_COUNTS, *_MONEY),
    "hour": (
        Column("hour", "Hour", "hour"),
        Column("site_id", "Site", "text"),
        Column("hours", "Hours", "int"),
        Column("hours_won", "Amber cheaper", "int"),
        *_MONEY,
    ),
}


def compare(
    conn: psycopg.Connection, n: int, *, zone: ZoneInfo, until: dt.date, site: str | None = None, by: str = "month"
) -> Result:
    if scalar(conn, "SELECT to_regclass('compare_daily')") is None:
        raise QueryError("the database has no comparison views yet (sql/015) — run amber-home migrate")
    check_site(conn, site)
    plan = conn.execute("SELECT value FROM amber_settings WHERE key = 'compare_plan'").fetchone()
    if plan is None:
        raise QueryError("no comparison plan: set AMBER_COMPARE_PLAN to a plan file (docs/compare.md), then run "
                         "amber-home migrate")
    first = last_days(n, until, zone).first
    title = f"Energy cost by local hour, {first} to {until}" if by == "hour" else f"Bill by {by}, newest first"
    params = {"until": until, "first": first, "site": site, "n": n}
    table = read_table(conn, _SQL[by], params, name=f"compare_{by}", title=title, columns=_COLUMNS[by])
    if by != "hour":  # the hour column cannot say Total
        table = with_totals(table)
    table = replace(table, note=f"vs {plan[0]!r} ({zone.key}); saved = plan - Amber: positive when Amber was cheaper")
    return Result((table,), None if table.rows else "no usage stored yet — run amber-home backfill")
