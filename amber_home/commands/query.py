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
hold no result in memory; the table format shows the first 10,000). Days and hours are local
to AMBER_TIMEZONE.
The reports run in loader/reports.py (the SQL and result shapes in loader/query.py, bill.py, compare.py
and plan.py, the formats in loader/table_format.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Mapping, Sequence
from typing import Any

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


def _common(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """--format and --site, accepted before and after the subcommand; the subcommand's copy only
    overrides when given."""
    from loader.table_format import FORMATS

    extra: dict[str, Any] = {} if defaults else {"default": argparse.SUPPRESS}
    parser.add_argument(
        "--format", choices=FORMATS, **({"default": "table"} | extra),
        help="table (default; rich on a terminal, plain text in pipes), csv or json",
    )
    parser.add_argument("--site", metavar="ID", **({"default": None} | extra), help="only this Amber site id")


def _report(sub: Any, name: str, help_text: str, count: tuple[int, str] | None = None) -> argparse.ArgumentParser:
    """A report's subcommand; with `count` (default, help), its N of days (or periods, months)."""
    parser = sub.add_parser(name, help=help_text)
    if count is not None:
        default, count_help = count
        parser.add_argument("count", type=_days, nargs="?", default=default, metavar="N", help=count_help)
    return parser


def build_parser() -> argparse.ArgumentParser:
    from loader.query import CHANNEL_TYPES
    from loader.reports import DEFAULT_TIMEOUT_S

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
    _common(parser, defaults=True)
    sub = parser.add_subparsers(dest="what", required=True, metavar="SUBCOMMAND")
    _report(sub, "summary", "sites, stored date ranges and row counts, freshness, the last 7 days' cost")
    _report(sub, "costs", "daily cost for the last N local days: imports, feed-in credits, net, kWh",
            count=(7, "number of days (default 7)"))
    p = _report(sub, "prices", "price by local hour of day over the last N days (avg/min/max c/kWh, renewables)",
                count=(30, "number of days (default 30)"))
    p.add_argument(
        "--channel", choices=(*CHANNEL_TYPES, "all"), default="general",
        help="channel type (default general; feedIn: negative = you are paid)",
    )
    _report(sub, "usage", "daily kWh per meter channel for the last N local days",
            count=(7, "number of days (default 7)"))
    p = _report(sub, "bill", "the bill by billing period: usage, feed-in, supply, subscription, total, projected",
                count=(3, "number of periods (default 3)"))
    p.add_argument("--daily", action="store_true", help="the days of the period holding --until instead")
    p = _report(sub, "compare", "Amber's bill vs the plan in AMBER_COMPARE_PLAN: per month, period or hour",
                count=(12, "months or periods (default 12); with --by hour: days"))
    p.add_argument("--by", choices=("month", "period", "hour"), default="month",
                   help="month (default), billing period, or local hour of day (where Amber won or lost)")
    p = sub.add_parser("plan", help="the cheapest window in the next 24 h for each load in AMBER_LOADS, and how sure")
    p.set_defaults(until=None)  # plans start now
    p = sub.add_parser("sql", help="run one SQL statement read-only and print its rows")
    p.add_argument("statement", help='the statement, quoted; "-" reads it from stdin')
    p.add_argument(
        "--timeout", type=_seconds, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
        help=f"cancel the statement after this long (default {DEFAULT_TIMEOUT_S:g})",
    )
    for name in ("summary", "costs", "prices", "usage", "bill", "compare"):
        sub.choices[name].add_argument("--until", type=_date, metavar="YYYY-MM-DD",
                                       help="last day of the period (default: today, local)")
    for p in sub.choices.values():
        _common(p, defaults=False)
    return parser


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    args = build_parser().parse_args(argv)
    if args.what == "sql":
        if args.site is not None:
            print("error: --site does not apply to sql; filter in the statement (WHERE site_id = '…')",
                  file=sys.stderr)
            return 2
        args.statement = sys.stdin.read() if args.statement == "-" else args.statement
        if not args.statement.strip():
            print("error: the SQL statement is empty", file=sys.stderr)
            return 2

    from loader.reports import Request, run

    return run(Request(**vars(args)), environ)
