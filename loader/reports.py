"""`amber-home query` end to end: open the session, read a report, format it, print it.

    run(request, environ) -> exit status         the report `request.what`, or the user's SQL (`sql`)
    Request(what, format=, site=, until=, count=, channel=, daily=, by=, statement=, timeout=)
    REPORTS: what -> read(conn, request, context) -> Result   summary, costs, prices, usage, bill, compare, plan
    reader_conninfo(url, password) -> conninfo   DATABASE_URL's server and database, as amber_reader

Reports run in a read-only session as DATABASE_URL's user; `sql` always logs in as the read-only role
amber_reader (its privileges, not the READ ONLY transaction around the statement, refuse writes). Each
report's rows come from loader/query.py (summary, costs, prices, usage), loader/bill.py,
loader/compare.py or loader/plan.py; loader/table_format.py formats them. A result's notice and the
warning about a changed AMBER_TIMEZONE go to stderr; every failure is one line on stderr and exit 1.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from amber.secret import first_line, redact_url
from loader import query
from loader.aggregates import recorded_timezone
from loader.query import QueryError, Result
from loader.table_format import Table, render
from runtime.database import cannot_reach, connect

if TYPE_CHECKING:
    from runtime.settings import Settings

__all__ = ["DEFAULT_TIMEOUT_S", "MAX_TABLE_ROWS", "READER_ROLE", "REPORTS", "Request", "reader_conninfo", "run"]

APPLICATION_NAME = "amber-home query"
READER_ROLE = "amber_reader"
DEFAULT_TIMEOUT_S = 60.0
MAX_TABLE_ROWS = 10_000  # the table format aligns columns, so it holds its rows: beyond this, csv or json


@dataclass(frozen=True)
class Request:
    """What `amber-home query` was asked for, as its options parsed it."""

    what: str  # a key of REPORTS, or "sql"
    format: str = "table"  # table, csv or json (loader/table_format.py)
    site: str | None = None
    until: dt.date | None = None  # the last local day (None: today)
    count: int = 0  # days; periods for bill; months or periods for compare (days with by="hour")
    channel: str = "general"  # prices: a channel type or "all"
    daily: bool = False  # bill: the days of the period holding `until`
    by: str = "month"  # compare: month, period or hour
    statement: str | None = None  # sql: the statement itself
    timeout: float = DEFAULT_TIMEOUT_S  # sql: seconds before the statement is cancelled


@dataclass(frozen=True)
class Context:
    """What a report needs besides its request: the local zone, now, the last day, the configured loads."""

    zone: ZoneInfo
    now: dt.datetime
    until: dt.date
    loads: Sequence = ()


# --- the reports: each reads its Result -------------------------------------------------------------


def _summary(conn: psycopg.Connection, request: Request, context: Context) -> Result:
    return query.summary(conn, zone=context.zone, now=context.now, until=context.until, site=request.site)


def _costs(conn: psycopg.Connection, request: Request, context: Context) -> Result:
    return query.costs(conn, request.count, zone=context.zone, until=context.until, site=request.site)


def _prices(conn: psycopg.Connection, request: Request, context: Context) -> Result:
    channel = None if request.channel == "all" else request.channel
    return query.prices(
        conn, request.count, zone=context.zone, until=context.until, site=request.site, channel=channel
    )


def _usage(conn: psycopg.Connection, request: Request, context: Context) -> Result:
    return query.usage(conn, request.count, zone=context.zone, until=context.until, site=request.site)


def _bill(conn: psycopg.Connection, request: Request, context: Context) -> Result:
    from loader.bill import bill

    return bill(
        conn, request.count, zone=context.zone, until=context.until, site=request.site, daily=request.daily
    )


def _compare(conn: psycopg.Connection, request: Request, context: Context) -> Result:
    from loader.compare import compare

    return compare(conn, request.count, zone=context.zone, until=context.until, site=request.site, by=request.by)


def _plan(conn: psycopg.Connection, request: Request, context: Context) -> Result:
    from loader.plan import plan

    return plan(conn, context.loads, zone=context.zone, now=context.now, site=request.site)


REPORTS: dict[str, Callable[[psycopg.Connection, Request, Context], Result]] = {
    "summary": _summary,
    "costs": _costs,
    "prices": _prices,
    "usage": _usage,
    "bill": _bill,
    "compare": _compare,
    "plan": _plan,
}


# --- running one -----------------------------------------------------------------------------------


def run(request: Request, environ: Mapping[str, str]) -> int:
    """Run `request` against DATABASE_URL and print it to stdout; the exit status."""
    from runtime.settings import load_settings_or_exit

    settings = load_settings_or_exit(environ)
    zone = settings.timezone
    now = dt.datetime.now(dt.UTC)
    where = redact_url(settings.database_url.reveal())
    conn = _open(request, settings, where)
    if conn is None:
        return 1
    if request.what == "sql":
        with conn:
            return _print_sql(conn, request, where=where, zone=zone)
    with conn:
        try:
            query.check_schema(conn)
            warning = _zone_warning(recorded_timezone(conn), zone)
            context = Context(zone, now, request.until or now.astimezone(zone).date(), settings.loads or ())
            result = REPORTS[request.what](conn, request, context)
        except (QueryError, psycopg.Error) as exc:
            return _fail(exc, conn, where)
    if warning:
        print(warning, file=sys.stderr)
    return _print_result(result, request.format, zone)


def reader_conninfo(url: str, password: str | None) -> str:
    """DATABASE_URL's server and database, logged in as amber_reader: with `password`, or with the URL's
    own when the URL names amber_reader; never with another role's password."""
    params: dict[str, Any] = {k: v for k, v in conninfo_to_dict(url).items() if v is not None}
    if params.get("user") != READER_ROLE:
        params.pop("password", None)
    params["user"] = READER_ROLE
    if password is not None:
        params["password"] = password
    return make_conninfo(**params)


def _open(request: Request, settings: Settings, where: str) -> psycopg.Connection | None:
    """The session: read-only, local time, a statement timeout; as amber_reader for `sql`. None (and
    one line on stderr) when it cannot be opened."""
    as_reader = request.what == "sql"
    url = settings.database_url.reveal()
    if as_reader:
        url = reader_conninfo(url, settings.reader_password.reveal() if settings.reader_password else None)
    timeout_ms = int((request.timeout if as_reader else DEFAULT_TIMEOUT_S) * 1000)
    options = query.session_options(settings.timezone, timeout_ms=timeout_ms)
    try:
        return connect(url, application_name=APPLICATION_NAME, options=options)
    except psycopg.OperationalError as exc:
        reason = first_line(exc)
        if as_reader:
            print(
                f"error: cannot log in to {where} as {READER_ROLE}: {reason}; `sql` always runs as that role — "
                "set AMBER_READER_PASSWORD to the password amber-home migrate gave it",
                file=sys.stderr,
            )
        else:
            print(f"error: {cannot_reach(where, exc)}", file=sys.stderr)
        return None


def _zone_warning(recorded: str | None, zone: ZoneInfo) -> str | None:
    if recorded and recorded != zone.key:
        return (
            f"warning: the aggregates' days are local to {recorded} (recorded by migrate) but "
            f"AMBER_TIMEZONE is {zone.key}; daily figures follow {recorded}"
        )
    return None


def _print_result(result: Result, fmt: str, zone: ZoneInfo) -> int:
    out = sys.stdout
    try:
        tables = result.tables
        if result.notice and fmt == "table" and not any(t.rows for t in tables):
            tables = ()  # nothing but empty headers: the notice says it all
        render(tables, fmt, out, tty=out.isatty(), zone=zone)
        out.flush()
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        _silence_stdout()
        return 0
    if result.notice:
        print(result.notice, file=sys.stderr)
    return 0


def _print_sql(conn: psycopg.Connection, request: Request, *, where: str, zone: ZoneInfo) -> int:
    """Stream one statement's rows to stdout; every failure is one line on stderr and exit 1."""
    assert request.statement is not None
    out = sys.stdout
    try:
        with query.run_sql(conn, request.statement, timeout_s=request.timeout) as table:
            if request.format == "table" and table.status is None:
                table = _first_rows(table)
            render((table,), request.format, out, tty=out.isatty(), zone=zone)
            out.flush()
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        _silence_stdout()
        return 0
    except (QueryError, psycopg.Error) as exc:
        return _fail(exc, conn, where, reader=True)
    return 0


def _first_rows(table: Table) -> Table:
    """The table format holds its rows: the first MAX_TABLE_ROWS, and a note saying how many."""
    rows = list(itertools.islice(table.rows, MAX_TABLE_ROWS + 1))
    more = len(rows) > MAX_TABLE_ROWS
    rows = rows[:MAX_TABLE_ROWS]
    count = f"{len(rows):,} row{'' if len(rows) == 1 else 's'}"
    note = f"(first {count}; use --format csv or json for all)" if more else f"({count})"
    return Table(table.name, table.title, table.columns, tuple(rows), note=note)


def _fail(exc: QueryError | psycopg.Error, conn: psycopg.Connection, where: str, *, reader: bool = False) -> int:
    """One line on stderr for a query's failure; exit status 1."""
    if isinstance(exc, QueryError):
        message = str(exc)
    elif conn.closed or conn.broken:
        message = f"lost the connection to {where}: {query.database_message(exc)}"
    else:
        message = query.database_message(exc, reader=reader)
    print(f"error: {message}", file=sys.stderr)
    return 1


def _silence_stdout() -> None:
    # Python flushes stdout again at exit; point it at /dev/null so that flush cannot fail too.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except Exception:  # noqa: BLE001  OSError, ValueError, io.UnsupportedOperation (captured stdout in tests) and the like
        pass
