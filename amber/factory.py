"""Build the shared Amber client from Settings, so the loader and the exporter configure it alike."""

from __future__ import annotations

from amber.client import AmberClient
from amber.config import ConfigError, Settings
from amber.ratelimit import RateBudget

NO_KEY = (
    "AMBER_API_KEY is not set: create a key at app.amber.com.au/developers and put it in .env,"
    " or run the demo (no key) with ./scripts/stack up, which starts the simulator"
)


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
