"""`amber-home restore FILE [--yes]`: restore an `amber-home backup` archive into DATABASE_URL.

The archive is restored into a new database, checked against FILE.manifest.json (rows and sums; the
aggregates are refreshed where they differ) and only then swapped in: a bad or truncated archive, a
pg_restore error or a failed check leaves DATABASE_URL's database exactly as it was. The database must be
empty, or --yes replaces it: the old one is renamed (…_before_restore_…) and kept until you drop it. Stop
the loader, exporter and Grafana first: the restore refuses while other clients are connected. The
TimescaleDB procedure runs as documented (timescaledb_pre_restore, pg_restore, timescaledb_post_restore).
pg_restore must be at least the server's major version: it is taken from AMBER_PG_BIN or PATH (with
Docker Compose, see `amber-home backup --help` for wrappers running the database container's own).
With Docker Compose: docker compose stop backfill loader exporter grafana; restore; docker compose up -d.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    parser = argparse.ArgumentParser(prog="amber-home restore", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archive", type=Path, metavar="FILE", help="archive written by amber-home backup")
    parser.add_argument("--yes", "-y", action="store_true",
                        help="replace a database that is not empty (it is renamed and kept, not dropped)")
    args = parser.parse_args(argv)

    import psycopg

    from amber.config import load_settings_or_exit
    from amber.secret import redact_url
    from amber_home.backup import BackupError, manifest_path, restore
    from amber_home.commands.backup import table_lines
    from amber_home.logs import configure_logging

    settings = load_settings_or_exit(environ)
    configure_logging(settings.log_level)
    where = redact_url(settings.database_url.reveal())
    try:
        result = restore(settings.database_url, args.archive, replace=args.yes, environ=environ)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        # A statement the server refused (e.g. a role without the needed privileges); libpq never puts the
        # password in its messages.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: the database refused the restore: {first}", file=sys.stderr)
        return 1
    how = (f"replaced the database; the old one is kept as {result.previous}, drop it when satisfied"
           if result.replaced else "empty database")
    print(f"restored {args.archive} into {where} ({how}; timescaledb_pre_restore, pg_restore, "
          "timescaledb_post_restore)")
    for line in table_lines(result.restored.tables):
        print(line)
    if result.manifest is None:
        print(f"not verified: no manifest {manifest_path(args.archive).name} next to the archive; "
              "aggregates refreshed from the restored rows")
        return 0
    checked = len(result.manifest.tables)
    hypertables = ", ".join(result.manifest.hypertables) or "none"
    print(f"verified against the manifest: rows and sums of {checked} tables match; hypertables: {hypertables}")
    if result.stale_aggregates:
        print(f"aggregates refreshed ({', '.join(result.stale_aggregates)} were out of date in the backup)")
    elif result.refreshed:
        print("aggregates refreshed; they now match the backup's")
    elif result.manifest.aggregates:
        print(f"aggregates match the backup's ({', '.join(result.manifest.aggregates)})")
    return 0
