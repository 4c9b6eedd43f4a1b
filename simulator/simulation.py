"""The simulated account: sites, clock, market, meters, limits and faults, without any HTTP.

Both the HTTP API (`simulator.api`) and the ground truth (`simulator.truth`) build their objects with
the record methods here, so what a client is served and what a test compares against cannot drift.
Tests change the world through `script_spike`, `close_site` and `add_channel`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable

from simulator import render, seeded
from simulator.clock import SimClock
from simulator.config import SimulatorConfig
from simulator.faults import FaultInjector
from simulator.market import Market
from simulator.meter import Meter
from simulator.nemtime import DAY_S, nem_date, nem_midnight, to_epoch
from simulator.pricing import PriceBook
from simulator.ratelimit import RateLimiter
from simulator.site import DEFAULT_TARIFF_CODES, ChannelSpec, ScriptedSpike, SiteSpec, build_sites
from simulator.stats import Stats
from simulator.tariff import CHANNEL_ORDER, channel_sort_key
from simulator.truth import Truth


class Simulation:
    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        clock: SimClock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config = (config or SimulatorConfig()).validate()
        self.clock = clock or SimClock(config.start, config.speed, monotonic=monotonic)
        self.market = Market(config.seed, config.spike_probability)
        self.book = PriceBook(
            self.market,
            estimate_seconds=config.estimate_seconds,
            revision_rate=config.revision_rate,
            revision_seconds=config.revision_seconds,
        )
        self.meter = Meter(config.seed)
        self.faults = FaultInjector(
            config.seed,
            error_rate=config.fault_5xx_rate,
            latency_ms=config.fault_latency_ms,
            truncate_rate=config.fault_truncate_rate,
        )
        self.limiter = RateLimiter(
            config.rate_limit, config.rate_window_seconds, lockout=config.rate_lockout, monotonic=monotonic
        )
        self.stats = Stats()
        self.truth = Truth(self)
        self._lock = threading.Lock()
        sites = build_sites(
            config.seed,
            config.sites,
            today=self.today(),
            interval_length=config.resolution,
            history_days=config.history_days,
            controlled_load=config.controlled_load,
            closed=config.closed_sites,
        )
        self._sites: dict[str, SiteSpec] = {s.id: s for s in sites}

    # -- time ---------------------------------------------------------------------------------------

    def today(self, now: float | None = None) -> dt.date:
        """The NEM date of simulated now."""
        return nem_date(int(self.clock.timestamp() if now is None else now))

    # -- sites --------------------------------------------------------------------------------------

    @property
    def site_ids(self) -> list[str]:
        with self._lock:
            return list(self._sites)

    def sites(self) -> list[SiteSpec]:
        with self._lock:
            return list(self._sites.values())

    def site(self, site_id: str) -> SiteSpec | None:
        with self._lock:
            return self._sites.get(site_id)

    def _replace(self, site_id: str, change: Callable[[SiteSpec], SiteSpec]) -> SiteSpec:
        with self._lock:
            if site_id not in self._sites:
                raise KeyError(f"unknown site {site_id!r}")
            self._sites[site_id] = updated = change(self._sites[site_id])
            return updated

    def script_spike(
        self, site_id: str, start: dt.datetime, end: dt.datetime, spot_per_kwh: float = 300.0
    ) -> SiteSpec:
        """Force a price spike on one site for every 5-minute interval overlapping [start, end): spot
        `spot_per_kwh` c/kWh (general perKwh in the hundreds), spikeStatus and descriptor `spike`, and
        `potential` for the 30 minutes before. Applies to actual, current and forecast intervals alike,
        and to the ground truth."""
        first, last = to_epoch(start), to_epoch(end)
        if last <= first:
            raise ValueError("end must be after start")
        spike = ScriptedSpike(int(first), int(-(-last // 1)), float(spot_per_kwh))
        return self._replace(site_id, lambda s: _with(s, spikes=(*s.spikes, spike)))

    def close_site(self, site_id: str, closed_on: dt.date) -> SiteSpec:
        """Close the site on `closed_on` (NEM date): from that date `/sites` shows status "closed" and
        `closedOn`, and usage stops after it. Prices stay available, as market data does."""
        return self._replace(site_id, lambda s: _with(s, closed_on=closed_on))

    def add_channel(
        self,
        site_id: str,
        identifier: str,
        channel_type: str,
        from_date: dt.date,
        tariff: str | None = None,
    ) -> SiteSpec:
        """Add a meter channel that exists from `from_date` (NEM): prices and usage for that channel
        appear only for intervals on or after it, and `/sites` lists it once today reaches it."""
        if channel_type not in CHANNEL_ORDER:
            raise ValueError(f"unknown channel type {channel_type!r}")
        channel = ChannelSpec(identifier, channel_type, tariff or DEFAULT_TARIFF_CODES[channel_type], from_date)

        def change(site: SiteSpec) -> SiteSpec:
            if any(c.identifier == identifier for c in site.channels):
                raise ValueError(f"site {site_id} already has channel {identifier}")
            return _with(site, channels=(*site.channels, channel))

        return self._replace(site_id, change)

    # -- records (shared by the API and the truth) --------------------------------------------------

    def forecast_end(self, now: float) -> float:
        return now + self.config.forecast_hours * 3600

    def price_records(
        self,
        site: SiteSpec,
        starts: Iterable[int],
        minutes: int,
        now: float,
        *,
        final: bool = False,
        channel_type: str | None = None,
    ) -> list[dict]:
        """Price intervals for each start, grouped by channel in Amber's order; a channel appears only
        on dates it exists. Forecasts stop at the forecast horizon. `final=True`: settled values."""
        horizon = self.forecast_end(now)
        views = [
            self.book.view(site.region, s, minutes, now, spikes=site.spikes, final=final)
            for s in starts
            if final or s < horizon
        ]
        records = []
        for channel in _channels(site, channel_type=channel_type):
            for view in views:
                if channel.exists_on(nem_date(view.start)):
                    price = self.book.channel(site, channel.type, view)
                    records.append(render.price_interval(view, channel.type, price))
        return records

    def usage_records(
        self,
        site: SiteSpec,
        first_day: dt.date,
        last_day: dt.date,
        minutes: int,
        now: float,
        *,
        final: bool = False,
        channel_identifier: str | None = None,
    ) -> list[dict]:
        """Usage for whole NEM days, grouped by channel. Only days before today on which Amber supplied
        the site; yesterday's last share is 'estimated', older days 'billable'. `final=True` gives
        final energy values (estimated intervals may be served with an error, see the config)."""
        cfg = self.config
        today = self.today(now)
        yesterday = today - dt.timedelta(days=1)
        estimated_from = nem_midnight(yesterday) + round((1.0 - cfg.yesterday_estimated_fraction) * DAY_S)
        day, days = first_day, []
        while day <= last_day and day < today:
            if site.supplied_on(day):
                days.append(day)
            day += dt.timedelta(days=1)
        step = minutes * 60
        views = [
            self.book.view(site.region, s, minutes, now, spikes=site.spikes, final=True)
            for d in days
            for s in range(nem_midnight(d), nem_midnight(d) + DAY_S, step)
        ]
        records = []
        for channel in _channels(site, identifier=channel_identifier):
            for view in views:
                if not channel.exists_on(nem_date(view.start)):
                    continue
                quality = "estimated" if view.start >= estimated_from else "billable"
                kwh = self.meter.kwh(site, channel.type, view.start, minutes)
                if quality == "estimated" and not final and cfg.usage_estimate_error > 0:
                    error = seeded.normal(cfg.seed, "usage-estimate", site.id, channel.identifier, view.start)
                    kwh = round(kwh * (1.0 + cfg.usage_estimate_error * error), 4) + 0.0
                price = self.book.channel(site, channel.type, view)
                records.append(render.usage(view, channel.type, channel.identifier, price, kwh, quality))
        return records

    def renewable_records(self, region: str, starts: Iterable[int], minutes: int, now: float) -> list[dict]:
        horizon = self.forecast_end(now)
        records = []
        for s in starts:
            if s >= horizon:
                break
            view = self.book.view(region, s, minutes, now)
            records.append(render.renewable(view.kind.replace("Interval", "Renewable"), s, minutes, view.renewables))
        return records

    def around_now(self, now: float, minutes: int, previous: int, following: int) -> list[int]:
        """Starts of `previous` intervals before the current one, the current one, and `following`
        after it (as far as the forecast horizon reaches)."""
        step = minutes * 60
        current = int(now // step) * step
        horizon = self.forecast_end(now)
        starts = [current + k * step for k in range(-previous, 1)]
        starts += [s for s in (current + k * step for k in range(1, following + 1)) if s < horizon]
        return starts


def _with(site: SiteSpec, **changes) -> SiteSpec:
    return dataclasses.replace(site, **changes)


def _channels(site: SiteSpec, *, channel_type: str | None = None, identifier: str | None = None) -> list[ChannelSpec]:
    chosen = [
        c
        for c in site.channels
        if (channel_type is None or c.type == channel_type) and (identifier is None or c.identifier == identifier)
    ]
    return sorted(chosen, key=lambda c: (channel_sort_key(c.type), c.identifier))
