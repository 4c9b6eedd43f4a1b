"""Build the shared Amber client from Settings, so the loader and the exporter configure it alike."""

from __future__ import annotations

import dataclasses

from amber.client import DEFAULT_BASE_URL, AmberClient
from amber.config import ConfigError, Settings
from amber.ratelimit import RateBudget
from amber.secret import Secret

NO_KEY = (
    "AMBER_API_KEY is not set: create a key at app.amber.com.au/developers and put it in .env,"
    " or run the demo (no key): docker compose --profile demo up -d (or ./scripts/stack up natively)"
)


DEMO_API_KEY = "sim-key"  # the simulator's default Bearer token (simulator/config.py)


def with_demo_key(settings: Settings) -> tuple[Settings, bool]:
    """(settings with a key to use, whether it is the demo key). Without AMBER_API_KEY, a base URL other
    than Amber's (the simulator) gets the simulator's demo key; against Amber it is a ConfigError."""
    if settings.api_key is not None:
        return settings, False
    if settings.api_base_url.rstrip("/") == DEFAULT_BASE_URL:
        raise ConfigError([f"{NO_KEY}; or point AMBER_API_BASE_URL at a simulator (amber-home simulate)"])
    return dataclasses.replace(settings, api_key=Secret(DEMO_API_KEY)), True


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
