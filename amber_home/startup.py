"""Start-up shared by the services that call the Amber API (collect, export, backfill)."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from amber.config import ConfigError, Settings
from amber.factory import with_demo_key


def service_settings(environ: Mapping[str, str]) -> tuple[Settings, bool] | None:
    """(settings with an API key to use, whether it is the simulator's demo key), or None after printing
    what is wrong to stderr — every invalid variable, or the missing key — so the caller exits 2."""
    try:
        settings = Settings.from_env(environ)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None
    try:
        return with_demo_key(settings)
    except ConfigError as exc:
        print(f"error: {exc.problems[0]}", file=sys.stderr)
        return None
