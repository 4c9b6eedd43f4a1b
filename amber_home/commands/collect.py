"""`amber-home collect`: keep the database current — prices as they settle, forecasts, late usage, and
gaps healed after any outage (the loop lives in loader/follow.py; its schedule in loader/schedule.py).

    amber-home collect          run until SIGTERM/SIGINT
    amber-home collect --once   one cycle (sites, current prices and recent actuals, forecasts, usage
                                re-fetch, gap healing, aggregates), then exit: 0 on success, 1 with one
                                line on stderr if anything failed, 2 for configuration and API-key errors

Configuration comes from the environment (docs/configuration.md): AMBER_API_KEY, AMBER_API_BASE_URL,
DATABASE_URL, AMBER_SITE_ID, AMBER_TIMEZONE, USAGE_REFETCH_DAYS, GAP_HEAL_DAYS, EXPORTER_REQUEST_SHARE
(kept in reserve for the exporter), LOG_LEVEL. The database is migrated at the first connection.
Without AMBER_API_KEY the collector runs only against a non-Amber base URL (the simulator), with the
simulator's demo key.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Mapping, Sequence

logger = logging.getLogger("amber_home.collect")

REQUEST_TIMEOUT = 20.0  # seconds; a poll must finish well inside its 5-minute interval
APPLICATION_NAME = "amber-home collect"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amber-home collect",
        description="Follow Amber prices, forecasts and usage into the database and heal gaps, until stopped. "
        "Configuration comes from the environment; see docs/configuration.md.",
    )
    parser.add_argument("--once", action="store_true", help="run one cycle and exit (0 on success)")
    return parser


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    args = _parser().parse_args(list(argv))

    from amber.errors import KEY_HELP_URL, AmberAuthError
    from amber.secret import api_location, redact_url
    from loader.bill import record_bill_settings
    from loader.follow import FatalError, Follower, FollowOptions
    from loader.migrate import MigrationError, migrate
    from runtime.client import DEMO_API_KEY, client_from_settings, service_settings
    from runtime.database import connect
    from runtime.logs import configure_logging
    from runtime.signals import stop_on_signals

    loaded = service_settings(environ)
    if loaded is None:
        return 2
    settings, demo = loaded
    configure_logging(settings.log_level)

    migrated = False

    def open_database():
        nonlocal migrated
        conn = connect(settings.database_url, application_name=APPLICATION_NAME, autocommit=True)
        if not migrated:
            try:
                applied = migrate(conn, timezone=settings.timezone_name, writer_password=settings.writer_password,
                                  reader_password=settings.reader_password)
                record_bill_settings(conn, settings)
            except BaseException:
                conn.close()
                raise
            if applied:
                logger.info("applied %d migration(s): %s", len(applied), ", ".join(applied))
            migrated = True
        return conn

    # Budget: keep the exporter's share in reserve. No retries or 429 waits inside the client: the loop
    # backs off on its own schedule, so one failure is one log line and its request count stays known.
    client = client_from_settings(
        settings,
        reserve=settings.exporter_request_share,
        timeout=REQUEST_TIMEOUT,
        max_retries=0,
        max_rate_limit_waits=0,
    )
    stop = threading.Event()
    follower = Follower(
        client,
        open_database,
        options=FollowOptions.from_settings(settings),
        sleeper=stop.wait,
        log_problems=not args.once,
    )
    try:
        if args.once:
            report = follower.run_cycle()
            if not report.ok:
                more = f" (and {len(report.problems) - 1} more problem(s))" if len(report.problems) > 1 else ""
                print(f"error: collect --once: {report.problems[0]}{more}", file=sys.stderr)
                return 1
            print(f"collected: {report.summary()}")
            return 0

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
