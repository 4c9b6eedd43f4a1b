"""Typed, immutable views of Amber API objects.

Names follow the API's fields in snake_case; units are the API's (c/kWh, cents, kWh, percent,
minutes). All datetimes are timezone-aware and in UTC (`nem_time` is the same instant as `end_time`;
the original "+10:00" text stays in `raw`). Enum-like fields are plain `str` so a value Amber adds
tomorrow is carried through instead of stopping ingestion; the frozensets below list the values
known today. `raw` is the JSON object exactly as received, for storage and debugging; it takes no
part in equality or repr.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

# Interval `type` values.
ACTUAL_INTERVAL = "ActualInterval"
CURRENT_INTERVAL = "CurrentInterval"
FORECAST_INTERVAL = "ForecastInterval"
INTERVAL_TYPES = frozenset({ACTUAL_INTERVAL, CURRENT_INTERVAL, FORECAST_INTERVAL})
USAGE_TYPE = "Usage"
RENEWABLE_TYPES = frozenset({"ActualRenewable", "CurrentRenewable", "ForecastRenewable"})

# channelType / Channel.type
GENERAL = "general"
CONTROLLED_LOAD = "controlledLoad"
FEED_IN = "feedIn"
CHANNEL_TYPES = frozenset({GENERAL, CONTROLLED_LOAD, FEED_IN})

# Price descriptor ("negative" is retired by Amber in favour of "extremelyLow" but may appear in history).
PRICE_DESCRIPTORS = frozenset({"negative", "extremelyLow", "veryLow", "low", "neutral", "high", "spike"})
SPIKE_STATUSES = frozenset({"none", "potential", "spike"})
RENEWABLE_DESCRIPTORS = frozenset({"best", "great", "ok", "notGreat", "worst"})
USAGE_QUALITIES = frozenset({"estimated", "billable"})
TARIFF_PERIODS = frozenset({"offPeak", "shoulder", "solarSponge", "peak"})
TARIFF_SEASONS = frozenset(
    {"default", "summer", "autumn", "winter", "spring", "nonSummer", "holiday", "weekend", "weekendHoliday", "weekday"}
)
SITE_STATUSES = frozenset({"pending", "active", "closed"})

# Query-side limits (checked by the client before sending).
RESOLUTIONS = frozenset({5, 30})
DEFAULT_INTERVAL_MINUTES = 30  # a site's interval length when Amber does not say, and the API's default resolution
STATES = frozenset({"nsw", "vic", "qld", "sa"})


@dataclass(frozen=True, slots=True)
class TariffInformation:
    """Only the parts that apply to the site's tariff are present; the rest are None."""

    period: str | None
    season: str | None
    block: float | None
    demand_window: bool | None


@dataclass(frozen=True, slots=True)
class Range:
    """Possible spot price band (c/kWh) when prices are volatile."""

    min: float
    max: float


@dataclass(frozen=True, slots=True)
class AdvancedPrice:
    """Amber's own forecast band (c/kWh, includes network and market fees)."""

    low: float
    predicted: float
    high: float


@dataclass(frozen=True, slots=True)
class Channel:
    identifier: str  # meter channel, e.g. "E1", "B1"
    type: str
    tariff: str | None  # network tariff code


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    nmi: str
    channels: tuple[Channel, ...]
    network: str
    status: str
    active_from: dt.date | None
    closed_on: dt.date | None
    interval_length: int | None  # minutes (5 or 30); absent on older API responses
    raw: dict = field(compare=False, repr=False)

    @property
    def interval_minutes(self) -> int:
        """The site's interval length in minutes: `interval_length` when it is one Amber serves (5 or
        30), else Amber's default, 30 (absent on older API responses; an unknown value is kept in
        `interval_length` and `raw` but never asked for)."""
        return self.interval_length if self.interval_length in RESOLUTIONS else DEFAULT_INTERVAL_MINUTES

    def supplied(self, first: dt.date, last: dt.date) -> tuple[dt.date, dt.date] | None:
        """The part of the dates first..last (inclusive) within the site's supply period, activeFrom to
        closedOn (its last day of supply), both included; None when they do not meet, or when supply
        has not begun (pending, or no activeFrom): there is no usage, and no price of its own, outside it."""
        if self.status == "pending" or self.active_from is None:
            return None
        first = max(first, self.active_from)
        if self.closed_on is not None:
            last = min(last, self.closed_on)
        return (first, last) if first <= last else None

    def is_live(self, today: dt.date) -> bool:
        """Whether Amber supplies the site on NEM date `today`, so that its current price is the one it
        pays: polled live by the loader and the exporter alike.

        Live: status "active", supply started (activeFrom on or before today) and not ended (closedOn,
        the last day of supply, not before today: a site closing later today is still live today).
        Not live: "pending" (the transfer has not happened: its prices are not the site's yet, whatever
        /prices answers), activeFrom missing or still ahead, "closed", closedOn passed. A status Amber
        adds later counts as live only within activeFrom..closedOn, like "active"."""
        if self.status in ("pending", "closed"):
            return False
        if self.active_from is None or self.active_from > today:
            return False
        return self.closed_on is None or self.closed_on >= today


@dataclass(frozen=True, slots=True)
class PriceInterval:
    """One priced interval on one channel. `interval_type` is the API's `type` (Actual/Current/Forecast,
    or an unknown value kept as-is), so the loader can write all kinds to one table."""

    interval_type: str
    duration: int
    spot_per_kwh: float
    per_kwh: float  # c/kWh incl. GST; on feedIn a negative value means the user is paid
    date: dt.date  # NEM trading date, may differ from the calendar date of nem_time
    nem_time: dt.datetime
    start_time: dt.datetime
    end_time: dt.datetime
    renewables: float  # percent
    channel_type: str
    spike_status: str
    descriptor: str
    tariff_information: TariffInformation | None
    estimate: bool | None  # CurrentInterval only
    range: Range | None
    advanced_price: AdvancedPrice | None
    raw: dict = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Usage:
    """Metered energy on one channel for one interval, with the price it was billed at."""

    channel_identifier: str
    kwh: float  # generated energy may be negative
    quality: str
    cost: float  # cents incl. GST
    duration: int
    spot_per_kwh: float
    per_kwh: float
    date: dt.date
    nem_time: dt.datetime
    start_time: dt.datetime
    end_time: dt.datetime
    renewables: float
    channel_type: str
    spike_status: str
    descriptor: str
    tariff_information: TariffInformation | None
    raw: dict = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Renewable:
    """Grid renewables share for a state (ActualRenewable/CurrentRenewable/ForecastRenewable)."""

    interval_type: str
    duration: int
    date: dt.date
    nem_time: dt.datetime
    start_time: dt.datetime
    end_time: dt.datetime
    renewables: float  # percent
    descriptor: str
    raw: dict = field(compare=False, repr=False)
