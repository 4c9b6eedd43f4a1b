"""The Amber client of a service, built from Settings alike by the loader, the exporter and the tools.

    loaded = service_settings(os.environ)       # (settings with a key to use, demo?), or None: exit 2
    client = client_from_settings(settings, reserve=12, timeout=20.0)

Demo mode: without AMBER_API_KEY, a base URL other than Amber's (the simulator, `amber-home simulate`)
gets the simulator's key, DEMO_API_KEY; against Amber itself a missing key is a configuration error.
The key is the simulator's default Bearer token; tests/runtime/test_client.py checks that both agree.
"""

from __future__ import annotations

import dataclasses
import socket
import sys
from collections.abc import Mapping
from urllib.parse import urlsplit

from amber.client import DEFAULT_BASE_URL, AmberClient
from amber.ratelimit import RateBudget
from amber.secret import Secret
from runtime.settings import ConfigError, Settings, load_settings

__all__ = ["DEMO_API_KEY", "NO_KEY", "client_from_settings", "resolves", "service_settings", "with_demo_key"]

NO_KEY = (
    "AMBER_API_KEY is not set: create a key at app.amber.com.au/developers and put it in .env,"
    " or run the demo (no key): docker compose --profile demo up -d (or ./scripts/stack up natively)"
)

DEMO_API_KEY = "sim-key"  # the simulator's default Bearer token


def with_demo_key(settings: Settings) -> tuple[Settings, bool]:
    """(settings with a key to use, whether it is the demo key). Without AMBER_API_KEY, a base URL other
    than Amber's (the simulator) gets the simulator's demo key; against Amber it is a ConfigError."""
    if settings.api_key is not None:
        return settings, False
    if settings.api_base_url.rstrip("/") == DEFAULT_BASE_URL:
        raise ConfigError([f"{NO_KEY}; or point AMBER_API_BASE_URL at a simulator (amber-home simulate)"])
    return dataclasses.replace(settings, api_key=Secret(DEMO_API_KEY)), True


def service_settings(environ: Mapping[str, str]) -> tuple[Settings, bool] | None:
    """For the services that call the Amber API (collect, backfill, export): (settings with an API key to
    use, whether it is the simulator's demo key), or None after printing what is wrong to stderr — every
    invalid variable, or the missing key — so the caller exits 2."""
    settings = load_settings(environ)
    if settings is None:
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


def client_from_settings(settings: Settings, *, reserve: int = 0, **options) -> AmberClient:
    """A client for `settings`' key and base URL whose budget keeps `reserve` requests per window for
    the other process on the same account (the loader keeps the exporter's share). Extra `options`
    go to AmberClient (tests inject clock, sleeper and transport)."""
    if settings.api_key is None:
        raise ConfigError([NO_KEY])
    clock = options.get("clock")
    sleeper = options.get("sleeper")
    budget_timing = {k: v for k, v in (("clock", clock), ("sleeper", sleeper)) if v is not None}
    budget = options.pop("budget", None) or RateBudget(reserve=reserve, **budget_timing)
    return AmberClient(settings.api_key.reveal(), settings.api_base_url, budget=budget, **options)
