"""`amber-home doctor`: check the configuration, the API key, the database, TimescaleDB and the
migrations, and print one table of what is OK and what to fix. Exit status 1 when anything failed.

The checks are maintenance/doctor.py's.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    parser = argparse.ArgumentParser(prog="amber-home doctor", description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)

    from maintenance.doctor import run

    return run(environ)
