"""The read-only queries behind `amber-home query`: what is stored, what it cost, prices by hour, usage
by channel, and a user's own SQL.

    summary(conn, zone=, now=, until=, site=)             -> Result: tables sites, data, costs
    costs(conn, days, zone=, until=, site=)               -> Result: daily cost from cost_daily
    prices(conn, days, zone=, until=, site=, channel=)    -> Result: hour-of-day profile from price_hourly
    usage(conn, days, zone=, until=, site=)               -> Result: daily kWh per channel from cost_daily
    with run_sql(conn, statement, timeout_s=) as table:   one statement, READ ONLY, rolled back; the
        ...                                               table's rows stream from the server meanwhile

What every report uses (bill.py, compare.py and plan.py too; loader/reports.py prints them):
    Result(tables, notice)                                what a report returns
    QueryError                                            a problem the user can fix, one line
    check_site(conn, site)                                QueryError for a site the database does not know
    last_days(days, until, zone) -> Days                  the N local days ending on `until`
    read_table(conn, statement, params, name=, title=, columns=, varying=("site_id",)) -> Table
                                                          a statement's rows under `columns`; a `varying`
                                                          column is shown to people only when it varies
    varying_columns(columns, rows, keys) -> columns       the same for rows read otherwise
    with_totals(table) -> Table                           a footer of column totals (one site only)
    total(values) -> sum or None                          None when every value is missing

"The last N days" are the N local calendar days ending on `until` (default: today in AMBER_TIMEZONE).
Each function returns `Table`s (loader/table_format.py) holding the database's own values and units —
cents, kWh, c/kWh, percent — as exact Decimals; turning cents into dollars is the formatter's job.
When a result is empty, `Result.notice` says why in one line: nothing stored yet, nothing in the
window (and where the newest data is), or aggregates not refreshed since rows were written (Apache).

Days in cost_daily are the local days of the zone recorded in amber_settings when the aggregates
were created; loader.aggregates.recorded_timezone() lets the caller warn when AMBER_TIMEZONE has
changed since.
Nothing here writes: the caller connects with default_transaction_read_only=on, and run_sql adds
its own read-only transaction that it always rolls back. For the user's SQL that is a courtesy (clear
messages): `amber-home query sql` connects as amber_reader, whose privileges are what refuse writes.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import errors, sql

from amber.secret import first_line
from loader.table_format import Column, Table
from runtime.database import scalar

__all__ = [
    "CHANNEL_TYPES",
    "NO_DATA",
    "Days",
    "QueryError",
    "Result",
    "check_schema",
    "check_site",
    "costs",
    "database_message",
    "last_days",
    "prices",
    "read_table",
    "run_sql",
    "session_options",
    "summary",
    "total",
    "usage",
    "varying_columns",
    "with_totals",
]

NO_DATA = "no data yet — run amber-home backfill"
CHANNEL_TYPES = ("general", "controlledLoad", "feedIn")
SUMMARY_DAYS = 7


class QueryError(Exception):
    """A problem the user can fix (unknown site, database not migrated); the message is one line."""


@dataclass(frozen=True)
class Result:
    tables: tuple[Table, ...]
    notice: str | None = None  # one line for stderr, e.g. why the tables are empty


@dataclass(frozen=True)
class Days:
    """Local calendar days first..last (inclusive) in `zone`."""

    first: dt.date
    last: dt.date
    zone: ZoneInfo

    @property
    def since(self) -> dt.datetime:
        """Local midnight starting `first` (aware)."""
        return dt.datetime.combine(self.first, dt.time(), tzinfo=self.zone)

    @property
    def before(self) -> dt.datetime:
        """Local midnight ending `last` (aware); days are 23-25 hours long, so this is not first + N * 24 h."""
        return dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(), tzinfo=self.zone)

    def params(self, site: str | None) -> dict:
        """The query parameters of a per-day report over these days (optionally one site)."""
        return {"first": self.first, "last": self.last, "since": self.since, "before": self.before, "site": site}

    def __str__(self) -> str:
        return f"{self.first} to {self.last}" if self.first != self.last else str(self.first)


def session_options(zone: ZoneInfo, *, timeout_ms: int) -> str:
    """libpq `options` for a query session: read-only by default, a statement timeout, local time, no JIT.

    JIT off: these queries plan over every chunk of the hypertables (hundreds after a few years of 7-day
    chunks), which pushes their estimated cost past jit_above_cost; PostgreSQL then compiles thousands of
    expressions first — measured at 30 s for `summary` over two years, against 0.5 s without JIT."""
    return (
        f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms} -c TimeZone={zone.key} -c jit=off"
    )


def last_days(days: int, until: dt.date, zone: ZoneInfo) -> Days:
    if days < 1:
        raise ValueError("days must be at least 1")
    return Days(until - dt.timedelta(days=days - 1), until, zone)


# --- schema and sites ---------------------------------------------------------------------------------


def check_schema(conn: psycopg.Connection) -> None:
    """Raise QueryError unless the migrations have created the tables and aggregates read here."""
    relations = ("sites", "channels", "prices", "usage", "price_hourly", "cost_daily")
    missing = scalar(conn, 
        "SELECT array_agg(name ORDER BY ord) FROM unnest(%s::text[]) WITH ORDINALITY AS r(name, ord)"
        " WHERE to_regclass(name) IS NULL",
        (list(relations),),
    )
    if missing:
        raise QueryError(
            f"the database has no Amber-Home schema yet (missing {', '.join(missing)}) — run amber-home migrate"
        )


def check_site(conn: psycopg.Connection, site: str | None) -> None:
    """Raise QueryError for a site the database has neither described nor stored rows of (None: all sites)."""
    if site is None:
        return
    known = [row[0] for row in conn.execute("SELECT site_id FROM sites ORDER BY site_id")]
    if site in known:
        return
    # Rows may exist for a site the loader has not described (yet): accept it when it has data.
    if scalar(conn, 
        "SELECT EXISTS (SELECT FROM usage WHERE site_id = %(s)s) OR EXISTS (SELECT FROM prices WHERE site_id = %(s)s)",
        {"s": site},
    ):
        return
    if not known:
        raise QueryError(f"unknown site {site!r}: the database has no sites yet — run amber-home backfill")
    raise QueryError(f"unknown site {site!r}; the database has: {', '.join(known)}")


def varying_columns(
    columns: Sequence[Column], rows: Sequence[tuple[Any, ...]], keys: Iterable[str] = ("site_id",)
) -> tuple[Column, ...]:
    """`columns` for `rows`, each column named in `keys` shown to people only when its values differ between
    rows (the site when there is more than one); programs always get every column."""
    keys = set(keys)
    return tuple(
        replace(column, in_table=len({row[i] for row in rows}) > 1) if column.key in keys else column
        for i, column in enumerate(columns)
    )


def read_table(
    conn: psycopg.Connection,
    statement: str,
    params: dict[str, Any],
    *,
    name: str,
    title: str,
    columns: Sequence[Column],
    varying: Iterable[str] = ("site_id",),
) -> Table:
    """The rows of `statement` as a Table under `columns` (one per selected column, in order); see
    varying_columns for `varying`."""
    rows = conn.execute(statement, params).fetchall()
    return Table(name, title, varying_columns(columns, rows, varying), tuple(rows))


def with_totals(table: Table) -> Table:
    """`table` with a footer row for people: "Total" under its first column, nothing under the second (the
    site), the total of each further column. Only for one site (the site column hidden) and some rows:
    several sites' figures do not add up to one."""
    rows = tuple(table.rows)
    if not rows or table.columns[1].in_table:
        return table
    totals = tuple(total(row[i] for row in rows) for i in range(2, len(table.columns)))
    return replace(table, footer=("Total", None, *totals))


def total(values: Iterable[Any]) -> Decimal | int | None:
    """The sum of the values present; None when every value is missing."""
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _empty_notice(
    conn: psycopg.Connection,
    *,
    raw: str,
    aggregate: str,
    what: str,
    days: Days,
    site: str | None,
    channel: str | None = None,
) -> str:
    """Why `aggregate` had nothing for `days`: no data at all, none in the window, or not refreshed.
    `channel` (a channel type) narrows the question for prices."""
    where = sql.SQL("(%(site)s::text IS NULL OR site_id = %(site)s) AND (%(channel)s::text IS NULL OR channel_type = %(channel)s)")
    params = {"site": site, "channel": channel, "since": days.since, "before": days.before}
    table = sql.Identifier(raw)
    newest = scalar(conn, 
        sql.SQL("SELECT max(interval_start) FROM {} WHERE {}").format(table, where), params
    )
    if newest is None:
        return f"no data for site {site} yet — run amber-home backfill" if site else NO_DATA
    in_window = scalar(conn, 
        sql.SQL("SELECT EXISTS (SELECT FROM {} WHERE {} AND interval_start >= %(since)s AND interval_start < %(before)s)")
        .format(table, where),
        params,
    )
    if in_window:
        return (
            f"{raw} has rows for {days} but {aggregate} has none: the aggregates were not refreshed after "
            "those rows were written (the loader refreshes them after each write)"
        )
    newest_day = newest.astimezone(days.zone).date()
    return f"no {what} for {days}; the newest is from {newest_day} (try --until {newest_day})"


# --- costs ---------------------------------------------------------------------------------------------

# One row per site and local day, with the days between a site's first and last day in the window that
# have no rows at all listed too (all values NULL), so a gap in the history shows instead of hiding.
# day_start (the bucket) bounds the scan with a day's margin either side; `day` picks the dates.
COSTS_SQL = """
WITH daily AS (
    SELECT site_id,
           day,
           coalesce(sum(cost) FILTER (WHERE channel_type <> 'feedIn'), 0) AS imports,
           coalesce(-sum(cost) FILTER (WHERE channel_type = 'feedIn'), 0) AS credits,
           sum(cost) AS net,
           sum(kwh_imported) AS kwh_in,
           sum(kwh_exported) AS kwh_out,
           sum(intervals) AS intervals,
           sum(estimated_intervals) AS estimated
    FROM cost_daily
    WHERE day >= %(first)s AND day <= %(last)s
      AND day_start >= %(since)s - INTERVAL '1 day' AND day_start < %(before)s + INTERVAL '1 day'
      AND (%(site)s::text IS NULL OR site_id = %(site)s)
    GROUP BY site_id, day
),
span AS (
    SELECT site_id, min(day) AS first_day, max(day) AS last_day FROM daily GROUP BY site_id
)
SELECT g.day::date, span.site_id, d.imports, d.credits, d.net, d.kwh_in, d.kwh_out, d.intervals, d.estimated
FROM span
CROSS JOIN LATERAL generate_series(span.first_day, span.last_day, INTERVAL '1 day') AS g(day)
LEFT JOIN daily AS d ON d.site_id = span.site_id AND d.day = g.day::date
ORDER BY span.site_id, g.day
"""


COSTS_COLUMNS = (
    Column("day", "Day", "date"),
    Column("site_id", "Site", "text"),
    Column("imports_cents", "Imports", "money"),
    Column("credits_cents", "Feed-in credit", "money"),
    Column("net_cents", "Net", "money"),
    Column("kwh_in", "kWh in", "kwh"),
    Column("kwh_out", "kWh out", "kwh"),
    Column("intervals", "Intervals", "int"),
    Column("estimated_intervals", "Estimated", "int"),
)


def _cost_table(conn: psycopg.Connection, days: Days, site: str | None, *, title: str) -> Table:
    table = read_table(conn, COSTS_SQL, days.params(site), name="costs", title=title, columns=COSTS_COLUMNS)
    table = with_totals(table)
    gaps = sum(1 for row in table.rows if row[4] is None)
    return replace(table, note=f"{gaps} day(s) without any usage rows (–): a gap in the history" if gaps else None)


def costs(
    conn: psycopg.Connection, days: int, *, zone: ZoneInfo, until: dt.date, site: str | None = None
) -> Result:
    """Daily cost for the last `days` local days: imports, feed-in credits (positive = money back), net,
    kWh in and out — all from cost_daily, exact cents. Net = imports - credits = sum(cost)."""
    check_site(conn, site)
    window = last_days(days, until, zone)
    table = _cost_table(conn, window, site, title=f"Daily cost, {window} ({zone.key})")
    notice = None
    if not table.rows:
        notice = _empty_notice(conn, raw="usage", aggregate="cost_daily", what="usage", days=window, site=site)
    return Result((table,), notice)


# --- prices --------------------------------------------------------------------------------------------

# Interval-weighted means over the hours in the window (avg_per_kwh * intervals is the hour's sum), so an
# hour of 12 five-minute prices counts 12 times; min and max are exact. Hours are local wall-clock hours;
# both 02:00 hours of the day daylight saving ends fall into hour 2.
PRICES_SQL = """
SELECT site_id,
       channel_type,
       extract(hour FROM hour_start AT TIME ZONE %(tz)s)::int AS hour,
       sum(avg_per_kwh * intervals) / sum(intervals) AS avg_per_kwh,
       min(min_per_kwh) AS min_per_kwh,
       max(max_per_kwh) AS max_per_kwh,
       sum(avg_spot_per_kwh * intervals) / sum(intervals) AS avg_spot_per_kwh,
       sum(avg_renewables * intervals) / sum(intervals) AS avg_renewables,
       sum(intervals)::bigint AS intervals
FROM price_hourly
WHERE hour_start >= %(since)s AND hour_start < %(before)s
  AND (%(site)s::text IS NULL OR site_id = %(site)s)
  AND (%(channel)s::text IS NULL OR channel_type = %(channel)s)
GROUP BY site_id, channel_type, hour
ORDER BY site_id, channel_type, hour
"""

PRICES_COLUMNS = (
    Column("site_id", "Site", "text"),
    Column("channel_type", "Channel", "text"),
    Column("hour", "Hour", "hour"),
    Column("avg_per_kwh", "Avg c/kWh", "price"),
    Column("min_per_kwh", "Min c/kWh", "price"),
    Column("max_per_kwh", "Max c/kWh", "price"),
    Column("avg_spot_per_kwh", "Spot c/kWh", "price"),
    Column("avg_renewables", "Renewables %", "percent"),
    Column("intervals", "Intervals", "int"),
)


def prices(
    conn: psycopg.Connection,
    days: int,
    *,
    zone: ZoneInfo,
    until: dt.date,
    site: str | None = None,
    channel: str | None = "general",
) -> Result:
    """Price by local hour of day over the last `days` days, from price_hourly: mean, min and max c/kWh,
    mean spot price and renewables. `channel` is a channel type, or None for all of them."""
    check_site(conn, site)
    window = last_days(days, until, zone)
    which = "all channels" if channel is None else channel
    table = read_table(
        conn,
        PRICES_SQL,
        {"tz": zone.key, "since": window.since, "before": window.before, "site": site, "channel": channel},
        name="prices",
        title=f"Price by hour of day, {which}, {window} ({zone.key})",
        columns=PRICES_COLUMNS,
        varying=("site_id", "channel_type"),
    )
    notice = None
    if not table.rows:
        types = _channel_types(conn, site)
        if channel is not None and types and channel not in types:
            notice = f"no {channel} prices stored; the channel types here are {', '.join(types)} (see --channel)"
        else:
            notice = _empty_notice(
                conn, raw="prices", aggregate="price_hourly", what="prices", days=window, site=site, channel=channel
            )
    return Result((table,), notice)


def _channel_types(conn: psycopg.Connection, site: str | None) -> list[str]:
    """Channel types with prices (from price_hourly: a few rows per hour, not the raw intervals)."""
    return [
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT channel_type FROM price_hourly WHERE %(site)s::text IS NULL OR site_id = %(site)s"
            " ORDER BY 1",
            {"site": site},
        )
    ]


# --- usage ---------------------------------------------------------------------------------------------

USAGE_SQL = """
SELECT day, site_id, channel_identifier, channel_type, kwh_imported, kwh_exported, cost, intervals,
       estimated_intervals
FROM cost_daily
WHERE day >= %(first)s AND day <= %(last)s
  AND day_start >= %(since)s - INTERVAL '1 day' AND day_start < %(before)s + INTERVAL '1 day'
  AND (%(site)s::text IS NULL OR site_id = %(site)s)
ORDER BY site_id, day, channel_identifier
"""

USAGE_COLUMNS = (
    Column("day", "Day", "date"),
    Column("site_id", "Site", "text"),
    Column("channel_identifier", "Channel", "text"),
    Column("channel_type", "Type", "text"),
    Column("kwh_imported", "kWh in", "kwh"),
    Column("kwh_exported", "kWh out", "kwh"),
    Column("cost_cents", "Cost", "money"),
    Column("intervals", "Intervals", "int"),
    Column("estimated_intervals", "Estimated", "int"),
)


def usage(
    conn: psycopg.Connection, days: int, *, zone: ZoneInfo, until: dt.date, site: str | None = None
) -> Result:
    """kWh per local day and meter channel for the last `days` days, from cost_daily (exports positive)."""
    check_site(conn, site)
    window = last_days(days, until, zone)
    title = f"Daily usage per channel, {window} ({zone.key})"
    table = read_table(conn, USAGE_SQL, window.params(site), name="usage", title=title, columns=USAGE_COLUMNS)
    notice = None
    if not table.rows:
        notice = _empty_notice(conn, raw="usage", aggregate="cost_daily", what="usage", days=window, site=site)
    return Result((table,), notice)


# --- summary -------------------------------------------------------------------------------------------

SITES_SQL = """
SELECT s.site_id, s.nmi, s.network, s.status, s.active_from, s.closed_on, s.interval_length_minutes,
       (SELECT string_agg(c.identifier || ' ' || c.type, ', ' ORDER BY c.identifier)
        FROM channels AS c WHERE c.site_id = s.site_id) AS channels
FROM sites AS s
WHERE %(site)s::text IS NULL OR s.site_id = %(site)s
ORDER BY s.site_id
"""

SITES_COLUMNS = (
    Column("site_id", "Site", "text"),
    Column("nmi", "NMI", "text"),
    Column("network", "Network", "text"),
    Column("status", "Status", "text"),
    Column("active_from", "Active from", "date"),
    Column("closed_on", "Closed on", "date"),
    Column("interval_minutes", "Interval min", "int"),
    Column("channels", "Channels", "text"),
)

# Per site and stream: first and last interval, rows, and freshness — the end of the newest ActualInterval
# (prices) or of the newest usage interval. Each channel the loader recorded (channels) is walked on the
# tables' primary keys: first and last rows by index, the count by an index-only scan, never the wide
# heap with its raw jsonb. Days with data (for missing_days) come from the aggregates, a few rows a day.
DATA_SQL = """
WITH price_keys AS (
    SELECT DISTINCT site_id, type AS channel_type FROM channels WHERE %(site)s::text IS NULL OR site_id = %(site)s
),
price_streams AS (
    SELECT k.site_id, f.interval_start AS first_start, l.interval_start AS last_start, n.rows, a.interval_end AS newest
    FROM price_keys AS k
    CROSS JOIN LATERAL (SELECT interval_start FROM prices AS p WHERE p.site_id = k.site_id
                        AND p.channel_type = k.channel_type ORDER BY p.interval_start LIMIT 1) AS f
    CROSS JOIN LATERAL (SELECT interval_start FROM prices AS p WHERE p.site_id = k.site_id
                        AND p.channel_type = k.channel_type ORDER BY p.interval_start DESC LIMIT 1) AS l
    CROSS JOIN LATERAL (SELECT count(*) AS rows FROM prices AS p WHERE p.site_id = k.site_id
                        AND p.channel_type = k.channel_type) AS n
    LEFT JOIN LATERAL (SELECT interval_end FROM prices AS p WHERE p.site_id = k.site_id
                       AND p.channel_type = k.channel_type AND p.interval_type = 'ActualInterval'
                       ORDER BY p.interval_start DESC LIMIT 1) AS a ON true
),
usage_streams AS (
    SELECT c.site_id, f.interval_start AS first_start, l.interval_start AS last_start, n.rows, l.interval_end AS newest
    FROM channels AS c
    CROSS JOIN LATERAL (SELECT interval_start FROM usage AS u WHERE u.site_id = c.site_id
                        AND u.channel_identifier = c.identifier ORDER BY u.interval_start LIMIT 1) AS f
    CROSS JOIN LATERAL (SELECT interval_start, interval_end FROM usage AS u WHERE u.site_id = c.site_id
                        AND u.channel_identifier = c.identifier ORDER BY u.interval_start DESC LIMIT 1) AS l
    CROSS JOIN LATERAL (SELECT count(*) AS rows FROM usage AS u WHERE u.site_id = c.site_id
                        AND u.channel_identifier = c.identifier) AS n
    WHERE %(site)s::text IS NULL OR c.site_id = %(site)s
)
SELECT site_id, 'prices' AS stream, min(first_start), max(last_start), sum(rows)::bigint, max(newest),
       (SELECT count(DISTINCT (h.hour_start AT TIME ZONE %(tz)s)::date) FROM price_hourly AS h
        WHERE h.site_id = s.site_id)
FROM price_streams AS s GROUP BY site_id
UNION ALL
SELECT site_id, 'usage', min(first_start), max(last_start), sum(rows)::bigint, max(newest),
       (SELECT count(DISTINCT d.day) FROM cost_daily AS d WHERE d.site_id = s.site_id)
FROM usage_streams AS s GROUP BY site_id
ORDER BY 1, 2
"""

DATA_COLUMNS = (
    Column("site_id", "Site", "text"),
    Column("stream", "Stream", "text"),
    Column("first_day", "First day", "date"),
    Column("last_day", "Last day", "date"),
    Column("rows", "Rows", "int"),
    Column("missing_days", "Missing days", "int"),
    Column("newest", "Newest", "timestamp"),
    Column("age_seconds", "Age", "age"),
)


def summary(
    conn: psycopg.Connection,
    *,
    zone: ZoneInfo,
    now: dt.datetime,
    until: dt.date,
    site: str | None = None,
    cost_days: int = SUMMARY_DAYS,
) -> Result:
    """Sites; per site and stream (prices, usage) the stored date range, row count, local days missing in
    that range and freshness (the newest actual price and usage, and how old); the last week's cost.
    Streams are found through the channels the loader recorded for each site."""
    check_site(conn, site)
    params = {"site": site, "tz": zone.key}
    sites = read_table(conn, SITES_SQL, params, name="sites", title="Sites", columns=SITES_COLUMNS, varying=())
    data = _data_table(conn, params, zone=zone, now=now)
    window = last_days(cost_days, until, zone)
    cost = _cost_table(conn, window, site, title=f"Daily cost, {window} ({zone.key})")
    notice = None
    if not sites.rows and not data.rows:
        notice = f"no data for site {site} yet — run amber-home backfill" if site else NO_DATA
    elif not cost.rows:
        notice = _empty_notice(conn, raw="usage", aggregate="cost_daily", what="usage", days=window, site=site)
    return Result((sites, data, cost), notice)


def _data_table(conn: psycopg.Connection, params: dict[str, Any], *, zone: ZoneInfo, now: dt.datetime) -> Table:
    """DATA_SQL's streams with their first and last local day, days missing between and age."""
    rows = []
    for site_id, stream, first, last, count, newest, days_with_data in conn.execute(DATA_SQL, params):
        first_day, last_day = first.astimezone(zone).date(), last.astimezone(zone).date()
        # Aggregates not refreshed yet (Apache build) can count fewer days; never report a negative gap.
        missing = max(0, (last_day - first_day).days + 1 - days_with_data)
        age = now - newest if newest is not None else None
        rows.append((site_id, stream, first_day, last_day, count, missing, newest, age))
    title = (
        "Stored data (newest: end of the newest actual price / usage interval; "
        f"now {now.astimezone(zone):%Y-%m-%d %H:%M %Z})"
    )
    return Table("data", title, varying_columns(DATA_COLUMNS, rows), tuple(rows))


# --- the user's SQL ------------------------------------------------------------------------------------


@contextmanager
def run_sql(conn: psycopg.Connection, statement: str, *, timeout_s: float | None = None) -> Iterator[Table]:
    """Run ONE statement in a READ ONLY transaction that is always rolled back; yield its result as a
    Table whose rows are an iterator streaming from the server (bounded memory for any result size):
    consume it inside the `with`. A statement without rows yields a Table with its command tag.

    The transaction is read-only before the statement runs, a first query takes the snapshot (after
    which PostgreSQL refuses to make it read-write), and the statement goes through the extended query
    protocol, which refuses several commands in one ("COMMIT; INSERT …"). The connection must not be in
    autocommit mode. COPY is refused (QueryError): its data does not come as rows."""
    if conn.autocommit:
        raise ValueError("run_sql needs a connection with autocommit off")
    with conn.transaction(force_rollback=True):
        conn.execute("SET TRANSACTION READ ONLY")
        if timeout_s:
            conn.execute(
                sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(f"{int(timeout_s * 1000)}ms"))
            )
        conn.execute("SELECT 1")
        cursor = conn.cursor()
        # Single-row mode: rows arrive one at a time, none is kept after it is written.
        rows = cursor.stream(statement)
        try:
            first = next(rows, None)
        except psycopg.ProgrammingError as exc:
            if "COPY" in str(exc):
                conn.close()  # the server is sending COPY data: end the session rather than drain it
                raise QueryError(
                    "`amber-home query sql` cannot run COPY; SELECT the rows with --format csv instead"
                ) from None
            if "didn't produce a result" not in str(exc):
                raise
            # It ran and returned no rows (SET, DO, …); stream() keeps no command tag, so name it.
            yield Table("result", "", (), (), status=_command_word(statement))
            return
        keys: list[str] = []
        for column in cursor.description or ():
            key, n = column.name, 1
            while key in keys:  # SELECT 1, 1: keep every column, with distinct keys
                n += 1
                key = f"{column.name}_{n}"
            keys.append(key)
        columns = tuple(Column(key, key, "auto") for key in keys)
        yield Table("result", "", columns, itertools.chain(() if first is None else (first,), rows))


def _command_word(statement: str) -> str:
    code = re.sub(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", "", statement, flags=re.DOTALL)
    return (code.split() or ["(empty statement)"])[0].upper()


def database_message(exc: psycopg.Error, *, reader: bool = False) -> str:
    """One line for a database error: the server's own message, plus what it means here."""
    diag = getattr(exc, "diag", None)
    primary = (diag.message_primary if diag else None) or first_line(exc)
    if isinstance(exc, errors.ReadOnlySqlTransaction):
        return f"{primary} — `amber-home query sql` only reads; change data with psql as the database owner"
    if isinstance(exc, errors.InsufficientPrivilege) and reader:
        return f"{primary} (connected as the read-only role amber_reader)"
    if isinstance(exc, errors.QueryCanceled):
        return f"{primary} (raise it with --timeout SECONDS)"
    if "multiple commands into a prepared statement" in primary:
        return "`amber-home query sql` runs one statement at a time; run each separately"
    if isinstance(exc, errors.SyntaxError) and diag and diag.statement_position:
        return f"{primary} (at character {diag.statement_position})"
    return primary
