"""`amber-home query`: read what the loader stored — summary, costs, prices, usage, or your own SQL.

    amber-home query summary                      sites, stored ranges, freshness, the last week's cost
    amber-home query costs 30 --format csv        daily cost (cents exact in csv/json, dollars in tables)
    amber-home query prices 7 --channel feedIn    price by local hour of day
    amber-home query usage 7 --site 01F5…         daily kWh per meter channel
    amber-home query bill 3 [--daily]             the true bill by billing period (or the days of this one)
    amber-home query compare 12 [--by period|hour] Amber's bill vs your comparison plan, savings
    amber-home query plan                         the cheapest window ahead for each AMBER_LOADS load
    amber-home query sql "SELECT …"               one statement, read-only ("-" reads it from stdin)

Everything runs read-only. `sql` always logs in as the read-only role amber_reader (same host and
database as DATABASE_URL; the password is AMBER_READER_PASSWORD, or DATABASE_URL's own when it names
amber_reader), whatever DATABASE_URL's user is: its privileges, not the READ ONLY transaction around the
statement, are what refuse writes, files and programs. Its rows stream to the output (csv and json
hold no result in memory; the table format shows the first MAX_TABLE_ROWS). Days and hours are local
to AMBER_TIMEZONE.
The SQL and result shapes live in loader/query.py, the formats in loader/table_format.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import os
import sys
from collections.abc import Mapping, Sequence

APPLICATION_NAME = "amber-home query"
READER_ROLE = "amber_reader"
DEFAULT_TIMEOUT_S = 60.0
MAX_TABLE_ROWS = 10_000  # the table format aligns columns, so it holds its rows: beyond this, csv or json
MAX_DAYS = 3660  # ten years


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days") from None
    if not 1 <= value <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"days must be from 1 to {MAX_DAYS}, not {value}")
    return value


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date as YYYY-MM-DD") from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"timeout must be a number of seconds from 0 to 86400, not {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from loader.query import CHANNEL_TYPES
    from loader.table_format import FORMATS

    def common(parser: argparse.ArgumentParser, defaults: bool) -> None:
        # Accepted before and after the subcommand; the subcommand's copy only overrides when given.
        extra = {} if defaults else {"default": argparse.SUPPRESS}
        parser.add_argument(
            "--format", choices=FORMATS, **({"default": "table"} | extra),
            help="table (default; rich on a terminal, plain text in pipes), csv or json",
        )
        parser.add_argument("--site", metavar="ID", **({"default": None} | extra), help="only this Amber site id")

    parser = argparse.ArgumentParser(
        prog="amber-home query",
        description="Read-only queries on the Amber-Home database (DATABASE_URL). Days and hours are local "
        "to AMBER_TIMEZONE.",
        epilog="Formats: table shows money in dollars ($12.34) and rounds kWh and prices; csv and json keep "
        "the database's exact values — money as cents in *_cents columns, kWh, c/kWh — written in full (json "
        "numbers, never via float: parse with decimal, e.g. json.loads(text, parse_float=Decimal)). Times are "
        "ISO 8601 with the local offset, ages whole seconds. Empty results print a one-line reason on stderr "
        "and exit 0 (json: [], csv: the header).",
    )
    common(parser, defaults=True)
    sub = parser.add_subparsers(dest="what", required=True, metavar="SUBCOMMAND")

    def until(p: argparse.ArgumentParser) -> None:
        p.add_argument("--until", type=_date, metavar="YYYY-MM-DD", help="last day of the period (default: today, local)")

    p = sub.add_parser("summary", help="sites, stored date ranges and row counts, freshness, the last 7 days' cost")
    until(p)
    p = sub.add_parser("costs", help="daily cost for the last N local days: imports, feed-in credits, net, kWh")
    p.add_argument("days", type=_days, nargs="?", default=7, metavar="N", help="number of days (default 7)")
    until(p)
    p = sub.add_parser("prices", help="price by local hour of day over the last N days (avg/min/max c/kWh, renewables)")
    p.add_argument("days", type=_days, nargs="?", default=30, metavar="N", help="number of days (default 30)")
    p.add_argument(
        "--channel", choices=(*CHANNEL_TYPES, "all"), default="general",
        help="channel type (default general; feedIn: negative = you are paid)",
    )
    until(p)
    p = sub.add_parser("usage", help="daily kWh per meter channel for the last N local days")
    p.add_argument("days", type=_days, nargs="?", default=7, metavar="N", help="number of days (default 7)")
    until(p)
    p = sub.add_parser("bill", help="the bill by billing period: usage, feed-in, supply, subscription, total, projected")
    p.add_argument("periods", type=_days, nargs="?", default=3, metavar="N", help="number of periods (default 3)")
    p.add_argument("--daily", action="store_true", help="the days of the period holding --until instead")
    until(p)
    p = sub.add_parser("compare", help="Amber's bill vs the plan in AMBER_COMPARE_PLAN: per month, period or hour")
    p.add_argument("n", type=_days, nargs="?", default=12, metavar="N",
                   help="months or periods (default 12); with --by hour: days")
    p.add_argument("--by", choices=("month", "period", "hour"), default="month",
                   help="month (default), billing period, or local hour of day (where Amber won or lost)")
    until(p)
    p = sub.add_parser("plan", help="the cheapest window in the next 24 h for each load in AMBER_LOADS, and how sure")
    p.set_defaults(until=None)  # plans start now
    p = sub.add_parser("sql", help="run one SQL statement read-only and print its rows")
    p.add_argument("statement", help='the statement, quoted; "-" reads it from stdin')
    p.add_argument(
        "--timeout", type=_seconds, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
        help=f"cancel the statement after this long (default {DEFAULT_TIMEOUT_S:g})",
    )
    for p in sub.choices.values():
        common(p, defaults=False)
    return parser


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    args = build_parser().parse_args(argv)

    import psycopg
    from amber.config import load_settings_or_exit
    from amber.secret import redact_url
    from loader import query
    from loader.connect import connect
    from loader.table_format import render

    settings = load_settings_or_exit(environ)
    zone = settings.timezone
    now = dt.datetime.now(dt.UTC)
    where = redact_url(settings.database_url.reveal())

    statement = None
    if args.what == "sql" and args.site is not None:
        print("error: --site does not apply to sql; filter in the statement (WHERE site_id = '…')", file=sys.stderr)
        return 2
    if args.what == "sql":
        statement = sys.stdin.read() if args.statement == "-" else args.statement
        if not statement.strip():
            print("error: the SQL statement is empty", file=sys.stderr)
            return 2
    as_reader = args.what == "sql"
    url = settings.database_url.reveal()
    if as_reader:
        url = reader_conninfo(url, settings.reader_password.reveal() if settings.reader_password else None)
    timeout_ms = int((args.timeout if args.what == "sql" else DEFAULT_TIMEOUT_S) * 1000)
    options = query.session_options(zone, timeout_ms=timeout_ms)
    try:
        conn = connect(url, application_name=APPLICATION_NAME, options=options)
    except psycopg.OperationalError as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if as_reader:
            print(
                f"error: cannot log in to {where} as {READER_ROLE}: {reason}; `sql` always runs as that role — "
                "set AMBER_READER_PASSWORD to the password amber-home migrate gave it",
                file=sys.stderr,
            )
        else:
            print(
                f"error: cannot reach the database at {where}: {reason}; "
                "check DATABASE_URL and that TimescaleDB is running",
                file=sys.stderr,
            )
        return 1

    if statement is not None:
        with conn:
            return _run_sql(conn, statement, args, where=where, zone=zone)

    warning = None
    with conn:
        try:
            query.check_schema(conn)
            recorded = query.recorded_timezone(conn)
            if recorded and recorded != zone.key:
                warning = (
                    f"warning: the aggregates' days are local to {recorded} (recorded by migrate) but "
                    f"AMBER_TIMEZONE is {zone.key}; daily figures follow {recorded}"
                )
            until = args.until or now.astimezone(zone).date()
            if args.what == "summary":
                result = query.summary(conn, zone=zone, now=now, until=until, site=args.site)
            elif args.what == "costs":
                result = query.costs(conn, args.days, zone=zone, until=until, site=args.site)
            elif args.what == "bill":
                from loader.bill import bill

                result = bill(conn, args.periods, zone=zone, until=until, site=args.site, daily=args.daily)
            elif args.what == "compare":
                from loader.compare import compare

                result = compare(conn, args.n, zone=zone, until=until, site=args.site, by=args.by)
            elif args.what == "plan":
                from loader.plan import plan

                result = plan(conn, settings.loads or (), zone=zone, now=now, site=args.site)
            elif args.what == "prices":
                channel = None if args.channel == "all" else args.channel
                result = query.prices(conn, args.days, zone=zone, until=until, site=args.site, channel=channel)
            else:
                result = query.usage(conn, args.days, zone=zone, until=until, site=args.site)
        except (query.QueryError, psycopg.Error) as exc:
            return _fail(exc, conn, where)

    if warning:
        print(warning, file=sys.stderr)
    out = sys.stdout
    try:
        tables = result.tables
        if result.notice and args.format == "table" and not any(t.rows for t in tables):
            tables = ()  # nothing but empty headers: the notice says it all
        render(tables, args.format, out, tty=out.isatty(), zone=zone)
        out.flush()
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        _silence_stdout()
        return 0
    if result.notice:
        print(result.notice, file=sys.stderr)
    return 0


def reader_conninfo(url: str, password: str | None) -> str:
    """DATABASE_URL's server and database, logged in as amber_reader: with `password`, or with the URL's
    own when the URL names amber_reader; never with another role's password."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = {k: v for k, v in conninfo_to_dict(url).items() if v is not None}
    if params.get("user") != READER_ROLE:
        params.pop("password", None)
    params["user"] = READER_ROLE
    if password is not None:
        params["password"] = password
    return make_conninfo(**params)


def _run_sql(conn, statement: str, args: argparse.Namespace, *, where: str, zone) -> int:
    """Stream one statement's rows to stdout; every failure is one line on stderr and exit 1."""
    import psycopg

    from loader import query
    from loader.table_format import Table, render

    out = sys.stdout
    try:
        with query.run_sql(conn, statement, timeout_s=args.timeout) as table:
            more = False
            if args.format == "table" and table.status is None:
                rows = list(itertools.islice(table.rows, MAX_TABLE_ROWS + 1))
                more = len(rows) > MAX_TABLE_ROWS
                rows = rows[:MAX_TABLE_ROWS]
                count = f"{len(rows):,} row{'' if len(rows) == 1 else 's'}"
                note = f"(first {count}; use --format csv or json for all)" if more else f"({count})"
                table = Table(table.name, table.title, table.columns, tuple(rows), note=note)
            render((table,), args.format, out, tty=out.isatty(), zone=zone)
            out.flush()
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        _silence_stdout()
        return 0
    except (query.QueryError, psycopg.Error) as exc:
        return _fail(exc, conn, where, reader=True)
    return 0


def _fail(exc: Exception, conn, where: str, *, reader: bool = False) -> int:
    """One line on stderr for a query's failure; exit status 1."""
    from loader import query

    if isinstance(exc, query.QueryError):
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
    except (OSError, ValueError, AttributeError):
        pass
    except Exception:  # io.UnsupportedOperation (captured stdout in tests) and the like
        pass
