"""`amber-home` — one console script for every Amber-Home service and tool.

It parses the command name and dispatches; nothing else. Each subcommand is a function
`(argv, environ) -> int` that parses its own options: a service's (the loader's commands in
loader/__main__.py, the exporter's main in exporter/__main__.py) or a tool's. Its module is imported only
when chosen, so `amber-home simulate` never loads the database driver.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Mapping, Sequence

# name → ("module:function", one-line help); the function defaults to main
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "migrate": ("loader.__main__:migrate", "apply the database migrations in sql/ (idempotent)"),
    "simulate": ("amber_home.commands.simulate", "run the Amber API simulator on loopback (no API key needed)"),
    "doctor": ("amber_home.commands.doctor", "check the API key, database, TimescaleDB and migrations"),
    "export": ("exporter.__main__:main", "run the Prometheus exporter and alert relay"),
    "backfill": ("loader.__main__:backfill", "load the price and usage history into the database (resumable)"),
    "backup": ("amber_home.commands.backup", "write a pg_dump archive of the database and its manifest"),
    "restore": ("amber_home.commands.restore", "restore a backup archive into an empty database and verify it"),
    "collect": ("loader.__main__:collect", "follow prices, forecasts and usage into the database; heal gaps"),
    "query": ("amber_home.commands.query", "read-only queries: summary, costs, prices, usage, sql"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="amber-home",
        description="Self-hosted energy observability for Amber Electric customers. "
        "Configuration comes from the environment (see docs/configuration.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_target, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    environ = os.environ if environ is None else environ
    parser = build_parser()
    # Parse only the command name here; the chosen module parses the rest with its own options.
    args = parser.parse_args(argv[:1])
    module_name, _, function = SUBCOMMANDS[args.command][0].partition(":")
    command = getattr(importlib.import_module(module_name), function or "main")
    return int(command(argv[1:], environ) or 0)


if __name__ == "__main__":
    sys.exit(main())
