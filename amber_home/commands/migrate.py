"""`amber-home migrate`: apply the pending migrations in sql/ to DATABASE_URL (safe to run any time)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence

logger = logging.getLogger(__name__)


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    parser = argparse.ArgumentParser(prog="amber-home migrate", description=__doc__)
    parser.parse_args(argv)

    import psycopg

    from amber.secret import redact_url
    from loader.bill import record_bill_settings
    from loader.migrate import MigrationError, migrate
    from runtime.database import connect
    from runtime.logs import configure_logging
    from runtime.settings import load_settings_or_exit

    settings = load_settings_or_exit(environ)
    configure_logging(settings.log_level)
    where = redact_url(settings.database_url.reveal())
    try:
        applied = migrate(
            settings.database_url,
            timezone=settings.timezone_name,
            writer_password=settings.writer_password,
            reader_password=settings.reader_password,
        )
        with connect(settings.database_url, application_name="amber-home migrate") as conn:
            record_bill_settings(conn, settings)
    except MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except psycopg.OperationalError as exc:
        # libpq's message names host and port but never the password.
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: cannot reach the database at {where}: {first_line}; "
              "check DATABASE_URL and that TimescaleDB is running", file=sys.stderr)
        return 1
    if applied:
        print(f"applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        print("database is up to date")
    return 0
