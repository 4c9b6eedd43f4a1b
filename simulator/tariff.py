"""From a spot price to what an Amber customer pays on each meter channel, in c/kWh incl. GST.

- general:        spot x loss factor + network charge for the time-of-use period + market fees
- controlledLoad: the same with a lower, flat network charge, so it is always cheaper than general
- feedIn:         -(spot x loss factor): negative when the customer is paid for exporting (usual),
                  positive on negative-price middays when exporting costs money

Time-of-use periods by NEM hour: offPeak 22-07, shoulder 07-10 and 15-16 and 21-22, solarSponge
10-15, peak 16-21 (the demand window). Descriptors come from price bands, `spike` only when the
interval's spikeStatus is `spike`.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.nemtime import nem_date, nem_hour

GENERAL = "general"
CONTROLLED_LOAD = "controlledLoad"
FEED_IN = "feedIn"
CHANNEL_ORDER = {GENERAL: 0, CONTROLLED_LOAD: 1, FEED_IN: 2}  # Amber's return order

PERIOD_CHARGE = {"peak": 16.0, "shoulder": 8.0, "offPeak": 5.0, "solarSponge": 3.0}  # c/kWh
CONTROLLED_LOAD_CHARGE = 2.0  # c/kWh, below every period charge

_SEASONS = {12: "summer", 1: "summer", 2: "summer", 3: "autumn", 4: "autumn", 5: "autumn",
            6: "winter", 7: "winter", 8: "winter", 9: "spring", 10: "spring", 11: "spring"}  # fmt: skip

# (upper bound exclusive, descriptor) for the price a customer pays to import ...
_IMPORT_BANDS = ((0.0, "extremelyLow"), (10.0, "veryLow"), (20.0, "low"), (35.0, "neutral"))
# ... and for the rate a customer earns by exporting (-perKwh on feedIn).
_EXPORT_BANDS = ((0.0, "extremelyLow"), (4.0, "veryLow"), (8.0, "low"), (15.0, "neutral"))


@dataclass(frozen=True, slots=True)
class Tariff:
    """A site's retail parameters."""

    loss_factor: float = 1.05
    network_scale: float = 1.0
    fees: float = 3.0  # c/kWh market and environmental charges


def period_at(start: int) -> str:
    hour = nem_hour(start)
    if 16 <= hour < 21:
        return "peak"
    if 10 <= hour < 15:
        return "solarSponge"
    if hour >= 22 or hour < 7:
        return "offPeak"
    return "shoulder"


def season_at(start: int) -> str:
    return _SEASONS[nem_date(start).month]


def demand_window_at(start: int) -> bool:
    return 16 <= nem_hour(start) < 21


def tariff_information(start: int) -> dict:
    return {"period": period_at(start), "season": season_at(start), "demandWindow": demand_window_at(start)}


def channel_price(tariff: Tariff, channel_type: str, spot: float, period: str) -> float:
    energy = spot * tariff.loss_factor
    if channel_type == FEED_IN:
        return -energy
    if channel_type == CONTROLLED_LOAD:
        return energy + tariff.network_scale * CONTROLLED_LOAD_CHARGE + tariff.fees
    return energy + tariff.network_scale * PERIOD_CHARGE[period] + tariff.fees


def descriptor(channel_type: str, per_kwh: float, spike_status: str) -> str:
    if spike_status == "spike":
        return "spike"
    value, bands = (-per_kwh, _EXPORT_BANDS) if channel_type == FEED_IN else (per_kwh, _IMPORT_BANDS)
    for upper, name in bands:
        if value < upper:
            return name
    return "high"


def renewable_descriptor(percent: float) -> str:
    if percent >= 60:
        return "best"
    if percent >= 45:
        return "great"
    if percent >= 30:
        return "ok"
    if percent >= 15:
        return "notGreat"
    return "worst"


def channel_sort_key(channel_type: str) -> int:
    return CHANNEL_ORDER.get(channel_type, len(CHANNEL_ORDER))
