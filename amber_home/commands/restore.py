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
from collections.abc import Mapping, Sequence
from pathlib import Path


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    parser = argparse.ArgumentParser(prog="amber-home restore", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archive", type=Path, metavar="FILE", help="archive written by amber-home backup")
    parser.add_argument("--yes", "-y", action="store_true",
                        help="replace a database that is not empty (it is renamed and kept, not dropped)")
    args = parser.parse_args(argv)

    from maintenance.restore import run

    return run(args.archive, args.yes, environ)
