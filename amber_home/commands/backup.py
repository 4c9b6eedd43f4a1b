"""`amber-home backup [--output FILE]`: a pg_dump custom-format archive of DATABASE_URL and its manifest.

The archive (default amber-home-YYYYMMDDTHHMMSSZ.dump, UTC, in the current directory) restores with
`amber-home restore FILE`, which checks the restored rows against FILE.manifest.json (row counts and
sums, taken in the same snapshot as the dump). The loader may keep running meanwhile.

pg_dump must be at least the server's major version (PostgreSQL 17 for Amber-Home's TimescaleDB). It is
taken from AMBER_PG_BIN (a directory), else from PATH. With Docker Compose, the database container has
the right one: point AMBER_PG_BIN at a directory holding this script as `pg_dump` (and the same with
pg_restore for restores), and run amber-home on the host against the published port
(DATABASE_URL=postgresql://amber:PASSWORD@127.0.0.1:5432/amber; the port must be 5432 on both sides):

    #!/bin/sh
    exec docker compose -f /path/to/amber-home/compose.yaml exec -T -e PGPASSWORD timescaledb pg_dump "$@"

The password reaches pg_dump as PGPASSWORD, never on its command line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

SHOWN_TABLES = ("prices", "usage", "forecasts")


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def table_lines(tables: Mapping[str, Mapping], names: Sequence[str] = SHOWN_TABLES) -> list[str]:
    """'  prices      315,360 rows  2025-01-01 … 2025-12-31' for each of `names` present."""
    lines = []
    for name in names:
        info = tables.get(name)
        if info is None:
            continue
        span = ""
        if info.get("first"):
            span = f"  {info['first'][:16].replace('T', ' ')} … {info['last'][:16].replace('T', ' ')} UTC"
        lines.append(f"  {name:<10} {info['rows']:>11,} rows{span}")
    return lines


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    parser = argparse.ArgumentParser(prog="amber-home backup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", "-o", type=Path, metavar="FILE",
                        help="archive to write (default: amber-home-<UTC time>.dump here); "
                        "its manifest goes to FILE.manifest.json")
    args = parser.parse_args(argv)

    import psycopg

    from amber.config import load_settings_or_exit
    from amber.secret import redact_url
    from amber_home.backup import BackupError, backup, default_archive_name
    from amber_home.logs import configure_logging

    settings = load_settings_or_exit(environ)
    configure_logging(settings.log_level)
    output = args.output or Path(default_archive_name(dt.datetime.now(dt.timezone.utc)))
    try:
        result = backup(settings.database_url, output, environ=environ)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        # A statement the server refused (e.g. a role without the needed privileges); libpq never puts the
        # password in its messages.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: the database refused the backup: {first}", file=sys.stderr)
        return 1
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    manifest = result.manifest
    print(f"backup of {redact_url(settings.database_url.reveal())} written to {result.archive} "
          f"({human_bytes(manifest.bytes)}; PostgreSQL {manifest.server_version}, "
          f"TimescaleDB {manifest.timescaledb_version}, pg_dump {manifest.pg_dump_version})")
    for line in table_lines(manifest.tables):
        print(line)
    print(f"manifest (row counts and sums, checked by amber-home restore): {result.manifest_file}")
    return 0
