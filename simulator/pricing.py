"""What Amber shows for a site's interval at a given simulated time.

`PriceBook.view()` turns the market's 5-minute points into one interval of 5 or 30 minutes as seen
at `now`: its type (Actual before now, Current containing now, Forecast after now), averaged spot and
renewables (30-minute values are the mean of their six 5-minute values), the worst spike status, and
whether a Current interval is still an estimate. A site's scripted spikes are laid over the market
here. `PriceBook.channel()` then prices the view for one meter channel.

With `final=True` every 5-minute part takes its settled value regardless of `now`: that is the
ground truth, and what an ActualInterval shows once any revision window has passed.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator import seeded
from simulator.market import INTERVAL_S, SPIKE_LEAD_S, Market, RegionPoint, worse
from simulator.nemtime import floor
from simulator.site import ScriptedSpike, SiteSpec
from simulator.tariff import channel_price, descriptor, period_at

ACTUAL = "ActualInterval"
CURRENT = "CurrentInterval"
FORECAST = "ForecastInterval"


@dataclass(frozen=True, slots=True)
class RegionView:
    kind: str
    start: int
    minutes: int
    spot: float
    renewables: float
    spike: str
    estimate: bool  # Current intervals only: the price is not locked in yet
    advanced: tuple[float, float, float] | None  # spot-space band, Current and Forecast only


@dataclass(frozen=True, slots=True)
class ChannelPrice:
    per_kwh: float
    descriptor: str
    advanced: tuple[float, float, float] | None  # (low, predicted, high) c/kWh
    range: tuple[float, float] | None  # (min, max) c/kWh, only when volatile


def kind_at(start: int, minutes: int, now: float) -> str:
    if start + minutes * 60 <= now:
        return ACTUAL
    if start <= now:
        return CURRENT
    return FORECAST


class PriceBook:
    def __init__(
        self,
        market: Market,
        *,
        estimate_seconds: float,
        revision_rate: float = 0.0,
        revision_seconds: float = 600.0,
    ) -> None:
        self.market = market
        self.estimate_seconds = estimate_seconds
        self.revision_rate = revision_rate
        self.revision_seconds = revision_seconds

    def _part(
        self, region: str, spikes: tuple[ScriptedSpike, ...], t: int, now: float | None
    ) -> tuple[RegionPoint, bool]:
        """One 5-minute part as seen at `now` (None: final), and whether its value is settled."""
        market = self.market
        if now is None:
            point, settled = market.final(region, t), True
        elif t + INTERVAL_S <= now:
            revising = (
                self.revision_rate > 0
                and now < t + INTERVAL_S + self.revision_seconds
                and seeded.unit(market.seed, "revised", region, t) < self.revision_rate
            )
            point, settled = (market.revised(region, t) if revising else market.final(region, t)), True
        elif t <= now:
            settled = now - t >= self.estimate_seconds
            point = market.final(region, t) if settled else market.estimate(region, t)
        else:
            point, settled = market.forecast(region, t, floor(now, INTERVAL_S)), False
        for spike in spikes:
            if t < spike.end and t + INTERVAL_S > spike.start:
                band = (spike.spot, spike.spot, spike.spot) if point.advanced else None
                point = RegionPoint(spike.spot, point.renewables, "spike", band)
                break
            if spike.start - SPIKE_LEAD_S <= t < spike.start:
                point = RegionPoint(point.spot, point.renewables, worse(point.spike, "potential"), point.advanced)
        return point, settled

    def view(
        self,
        region: str,
        start: int,
        minutes: int,
        now: float,
        *,
        spikes: tuple[ScriptedSpike, ...] = (),
        final: bool = False,
    ) -> RegionView:
        """The interval [start, start + minutes) in `region` as shown at `now`, with a site's scripted spikes."""
        kind = ACTUAL if final else kind_at(start, minutes, now)
        step = range(start, start + minutes * 60, INTERVAL_S)
        parts = [self._part(region, spikes, t, None if final else now) for t in step]
        n = len(parts)
        spot = sum(p.spot for p, _ in parts) / n
        renewables = sum(p.renewables for p, _ in parts) / n
        spike = "none"
        for p, _ in parts:
            spike = worse(spike, p.spike)
        settled = all(s for _, s in parts)
        advanced: tuple[float, float, float] | None = None
        if kind != ACTUAL:
            bands = []
            for p, s in parts:
                if p.advanced is not None:
                    bands.append(p.advanced)
                elif s:
                    bands.append((p.spot, p.spot, p.spot))
                else:
                    width = 0.5 + 0.05 * abs(p.spot)
                    bands.append((p.spot - width, p.spot, p.spot + 1.5 * width))
            low, predicted, high = (sum(b[i] for b in bands) / n for i in range(3))
            advanced = (low, predicted, high)
        return RegionView(kind, start, minutes, spot, renewables, spike, kind == CURRENT and not settled, advanced)

    @staticmethod
    def channel(site: SiteSpec, channel_type: str, view: RegionView) -> ChannelPrice:
        period = period_at(view.start)

        def price(spot: float) -> float:
            return channel_price(site.tariff, channel_type, spot, period)

        per_kwh = price(view.spot)
        advanced = rng = None
        if view.advanced is not None:
            low, predicted, high = view.advanced
            ends = sorted((price(low), price(high)))
            advanced = (ends[0], price(predicted), ends[1])
            if view.spike != "none":
                ends = sorted((price(min(low, view.spot) * 0.8 - 2.0), price(max(high, view.spot) * 1.5 + 5.0)))
                rng = (ends[0], ends[1])
        return ChannelPrice(per_kwh, descriptor(channel_type, per_kwh, view.spike), advanced, rng)
