"""The wholesale market: regional spot price, renewables share and spike events.

Pure functions of (seed, region, 5-minute interval start). Amber-specific charges and channels are
applied on top by `simulator.tariff`; a site's scripted spikes by `simulator.pricing`.

Spot prices are in c/kWh (the API's unit). The daily shape: about 9 c overnight, a morning shoulder,
negative middays on sunny summer days (rooftop solar), and an evening peak near 27 c; a day-level
factor, hourly and per-interval noise; and on some days an evening spike event (tens of c/kWh up to
about $12/kWh) preceded by 30 minutes of `potential`.

Four views of one interval exist:
- `final`: the settled value, which is the ground truth;
- `estimate`: what the current interval shows before its price is locked in;
- `revised`: a preliminary value an actual interval may show briefly before it settles;
- `forecast(issued)`: what a forecast issued at `issued` says, noisier further out.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from simulator import seeded
from simulator.nemtime import NEM_OFFSET_S, nem_hour
from simulator.weather import nem_day, sun

INTERVAL_S = 300
SPIKE_LEAD_S = 1800  # `potential` shows this long before a spike event
SPIKE_STATUS_RANK = {"none": 0, "potential": 1, "spike": 2}

# Per region: (price offset c/kWh, base renewables share 0..1)
_REGION_TRAITS = {"nsw": (0.5, 0.20), "vic": (1.0, 0.30), "qld": (-0.5, 0.22), "sa": (2.0, 0.45)}


@dataclass(frozen=True, slots=True)
class RegionPoint:
    spot: float  # c/kWh
    renewables: float  # percent
    spike: str  # none | potential | spike
    advanced: tuple[float, float, float] | None = None  # spot-space (low, predicted, high), forecasts only


@dataclass(frozen=True, slots=True)
class SpikeEvent:
    start: int
    end: int
    peak: float  # c/kWh


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-0.5 * ((hour - centre) / width) ** 2)


def worse(a: str, b: str) -> str:
    """The more severe of two spike statuses."""
    return a if SPIKE_STATUS_RANK[a] >= SPIKE_STATUS_RANK[b] else b


class Market:
    def __init__(self, seed: int, spike_probability: float = 0.15) -> None:
        self.seed = seed
        self.spike_probability = spike_probability
        self.final = functools.lru_cache(maxsize=1 << 17)(self._final)
        self.spike_event = functools.lru_cache(maxsize=1 << 12)(self._spike_event)

    # -- settled values ---------------------------------------------------------------------------

    def _spike_event(self, region: str, day: int) -> SpikeEvent | None:
        s = self.seed
        if seeded.unit(s, "spike-day", region, day) >= self.spike_probability:
            return None
        midnight = day * 86400 - NEM_OFFSET_S
        start = midnight + int(16.5 * 3600) + INTERVAL_S * int(seeded.unit(s, "spike-at", region, day) * 37)
        length = INTERVAL_S * (3 + int(seeded.unit(s, "spike-len", region, day) * 10))
        peak = 80.0 * math.exp(2.7 * seeded.unit(s, "spike-peak", region, day))
        return SpikeEvent(start, start + length, peak)

    def spike_at(self, region: str, start: int) -> tuple[str, SpikeEvent | None]:
        event = self.spike_event(region, nem_day(start))
        if event is None:
            return "none", None
        if event.start <= start < event.end:
            return "spike", event
        if event.start - SPIKE_LEAD_S <= start < event.start:
            return "potential", event
        return "none", event

    def base_spot(self, region: str, start: int) -> float:
        """Spot price without spike events, c/kWh."""
        s = self.seed
        hour = nem_hour(start + INTERVAL_S / 2)
        day = nem_day(start)
        level = min(max(1.0 + 0.3 * seeded.normal(s, "level", region, day), 0.5), 2.0)
        shape = 9.0 + 6.0 * _bump(hour, 7.5, 1.5) + 18.0 * _bump(hour, 18.5, 2.0)
        shape -= 17.0 * sun(s, region, start)
        offset = _REGION_TRAITS[region][0]
        noise = 2.0 * seeded.normal(s, "hourly", region, start // 3600) + 1.2 * seeded.normal(s, "spot", region, start)
        return shape * level + offset + noise

    def renewables(self, region: str, start: int) -> float:
        s = self.seed
        base = _REGION_TRAITS[region][1]
        wind = 0.1 * seeded.normal(s, "wind", region, nem_day(start)) + 0.04 * seeded.normal(
            s, "gust", region, start // 1800
        )
        share = base + 0.5 * sun(s, region, start) + wind
        return min(max(100.0 * share, 5.0), 98.0)

    def _final(self, region: str, start: int) -> RegionPoint:
        status, event = self.spike_at(region, start)
        spot = self.base_spot(region, start)
        if status == "spike" and event is not None:
            spot = max(spot, event.peak * (0.8 + 0.4 * seeded.unit(self.seed, "spike-var", region, start)))
        return RegionPoint(spot, self.renewables(region, start), status)

    # -- provisional values ------------------------------------------------------------------------

    def estimate(self, region: str, start: int) -> RegionPoint:
        """The current interval before its price is locked in: close to final, not equal."""
        final = self.final(region, start)
        wobble = seeded.normal(self.seed, "estimate", region, start)
        spot = final.spot * (1.0 + 0.05 * wobble) if final.spike == "spike" else final.spot + 0.8 * wobble
        renewables = min(max(final.renewables + 0.5 * wobble, 5.0), 98.0)
        return RegionPoint(spot, renewables, final.spike)

    def revised(self, region: str, start: int) -> RegionPoint:
        """A preliminary actual that will later settle to `final` (an estimate correction)."""
        final = self.final(region, start)
        delta = 1.5 * seeded.normal(self.seed, "revision", region, start)
        return RegionPoint(final.spot + delta, final.renewables, final.spike)

    def forecast(self, region: str, start: int, issued: int) -> RegionPoint:
        """The forecast for `start` as published at `issued` (a 5-minute boundary before `start`)."""
        s = self.seed
        horizon = max(start - issued, 0)
        reach = min(horizon / 86400.0, 1.0)
        sigma = 0.8 + 5.0 * reach
        base = self.base_spot(region, start)
        spot = base + sigma * seeded.normal(s, "forecast", region, start, issued)
        status, event = self.spike_at(region, start)
        shown = "none"
        if event is not None:
            if status == "spike" and horizon <= 3600:
                shown = "spike"
                spot = max(spot, event.peak * (0.7 + 0.6 * seeded.unit(s, "forecast-peak", region, start, issued)))
            elif horizon <= 4 * 3600 and status != "none":
                shown = "potential"
                spot += 0.25 * event.peak
        final = self.final(region, start)
        renewables = final.renewables + (1.0 + 6.0 * reach) * seeded.normal(s, "forecast-ren", region, start, issued)
        renewables = min(max(renewables, 5.0), 98.0)
        # Amber's own prediction leans towards where the price settles, with a band that widens with reach.
        predicted = 0.5 * (spot + base)
        band = 1.0 + 0.1 * abs(predicted) + 4.0 * reach
        return RegionPoint(spot, renewables, shown, (predicted - band, predicted, predicted + 1.5 * band))
