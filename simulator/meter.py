"""The household behind each site's meter: energy per channel per 5 minutes, in kWh.

Load has a base, a morning and an evening bump and seeded appliance noise; rooftop solar follows the
same sunshine as the market (`simulator.weather`). The general channel (E1) records net import, the
feed-in channel (B1) net export as a NEGATIVE number (Amber: "generated numbers will be negative"),
and the controlled-load channel (E2) a hot-water block in the solar-sponge hours. Values are final:
pure functions of (seed, site, channel type, interval start). 30-minute values are sums of the
six rounded 5-minute values.
"""

from __future__ import annotations

import functools
import math

from simulator import seeded
from simulator.market import INTERVAL_S
from simulator.nemtime import nem_hour
from simulator.site import Household, SiteSpec
from simulator.tariff import CONTROLLED_LOAD, FEED_IN
from simulator.weather import nem_day, sun

_HOURS_PER_INTERVAL = INTERVAL_S / 3600.0


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-0.5 * ((hour - centre) / width) ** 2)


class Meter:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._flows = functools.lru_cache(maxsize=1 << 16)(self._flows_uncached)

    def _flows_uncached(self, site_id: str, region: str, h: Household, start: int) -> tuple[float, float, float]:
        """(import, export, controlled load) kWh for one 5-minute interval, rounded to 4 decimals."""
        s = self.seed
        hour = nem_hour(start + INTERVAL_S / 2)
        load = h.base_kw + h.morning_kw * _bump(hour, 7.5, 1.0) + h.evening_kw * _bump(hour, 19.0, 1.8)
        load += 0.3 * abs(seeded.normal(s, "appliance", site_id, start))
        if seeded.unit(s, "kettle", site_id, start) < 0.03:
            load += 2.0
        solar = h.solar_kw * sun(s, region, start)
        net = load - solar
        imported = round(max(net, 0.0) * _HOURS_PER_INTERVAL, 4)
        exported = round(max(-net, 0.0) * _HOURS_PER_INTERVAL, 4)
        run_hours = 1.0 + 1.5 * seeded.unit(s, "hot-water", site_id, nem_day(start))
        on = h.controlled_load_start_hour <= hour < h.controlled_load_start_hour + run_hours
        controlled = round(h.controlled_load_kw * _HOURS_PER_INTERVAL, 4) if on else 0.0
        return imported, exported, controlled

    def kwh(self, site: SiteSpec, channel_type: str, start: int, minutes: int) -> float:
        """Energy on a channel over [start, start + minutes): positive import, negative export."""
        index = 1 if channel_type == FEED_IN else 2 if channel_type == CONTROLLED_LOAD else 0
        total = 0.0
        for t in range(start, start + minutes * 60, INTERVAL_S):
            total += self._flows(site.id, site.region, site.household, t)[index]
        total = round(total, 4)
        return (-total if index == 1 else total) + 0.0  # + 0.0 turns -0.0 into 0.0
