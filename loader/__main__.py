"""Entry point of the loader, the writer service: `python -m loader COMMAND` or `amber-home COMMAND`.

    python -m loader migrate            apply the pending migrations in sql/ (safe to run any time)
    python -m loader backfill [--from YYYY-MM-DD] [--site ID ...] [--dry-run]
                                        load every site's price and usage history (resumable)
    python -m loader collect [--once]   follow prices, forecasts and usage; heal gaps (until SIGTERM/SIGINT)

Each command is a function `(argv, environ) -> exit status` that wires the loader's parts from the
environment (docs/configuration.md) through `runtime`: settings, logging, the Amber client, the database.
Exit statuses: 0 done; 1 the work failed (one line on stderr says why and what to do); 2 configuration,
options or the API key are wrong; 130 interrupted (backfill). Modules are imported inside each command,
so one command does not load what only another needs.

collect: the loop lives in loader/follow.py, its schedule in loader/schedule.py; configuration from
AMBER_API_KEY, AMBER_API_BASE_URL, DATABASE_URL, AMBER_SITE_ID, AMBER_TIMEZONE, USAGE_REFETCH_DAYS,
GAP_HEAL_DAYS, EXPORTER_REQUEST_SHARE (kept in reserve for the exporter), LOG_LEVEL. The database is
migrated at the first connection. Without AMBER_API_KEY it runs only against a non-Amber base URL (the
simulator), with the simulator's demo key. `--once` runs one cycle (sites, current prices and recent
actuals, forecasts, usage re-fetch, gap healing, aggregates): 0 on success, 1 with one line on stderr if
anything failed, 2 for configuration and API-key errors.

backfill: resumable, run it again after a failure or kill and it continues where it stopped (see
loader/backfill.py); paced by Amber's rate limit, keeping EXPORTER_REQUEST_SHARE requests per 5 minutes
for the exporter.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

    from amber.client import AmberClient
    from loader.follow import Follower
    from runtime.settings import Settings

logger = logging.getLogger("loader")

COLLECT_REQUEST_TIMEOUT = 20.0  # seconds; a poll must finish well inside its 5-minute interval
COLLECT_APPLICATION_NAME = "amber-home collect"
MIGRATE_APPLICATION_NAME = "amber-home migrate"
DATE_HELP = "use YYYY-MM-DD, e.g. 2024-07-01"


# --- migrate -------------------------------------------------------------------------------------------------


def migrate(argv: Sequence[str], environ: Mapping[str, str], *, prog: str = "amber-home migrate") -> int:
    """Apply the pending migrations in sql/ to DATABASE_URL (safe to run any time)."""
    parser = argparse.ArgumentParser(
        prog=prog, description=f"`{prog}`: apply the pending migrations in sql/ to DATABASE_URL (safe to run any time)."
    )
    parser.parse_args(argv)

    import psycopg

    from loader.bill import record_bill_settings
    from loader.migrate import MigrationError
    from runtime.database import connect, unreachable
    from runtime.logs import configure_logging
    from runtime.settings import load_settings_or_exit

    settings = load_settings_or_exit(environ)
    configure_logging(settings.log_level)
    try:
        applied = _apply_migrations(settings, settings.database_url)
        with connect(settings.database_url, application_name=MIGRATE_APPLICATION_NAME) as conn:
            record_bill_settings(conn, settings)
    except MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except psycopg.OperationalError as exc:
        print(f"error: {unreachable(settings.database_url, exc)}", file=sys.stderr)
        return 1
    if applied:
        print(f"applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        print("database is up to date")
    return 0


def _apply_migrations(settings: Settings, target: Any) -> list[str]:
    """loader.migrate.migrate on `target` (a URL, or an open autocommit connection) with the settings'
    time zone and role passwords; the migration names it applied."""
    from loader.migrate import migrate as apply_migrations

    return apply_migrations(target, timezone=settings.timezone_name, writer_password=settings.writer_password,
                            reader_password=settings.reader_password)  # fmt: skip


# --- backfill ------------------------------------------------------------------------------------------------


def _backfill_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
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


def backfill(argv: Sequence[str], environ: Mapping[str, str], *, prog: str = "amber-home backfill") -> int:
    """Load every site's price and usage history into the database; resumable."""
    args = _backfill_parser(prog).parse_args(argv)

    from amber.nemtime import nem_today
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
    return _run_backfill(settings, start, site_ids or settings.site_ids, dry_run=args.dry_run)


def _run_backfill(settings: Settings, start: dt.date | None, site_ids: tuple[str, ...] | None, *, dry_run: bool) -> int:
    import psycopg

    from amber.errors import AmberAuthError, AmberError
    from loader.backfill import BackfillError, backfill_client, prepare_backfill, run_backfill
    from loader.migrate import MigrationError
    from loader.progress import make_progress
    from runtime.database import unreachable

    client = backfill_client(settings)
    try:
        if dry_run:
            plan = prepare_backfill(client, settings.database_url, start_date=start, site_ids=site_ids)
            _print_plan(plan, client.budget)
            return 0
        _apply_migrations(settings, settings.database_url)
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
        print(f"error: {unreachable(settings.database_url, exc)}", file=sys.stderr)
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


# --- collect -------------------------------------------------------------------------------------------------


def _collect_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Follow Amber prices, forecasts and usage into the database and heal gaps, until stopped. "
        "Configuration comes from the environment; see docs/configuration.md.",
    )
    parser.add_argument("--once", action="store_true", help="run one cycle and exit (0 on success)")
    return parser


def collect(argv: Sequence[str], environ: Mapping[str, str], *, prog: str = "amber-home collect") -> int:
    """Keep the database current — prices as they settle, forecasts, late usage, gaps healed — until
    SIGTERM/SIGINT, or for one cycle with --once."""
    args = _collect_parser(prog).parse_args(list(argv))

    from amber.errors import KEY_HELP_URL, AmberAuthError
    from loader.follow import FatalError
    from loader.migrate import MigrationError
    from runtime.client import service_settings
    from runtime.logs import configure_logging

    loaded = service_settings(environ)
    if loaded is None:
        return 2
    settings, demo = loaded
    configure_logging(settings.log_level)
    client = _collect_client(settings)
    stop = threading.Event()
    follower = _follower(settings, client, stop, once=args.once)
    try:
        return _collect_once(follower) if args.once else _collect_until_stopped(follower, settings, demo, stop)
    except AmberAuthError as exc:
        print(
            f"error: Amber refused the API key ({exc}). Create a key at {KEY_HELP_URL} and set AMBER_API_KEY "
            "(or AMBER_API_KEY_FILE), then start the collector again",
            file=sys.stderr,
        )
        return 2
    except FatalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        follower.close()
        client.close()


def _collect_client(settings: Settings) -> AmberClient:
    """Budget: keep the exporter's share in reserve. No retries or 429 waits inside the client: the loop
    backs off on its own schedule, so one failure is one log line and its request count stays known."""
    from runtime.client import client_from_settings

    return client_from_settings(
        settings,
        reserve=settings.exporter_request_share,
        timeout=COLLECT_REQUEST_TIMEOUT,
        max_retries=0,
        max_rate_limit_waits=0,
    )


def _migrating_connector(settings: Settings) -> Callable[[], psycopg.Connection]:
    """Opens the collector's connections; the first one also migrates the database and records the bill
    settings (a failure there closes it and is raised, and the next connection tries again)."""
    from loader.bill import record_bill_settings
    from runtime.database import connect

    migrated = False

    def open_database() -> psycopg.Connection:
        nonlocal migrated
        conn = connect(settings.database_url, application_name=COLLECT_APPLICATION_NAME, autocommit=True)
        if not migrated:
            try:
                applied = _apply_migrations(settings, conn)
                record_bill_settings(conn, settings)
            except BaseException:
                conn.close()
                raise
            if applied:
                logger.info("applied %d migration(s): %s", len(applied), ", ".join(applied))
            migrated = True
        return conn

    return open_database


def _follower(settings: Settings, client: AmberClient, stop: threading.Event, *, once: bool) -> Follower:
    from loader.follow import Follower, FollowOptions

    return Follower(
        client,
        _migrating_connector(settings),
        options=FollowOptions.from_settings(settings),
        sleeper=stop.wait,
        log_problems=not once,
    )


def _collect_once(follower: Follower) -> int:
    report = follower.run_cycle()
    if not report.ok:
        more = f" (and {len(report.problems) - 1} more problem(s))" if len(report.problems) > 1 else ""
        print(f"error: collect --once: {report.problems[0]}{more}", file=sys.stderr)
        return 1
    print(f"collected: {report.summary()}")
    return 0


def _collect_until_stopped(follower: Follower, settings: Settings, demo: bool, stop: threading.Event) -> int:
    from amber.secret import api_location, redact_url
    from runtime.client import DEMO_API_KEY
    from runtime.signals import stop_on_signals

    stop_on_signals(stop, logger)
    logger.info(
        "collecting from %s%s into %s (usage re-fetch %d day(s), gap healing %d day(s), %d request(s) per "
        "5 minutes kept for the exporter)",
        api_location(settings.api_base_url), f" (demo key {DEMO_API_KEY!r})" if demo else "",
        redact_url(settings.database_url.reveal()), settings.usage_refetch_days, settings.gap_heal_days,
        settings.exporter_request_share,
    )  # fmt: skip
    follower.run(stop)
    logger.info("collector stopped")
    return 0


# --- dispatch ------------------------------------------------------------------------------------------------

COMMANDS: dict[str, Callable[..., int]] = {"collect": collect, "backfill": backfill, "migrate": migrate}


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="python -m loader",
        description="The loader (writer service): migrate the database, backfill the history, collect new data."
        " Configuration comes from the environment (see docs/configuration.md).",
    )
    parser.add_argument("command", choices=COMMANDS, help="collect, backfill or migrate; COMMAND --help for more")
    args = parser.parse_args(argv[:1])
    return COMMANDS[args.command](argv[1:], environ, prog=f"{parser.prog} {args.command}")


if __name__ == "__main__":
    sys.exit(main())
