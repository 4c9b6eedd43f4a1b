"""Start-up shared by the services that call the Amber API (collect, export, backfill)."""

from __future__ import annotations

import socket
import sys
from collections.abc import Mapping
from urllib.parse import urlsplit

from amber.config import ConfigError, Settings
from amber.factory import NO_KEY, with_demo_key


def service_settings(environ: Mapping[str, str]) -> tuple[Settings, bool] | None:
    """(settings with an API key to use, whether it is the simulator's demo key), or None after printing
    what is wrong to stderr — every invalid variable, or the missing key — so the caller exits 2."""
    try:
        settings = Settings.from_env(environ)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None
    try:
        settings, demo = with_demo_key(settings)
    except ConfigError as exc:
        print(f"error: {exc.problems[0]}", file=sys.stderr)
        return None
    if demo and settings.api_base_url == settings.demo_api_base_url and not resolves(settings.api_base_url):
        # compose.yaml names the simulator, which runs only with the demo profile.
        print(f"error: {NO_KEY} (no simulator answers at {settings.api_base_url})", file=sys.stderr)
        return None
    return settings, demo


def resolves(url: str) -> bool:
    """Whether the host of `url` has an address (a Compose service that is not running has none)."""
    try:
        socket.getaddrinfo(urlsplit(url).hostname or "", None)
    except OSError:
        return False
    return True
