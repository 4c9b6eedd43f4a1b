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
from collections.abc import Mapping, Sequence
from pathlib import Path


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    parser = argparse.ArgumentParser(prog="amber-home backup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", "-o", type=Path, metavar="FILE",
                        help="archive to write (default: amber-home-<UTC time>.dump here); "
                        "its manifest goes to FILE.manifest.json")
    args = parser.parse_args(argv)

    from maintenance.backup import run

    return run(args.output, environ)
