"""Models to database rows: pure functions, no I/O.

    price_row(site_id, interval, fetched_at)     -> tuple in PRICE_COLUMNS order     (table prices)
    forecast_row(site_id, interval, issued_at)   -> tuple in FORECAST_COLUMNS order  (table forecasts)
    usage_row(site_id, usage, fetched_at)        -> tuple in USAGE_COLUMNS order     (table usage)
    price_values / forecast_values / usage_values(model) -> the same without the per-batch constants
                                                    (site_id, fetched_at / issued_at): *_VALUE_COLUMNS
    site_row(site), channel_rows(site)           -> tuples for sites / channels

interval_start is amber.nemtime.aligned_start(startTime): Amber's startTime is the previous interval's
endTime plus one second (10:00:01 for the interval 10:00-10:05), so each stored start equals the previous
interval_end. A startTime already on a boundary (second 0, as some API rows and hand-written fixtures
have) is kept as given. nem_time and the NEM date are stored as the API gives them.

Exact numbers: the parser reads JSON numbers as floats. Python's repr() of a float parsed from JSON is
the shortest text that parses back to the same float, which for the API's decimals (26.60356, -0.0123,
10.782863) is the text Amber sent. Numeric columns therefore carry that TEXT (a str; `exact()`), and the
database parses it into numeric: never float arithmetic, never Decimal(value) (the binary expansion,
26.603560000000001...), so the database holds the API's decimal exactly and SQL sums are exact. (Text
rather than Decimal objects because that is also ~4x cheaper to produce and send; see bench/README.md.)

`raw` is the API's object exactly as received (a dict); the writer sends it as jsonb.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from amber.models import (
    ACTUAL_INTERVAL,
    CURRENT_INTERVAL,
    FORECAST_INTERVAL,
    PriceInterval,
    Site,
    TariffInformation,
    Usage,
)
from amber.nemtime import aligned_start

__all__ = [
    "CHANNEL_COLUMNS",
    "FORECAST_COLUMNS",
    "FORECAST_VALUE_COLUMNS",
    "PRICE_COLUMNS",
    "PRICE_VALUE_COLUMNS",
    "SITE_COLUMNS",
    "USAGE_COLUMNS",
    "USAGE_VALUE_COLUMNS",
    "channel_rows",
    "exact",
    "forecast_row",
    "forecast_values",
    "is_forecast",
    "price_rank",
    "price_row",
    "price_values",
    "site_row",
    "usage_row",
    "usage_values",
]

PRICE_COLUMNS = (
    "site_id", "channel_type", "interval_start", "interval_end", "nem_time", "nem_date", "duration_minutes",
    "per_kwh", "spot_per_kwh", "renewables", "descriptor", "spike_status", "estimate", "interval_type",
    "tariff_period", "tariff_season", "tariff_block", "demand_window",
    "advanced_price_low", "advanced_price_predicted", "advanced_price_high", "range_min", "range_max",
    "raw", "fetched_at",
)  # fmt: skip
FORECAST_COLUMNS = (
    "site_id", "channel_type", "interval_start", "interval_end", "issued_at", "nem_time", "nem_date",
    "duration_minutes", "per_kwh", "spot_per_kwh", "renewables", "descriptor", "spike_status",
    "tariff_period", "tariff_season", "tariff_block", "demand_window",
    "advanced_price_low", "advanced_price_predicted", "advanced_price_high", "range_min", "range_max",
    "raw",
)  # fmt: skip
USAGE_COLUMNS = (
    "site_id", "channel_identifier", "channel_type", "interval_start", "interval_end", "nem_time", "nem_date",
    "duration_minutes", "kwh", "cost", "quality", "per_kwh", "spot_per_kwh", "renewables", "descriptor",
    "spike_status", "tariff_period", "tariff_season", "tariff_block", "demand_window", "raw", "fetched_at",
)  # fmt: skip
# The same without the values every row of a batch shares (site_id, fetched_at / issued_at): what db.py stages.
PRICE_VALUE_COLUMNS = PRICE_COLUMNS[1:-1]
FORECAST_VALUE_COLUMNS = tuple(c for c in FORECAST_COLUMNS if c not in ("site_id", "issued_at"))
USAGE_VALUE_COLUMNS = USAGE_COLUMNS[1:-1]
SITE_COLUMNS = ("site_id", "nmi", "network", "status", "active_from", "closed_on", "interval_length_minutes", "raw")
CHANNEL_COLUMNS = ("site_id", "identifier", "type", "tariff")

_NO_TARIFF = (None, None, None, None)
# Precedence of interval types in `prices` (higher wins; equal updates in place). db.py renders the same
# ranking in SQL; tests check that the two agree.
_PRICE_RANKS = {ACTUAL_INTERVAL: 2, CURRENT_INTERVAL: 1}


def exact(value: float | Decimal | None) -> str | None:
    """The decimal text the API sent for a JSON number (see the module docstring); None stays None."""
    if value is None:
        return None
    return str(value)  # float: repr, the shortest round-trip text; int and Decimal: their exact text


def is_forecast(interval: PriceInterval) -> bool:
    """Forecast intervals belong in `forecasts`; every other type (Actual, Current, or a type Amber adds
    later, at the lowest precedence) belongs in `prices`."""
    return interval.interval_type == FORECAST_INTERVAL


def price_rank(interval_type: str) -> int:
    """ActualInterval 2 > CurrentInterval 1 > anything else 0."""
    return _PRICE_RANKS.get(interval_type, 0)


def _tariff(info: TariffInformation | None) -> tuple:
    if info is None:
        return _NO_TARIFF
    return (info.period, info.season, exact(info.block), info.demand_window)


def _price_tail(interval: PriceInterval) -> tuple:
    """advanced_price_low, _predicted, _high, range_min, range_max."""
    advanced = interval.advanced_price
    band = interval.range
    return (
        *((exact(advanced.low), exact(advanced.predicted), exact(advanced.high)) if advanced else (None, None, None)),
        *((exact(band.min), exact(band.max)) if band else (None, None)),
    )


# Required numbers are never None, so they go through str() directly (what exact() does for a value).


def price_values(interval: PriceInterval) -> tuple:
    """A `prices` row without site_id and fetched_at (PRICE_VALUE_COLUMNS order)."""
    return (
        interval.channel_type,
        aligned_start(interval.start_time),
        interval.end_time,
        interval.nem_time,
        interval.date,
        interval.duration,
        str(interval.per_kwh),
        str(interval.spot_per_kwh),
        str(interval.renewables),
        interval.descriptor,
        interval.spike_status,
        interval.estimate,
        interval.interval_type,
        *_tariff(interval.tariff_information),
        *_price_tail(interval),
        interval.raw,
    )


def price_row(site_id: str, interval: PriceInterval, fetched_at: dt.datetime) -> tuple:
    """One `prices` row (PRICE_COLUMNS order)."""
    return (site_id, *price_values(interval), fetched_at)


def forecast_values(interval: PriceInterval) -> tuple:
    """A `forecasts` row without site_id and issued_at (FORECAST_VALUE_COLUMNS order)."""
    return (
        interval.channel_type,
        aligned_start(interval.start_time),
        interval.end_time,
        interval.nem_time,
        interval.date,
        interval.duration,
        str(interval.per_kwh),
        str(interval.spot_per_kwh),
        str(interval.renewables),
        interval.descriptor,
        interval.spike_status,
        *_tariff(interval.tariff_information),
        *_price_tail(interval),
        interval.raw,
    )


def forecast_row(site_id: str, interval: PriceInterval, issued_at: dt.datetime) -> tuple:
    """One `forecasts` row (FORECAST_COLUMNS order; horizon_minutes is generated by the table)."""
    values = forecast_values(interval)
    return (site_id, *values[:3], issued_at, *values[3:])


def usage_values(usage: Usage) -> tuple:
    """A `usage` row without site_id and fetched_at (USAGE_VALUE_COLUMNS order)."""
    return (
        usage.channel_identifier,
        usage.channel_type,
        aligned_start(usage.start_time),
        usage.end_time,
        usage.nem_time,
        usage.date,
        usage.duration,
        str(usage.kwh),
        str(usage.cost),
        usage.quality,
        str(usage.per_kwh),
        str(usage.spot_per_kwh),
        str(usage.renewables),
        usage.descriptor,
        usage.spike_status,
        *_tariff(usage.tariff_information),
        usage.raw,
    )


def usage_row(site_id: str, usage: Usage, fetched_at: dt.datetime) -> tuple:
    """One `usage` row (USAGE_COLUMNS order); kwh and cost keep every decimal Amber sent."""
    return (site_id, *usage_values(usage), fetched_at)


def site_row(site: Site) -> tuple:
    """One `sites` row (SITE_COLUMNS order)."""
    return (
        site.id,
        site.nmi,
        site.network,
        site.status,
        site.active_from,
        site.closed_on,
        site.interval_length,
        site.raw,
    )


def channel_rows(site: Site) -> list[tuple]:
    """The site's `channels` rows (CHANNEL_COLUMNS order)."""
    return [(site.id, channel.identifier, channel.type, channel.tariff) for channel in site.channels]
