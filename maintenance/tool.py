"""The frame backup and restore run in, as `amber-home backup` / `amber-home restore`.

    run_tool("backup", environ, job) -> exit status

Settings are loaded (or the process exits with their problems), logging is configured, then
`job(settings)` runs and returns the exit status. What stops it is one line on stderr and exit status 1:
a BackupError (its message says what to do) or a statement the server refused (e.g. a role without the
needed privileges; libpq never puts the password in its messages).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import psycopg

from amber.secret import first_line
from maintenance.postgres import BackupError

if TYPE_CHECKING:
    from runtime.settings import Settings

__all__ = ["run_tool"]


def run_tool(verb: str, environ: Mapping[str, str], job: Callable[[Settings], int]) -> int:
    from runtime.logs import configure_logging
    from runtime.settings import load_settings_or_exit

    settings = load_settings_or_exit(environ)
    configure_logging(settings.log_level)
    try:
        return job(settings)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except psycopg.Error as exc:
        print(f"error: the database refused the {verb}: {first_line(exc)}", file=sys.stderr)
    return 1
