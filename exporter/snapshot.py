"""The exporter's cache: an immutable `Snapshot` of what the poll loop last learned, swapped atomically.

The poll loop (exporter/poller.py) is the only writer; scrapes, the landing page and /healthz only read.
A reader calls `store.get()` once and works on that object, so it never sees half an update and never
waits for the poll loop. Values keep the API's units (c/kWh, percent, cents); the collector converts.

The builders here are pure (API models in, snapshot parts out): `channel_views` picks each channel's
current interval and derives the forecast headline at poll time, so a scrape only formats numbers.
`state_for_site` maps a site to its NEM state for the renewables endpoint. `load_plans` finds each
configured load's cheapest window in a /prices/current answer (amber/advisor.py), once per poll.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from amber.advisor import Load, Slot, Window, cheapest_window
from amber.models import ACTUAL_INTERVAL, CURRENT_INTERVAL, FORECAST_INTERVAL, PriceInterval, Renewable, Site
from amber.nemtime import aligned_start

# Forecast headline horizons, measured from the end of the current interval.
HORIZONS: tuple[tuple[str, int], ...] = (("1h", 3600), ("4h", 4 * 3600), ("12h", 12 * 3600))
NEXT_SPIKE_STATUSES = ("potential", "spike")

_EMPTY: Mapping = MappingProxyType({})


# --- site -> state ---------------------------------------------------------------------------------

# Distribution network (Amber's `network`, normalised: lower case, letters and digits only) -> NEM state.
# The ACT (Evoenergy) lies in the NSW region. Tasmania has a state but Amber publishes no renewables for it.
NETWORK_STATES: Mapping[str, str] = MappingProxyType({
    "ausgrid": "nsw", "endeavour": "nsw", "endeavourenergy": "nsw", "essential": "nsw",
    "essentialenergy": "nsw", "evoenergy": "nsw", "actewagl": "nsw",
    "energex": "qld", "ergon": "qld", "ergonenergy": "qld",
    "jemena": "vic", "citipower": "vic", "powercor": "vic", "ausnet": "vic", "ausnetservices": "vic",
    "unitedenergy": "vic",
    "sapowernetworks": "sa", "sapn": "sa",
    "tasnetworks": "tas",
})  # fmt: skip
# Fallback: the first character of the NMI (AEMO allocates NMI ranges per jurisdiction).
NMI_PREFIX_STATES: Mapping[str, str] = MappingProxyType({
    "4": "nsw", "N": "nsw", "7": "nsw",  # 7xxx: ACT
    "6": "vic", "V": "vic",
    "3": "qld", "Q": "qld",
    "2": "sa", "S": "sa",
    "8": "tas", "T": "tas",
})  # fmt: skip


def state_for_site(network: str | None, nmi: str | None) -> str | None:
    """NEM state (nsw, vic, qld, sa, tas) of a site from its network, else its NMI; None if unknown."""
    key = re.sub(r"[^a-z0-9]", "", (network or "").lower())
    if key in NETWORK_STATES:
        return NETWORK_STATES[key]
    first_word = re.sub(r"[^a-z0-9]", "", (network or "").lower().split(" ")[0]) if network else ""
    if first_word in NETWORK_STATES:
        return NETWORK_STATES[first_word]
    return NMI_PREFIX_STATES.get((nmi or "")[:1].upper())


# --- snapshot parts --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SiteEntry:
    """A site as /sites last described it, with what the poll loop derived from it."""

    site: Site
    state: str | None  # NEM state, None when neither network nor NMI says
    resolution: int  # minutes: Site.interval_minutes
    polled: bool  # Site.is_live today and in AMBER_SITE_ID (if set)


@dataclass(frozen=True, slots=True)
class ChannelView:
    """One channel's current interval and the headline of its forecast (c/kWh, Unix seconds)."""

    channel: str
    current: PriceInterval
    previous: PriceInterval | None  # the last ActualInterval, if the API sent one
    forecast_max: tuple[tuple[str, float], ...]  # (horizon, c/kWh), only horizons with forecasts
    forecast_mean: tuple[tuple[str, float], ...]
    next_spike: tuple[tuple[str, float], ...]  # (spike status, interval start), only those forecast
    forecast: tuple[PriceInterval, ...] = ()  # the ForecastIntervals after `current`, in time order (MQTT)


@dataclass(frozen=True, slots=True)
class SitePrices:
    channels: tuple[ChannelView, ...]
    fetched_at: float  # Unix seconds of the successful poll
    plans: tuple[Window, ...] = ()  # each AMBER_LOADS load's cheapest window in this answer, if one fits


@dataclass(frozen=True, slots=True)
class GridRenewables:
    state: str
    current: Renewable
    fetched_at: float


@dataclass(frozen=True, slots=True)
class JobStatus:
    """One TimescaleDB background job as exporter.jobs judged it when the database was read."""

    policy: str  # refresh, compression, retention, job_history, ...
    relation: str  # the aggregate or hypertable; '' for TimescaleDB's own jobs
    ok: bool  # exporter.jobs.judge did not fail it
    last_work_done: float | None  # Unix seconds
    failures: int  # runs TimescaleDB counted as failed, ever
    known_failure: bool  # the last run ended with a known, harmless error (portal, apache_license)


@dataclass(frozen=True, slots=True)
class DatabaseFacts:
    """What the loader has stored, read by exporter/db_metrics.py. Timestamps in Unix seconds; cents."""

    newest_actual_price_end: Mapping[str, float]
    newest_usage_end: Mapping[str, float]
    cost_yesterday_cents: Mapping[str, float]
    cost_month_to_date_cents: Mapping[str, float]
    fetched_at: float
    jobs: tuple[JobStatus, ...] = ()
    backfill: Mapping[str, BackfillStatus] = field(default_factory=lambda: _EMPTY)  # site id -> progress


@dataclass(frozen=True, slots=True)
class BackfillStatus:
    """One site's row of backfill_status (sql/012): days of history stored and still to fetch."""

    done_days: int
    remaining_days: int
    eta_seconds: float | None  # as of updated_at
    updated_at: float  # Unix seconds


@dataclass(frozen=True, slots=True)
class Snapshot:
    sites: tuple[SiteEntry, ...] = ()
    prices: Mapping[str, SitePrices] = field(default_factory=lambda: _EMPTY)  # site id -> last successful poll
    renewables: Mapping[str, GridRenewables] = field(default_factory=lambda: _EMPTY)  # state -> last successful poll
    database: DatabaseFacts | None = None
    up: bool = False  # the last price poll succeeded for every polled site
    last_poll: float | None = None  # Unix seconds of the last attempt
    last_success: float | None = None  # Unix seconds of the last fully successful price poll
    last_error: str | None = None  # one line, no secrets (AmberError messages are redacted)
    consecutive_failures: int = 0


def frozen_map(items: Mapping | Iterable[tuple]) -> Mapping:
    return MappingProxyType(dict(items))


# --- pure builders ---------------------------------------------------------------------------------


def price_for_forecast(interval: PriceInterval) -> float:
    """The price a forecast headline uses: Amber's advanced predicted price when given, else perKwh."""
    return interval.advanced_price.predicted if interval.advanced_price is not None else interval.per_kwh


def start_timestamp(interval: PriceInterval) -> float:
    """Unix seconds of the interval's grid start (amber.nemtime.aligned_start)."""
    return aligned_start(interval.start_time).timestamp()


def channel_views(intervals: Iterable[PriceInterval]) -> tuple[ChannelView, ...]:
    """Group one /prices/current answer by channel; channels without a CurrentInterval are left out."""
    by_channel: dict[str, list[PriceInterval]] = {}
    for interval in intervals:
        by_channel.setdefault(interval.channel_type, []).append(interval)
    views = []
    for channel in sorted(by_channel):
        items = sorted(by_channel[channel], key=lambda i: i.end_time)
        current = next((i for i in items if i.interval_type == CURRENT_INTERVAL), None)
        if current is None:
            continue
        actuals = [i for i in items if i.interval_type == ACTUAL_INTERVAL and i.end_time <= current.end_time]
        forecasts = [i for i in items if i.interval_type == FORECAST_INTERVAL and i.end_time > current.end_time]
        anchor = current.end_time.timestamp()
        maxima, means = [], []
        for name, seconds in HORIZONS:
            prices = [price_for_forecast(i) for i in forecasts if i.end_time.timestamp() <= anchor + seconds]
            if prices:
                maxima.append((name, max(prices)))
                means.append((name, sum(prices) / len(prices)))
        spikes = []
        for status in NEXT_SPIKE_STATUSES:
            first = next((i for i in forecasts if i.spike_status == status), None)
            if first is not None:
                spikes.append((status, start_timestamp(first)))
        views.append(
            ChannelView(channel, current, actuals[-1] if actuals else None, tuple(maxima), tuple(means), tuple(spikes),
                        tuple(forecasts))  # fmt: skip
        )
    return tuple(views)


def fresh(fetched_at: float, now: float, stale_after: float) -> bool:
    """Whether a value polled at `fetched_at` may still be served at `now` (EXPORTER_STALE_SECONDS)."""
    return now - fetched_at <= stale_after
def load_plans(intervals: Iterable[PriceInterval], loads: Iterable[Load], now: float, zone) -> tuple[Window, ...]:
    """Each load's cheapest window over the current interval (priced at its perKwh: what running now costs)
    and the forecasts (advanced predicted price, else perKwh, as the headline). Floats from the parser are
    turned back into the API's short decimals (repr), so the search is exact."""
    by_channel: dict[str, list[Slot]] = {}
    for i in intervals:
        if i.interval_type not in (CURRENT_INTERVAL, FORECAST_INTERVAL):
            continue
        adv = i.advanced_price
        price = i.per_kwh if i.interval_type == CURRENT_INTERVAL else price_for_forecast(i)
        start = dt.datetime.fromtimestamp(start_timestamp(i), dt.UTC)
        by_channel.setdefault(i.channel_type, []).append(Slot(
            start, i.end_time, _exact(price), _exact(adv.low) if adv else None, _exact(adv.high) if adv else None,
        ))  # fmt: skip
    at = dt.datetime.fromtimestamp(now, dt.UTC)
    plans = (cheapest_window(by_channel.get(load.channel, ()), load, now=at, zone=zone) for load in loads)
    return tuple(p for p in plans if p is not None)


def _exact(value: float) -> Decimal:
    return Decimal(repr(value))


def current_renewable(items: Iterable[Renewable]) -> Renewable | None:
    return next((r for r in items if r.interval_type == "CurrentRenewable"), None)


# --- the store -------------------------------------------------------------------------------------


class SnapshotStore:
    """Holds the current Snapshot. `get()` never blocks; `update()` serialises writers and then tells
    each subscriber (`subscribe(listener)`) in the writer's thread, so a listener must not block: the MQTT
    publisher's only sets an event and reads the store from its own thread."""

    def __init__(self, initial: Snapshot | None = None) -> None:
        self._snapshot = initial if initial is not None else Snapshot()
        self._lock = threading.Lock()
        self._listeners: tuple[Callable[[Snapshot], None], ...] = ()

    def get(self) -> Snapshot:
        return self._snapshot  # one reference read: atomic

    def subscribe(self, listener: Callable[[Snapshot], None]) -> None:
        with self._lock:
            self._listeners = (*self._listeners, listener)

    def update(self, change: Callable[[Snapshot], Snapshot]) -> Snapshot:
        with self._lock:
            self._snapshot = snapshot = change(self._snapshot)
            listeners = self._listeners
        for listener in listeners:
            listener(snapshot)
        return snapshot
