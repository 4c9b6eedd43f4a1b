"""`amber-home backfill`: load every site's price and usage history into the database.

Resumable: run it again after a failure or kill and it continues where it stopped (see
loader/backfill.py). Paced by Amber's rate limit, keeping EXPORTER_REQUEST_SHARE requests per 5 minutes
for the exporter.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
import sys
from collections.abc import Mapping, Sequence

logger = logging.getLogger(__name__)

DATE_HELP = "use YYYY-MM-DD, e.g. 2024-07-01"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amber-home backfill",
        description="Load the price and usage history of your Amber sites into the database. Safe to run"
        " again: completed weeks are skipped, so an interrupted backfill continues where it stopped.",
    )
    parser.add_argument(
        "--from",
        dest="start",
        metavar="YYYY-MM-DD",
        help="first day (NEM date) to load; default HISTORICAL_START_DATE, else each site's activeFrom",
    )
    parser.add_argument(
        "--site",
        dest="sites",
        action="append",
        metavar="ID",
        help="load only this site (repeat for several); default AMBER_SITE_ID, else every site of the key",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (windows and request count) and exit; calls only /sites and writes nothing",
    )
    return parser


def _start_date(text: str | None, today: dt.date) -> dt.date | None:
    """--from as a date, or ValueError with the one-line message to show."""
    if text is None:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--from {text!r} is not a date: {DATE_HELP}") from None
    if day > today:
        raise ValueError(f"--from {text} is in the future (today is {today} in NEM time): use a past date")
    return day


def _site_ids(values: Sequence[str] | None) -> tuple[str, ...] | None:
    if not values:
        return None
    ids = tuple(dict.fromkeys(v.strip() for value in values for v in value.split(",") if v.strip()))
    bad = [i for i in ids if not re.fullmatch(r"[A-Za-z0-9_-]+", i)]
    if not ids or bad:
        raise ValueError(f"--site {', '.join(bad) or repr(values[0])}: not a site ID (e.g. 01F5A5CRKMZ5BCX9P1S4V990AM)")
    return ids


def _print_plan(plan, budget) -> None:
    from loader.progress import format_duration

    print(f"Backfill plan on {plan.today} (NEM), windows of up to {plan.days_per_request} days:")
    for site_id in dict.fromkeys([w.site_id for w in plan.windows] + [k[0] for k in plan.spans]):
        print(f"  site {site_id}")
        for stream in ("prices", "usage"):
            span = plan.spans.get((site_id, stream))
            if span is None:
                continue
            windows = plan.windows_of(site_id, stream)
            days = (span[1] - span[0]).days + 1
            print(
                f"    {stream}: {span[0]}..{span[1]} ({days} days, {plan.done_days.get((site_id, stream), 0)}"
                f" already complete): {len(windows)} requests"
            )
            for w in windows:
                print(f"      {w.start}..{w.end}")
    for skipped in plan.skipped:
        print(f"  site {skipped.site_id}: skipped — {skipped.reason}")
    usable = max(1, budget.limit - budget.reserve)
    at_least = (-(-plan.requests // usable) - 1) * budget.window if plan.requests else 0
    print(
        f"Total: {plan.requests} requests; at {usable} requests per {budget.window:.0f} s"
        f" ({budget.reserve} kept for the exporter) that takes at least {format_duration(at_least)}."
    )


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    args = _parser().parse_args(argv)

    import psycopg

    from amber.errors import AmberAuthError, AmberError
    from amber.secret import redact_url
    from loader.backfill import BackfillError, backfill_client, prepare_backfill, run_backfill
    from loader.migrate import MigrationError, migrate
    from loader.progress import make_progress
    from loader.windows import nem_today
    from runtime.client import service_settings
    from runtime.logs import configure_logging

    try:
        start = _start_date(args.start, nem_today(dt.datetime.now(dt.UTC)))
        site_ids = _site_ids(args.sites)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    loaded = service_settings(environ)
    if loaded is None:
        return 2
    settings, _demo = loaded
    configure_logging(settings.log_level)
    start = start if start is not None else settings.historical_start_date
    site_ids = site_ids or settings.site_ids
    where = redact_url(settings.database_url.reveal())

    client = backfill_client(settings)
    try:
        if args.dry_run:
            plan = prepare_backfill(client, settings.database_url, start_date=start, site_ids=site_ids)
            _print_plan(plan, client.budget)
            return 0
        migrate(settings.database_url, timezone=settings.timezone_name, writer_password=settings.writer_password,
                reader_password=settings.reader_password)
        result = run_backfill(
            client, settings.database_url, start_date=start, site_ids=site_ids, progress=make_progress(sys.stderr)
        )
    except (AmberAuthError, BackfillError, MigrationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except AmberError as exc:
        print(f"error: {exc}; run the backfill again later, it continues where it stopped", file=sys.stderr)
        return 1
    except psycopg.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(
            f"error: cannot reach the database at {where}: {first_line};"
            " check DATABASE_URL and that TimescaleDB is running",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("interrupted: completed windows are saved; run the backfill again to continue", file=sys.stderr)
        return 130
    finally:
        client.close()
    if not result.ok:
        # Isolated failures leave their windows open for the next run; exiting 0 lets the follow service
        # start (compose waits for this one-shot to succeed), and its gap healing covers recent days.
        print(
            f"warning: {result.windows_failed} window(s) could not be fetched and stay open;"
            " the next `amber-home backfill` retries them",
            file=sys.stderr,
        )
    return 0
