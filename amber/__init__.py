"""Everything about Amber and time that is not a service, shared by the loader and the exporter.

`client` is the only module that talks HTTP; `parse` is pure; `models` holds frozen dataclasses and the
site rules (interval length, live or not); `errors` draws the exception tree; `ratelimit` is the one
rate-limit policy (the account's request budget every caller asks); `nemtime` is NEM time and the
interval grid; `polling` when each service polls for a new price; `secret` every piece of redaction;
`advisor`, `plan` and `tariffs` the pure money rules. Imports nothing of ours outside amber/.
"""

from amber.errors import (
    AmberAuthError,
    AmberBadRequestError,
    AmberError,
    AmberNotFoundError,
    AmberRateLimitedError,
    AmberResponseError,
    AmberUnavailableError,
)
from amber.models import (
    ACTUAL_INTERVAL,
    CHANNEL_TYPES,
    CONTROLLED_LOAD,
    CURRENT_INTERVAL,
    FEED_IN,
    FORECAST_INTERVAL,
    GENERAL,
    INTERVAL_TYPES,
    PRICE_DESCRIPTORS,
    RENEWABLE_DESCRIPTORS,
    RENEWABLE_TYPES,
    RESOLUTIONS,
    SITE_STATUSES,
    SPIKE_STATUSES,
    STATES,
    TARIFF_PERIODS,
    TARIFF_SEASONS,
    USAGE_QUALITIES,
    USAGE_TYPE,
    AdvancedPrice,
    Channel,
    PriceInterval,
    Range,
    Renewable,
    Site,
    TariffInformation,
    Usage,
)
from amber.parse import (
    ParseWarning,
    ParseWarnings,
    parse_price_intervals,
    parse_renewables,
    parse_sites,
    parse_usage,
)
from amber.ratelimit import RateBudget, RateLimitHeaders, parse_rate_limit_headers

__all__ = [
    "ACTUAL_INTERVAL",
    "CHANNEL_TYPES",
    "CONTROLLED_LOAD",
    "CURRENT_INTERVAL",
    "DEFAULT_BASE_URL",
    "ENDPOINTS",
    "FEED_IN",
    "FORECAST_INTERVAL",
    "GENERAL",
    "INTERVAL_TYPES",
    "MAX_INTERVALS",
    "MAX_RANGE_DAYS",
    "OUTCOMES",
    "PRICE_DESCRIPTORS",
    "RENEWABLE_DESCRIPTORS",
    "RENEWABLE_TYPES",
    "RESOLUTIONS",
    "SITE_STATUSES",
    "SPIKE_STATUSES",
    "STATES",
    "TARIFF_PERIODS",
    "TARIFF_SEASONS",
    "USAGE_QUALITIES",
    "USAGE_TYPE",
    "AdvancedPrice",
    "AmberAuthError",
    "AmberBadRequestError",
    "AmberClient",
    "AmberError",
    "AmberNotFoundError",
    "AmberRateLimitedError",
    "AmberResponseError",
    "AmberUnavailableError",
    "Channel",
    "ParseWarning",
    "ParseWarnings",
    "PriceInterval",
    "Range",
    "RateBudget",
    "RateLimitHeaders",
    "Renewable",
    "Site",
    "TariffInformation",
    "Usage",
    "parse_price_intervals",
    "parse_rate_limit_headers",
    "parse_renewables",
    "parse_sites",
    "parse_usage",
]

# The client pulls in httpx (about a second of start-up on a Pi); commands that only read settings or
# the database never need it, so it is imported on first use.
_CLIENT_NAMES = frozenset({"DEFAULT_BASE_URL", "ENDPOINTS", "MAX_INTERVALS", "MAX_RANGE_DAYS", "OUTCOMES", "AmberClient"})


def __getattr__(name: str):
    if name in _CLIENT_NAMES:
        from amber import client

        return getattr(client, name)
    raise AttributeError(f"module 'amber' has no attribute {name!r}")
